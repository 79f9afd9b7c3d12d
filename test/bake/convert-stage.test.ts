/**
 * Step 7, convert (src/bake/convert-stage.ts): qemu_uefi from the baked image with the offline
 * backend, its OEM sysext fetched and signature-checked from beside the image; read back with
 * qemu-img.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../../src/bake/convert-stage.js';
import { inject } from '../../src/bake/inject-stage.js';
import { stagedRun, stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture({ oemIds: ['qemu'] });
});
afterAll(() => fx?.close());

describe('convert', () => {
  it('writes qemu_uefi as a qcow2 that qemu-img checks clean, with the OEM sysext fetched once', async () => {
    const run = await stagedRun(fx, { vendors: ['qemu_uefi'] });
    try {
      const injected = await inject(run.ctx, run.plan, run.fetched, run.staged);
      const results = await convert(run.ctx, run.plan, run.fetched, run.staged, injected);
      expect(results.map((r) => [r.vendor, r.ok, r.error?.message])).toEqual([['qemu_uefi', true, undefined]]);
      const disk = results[0]!.outputs.find((o) => o.file === 'flatcar_production_qemu_uefi_image.img')!;
      const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', disk.workFile])).stdout) as { format: string };
      expect(info.format).toBe('qcow2');
      await execa('qemu-img', ['check', disk.workFile]);
      expect((await execa('sha256sum', [disk.workFile])).stdout.split(' ')[0]).toBe(disk.sha256);
      const oemFetches = fx.served.server.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/oem-qemu.raw'));
      expect(oemFetches.length).toBe(1);
      // What the manifest's oemSysexts will say (publish-stage): where it came from, its digest.
      const qemu = fx.served.release.oemSysexts.find((o) => o.id === 'qemu')!;
      expect(run.fetched.oem.records()).toEqual([{ id: 'qemu', source: `${fx.served.server.url}${oemFetches[0]!.path}`, sha256: qemu.sha256, size: qemu.size }]);
    } finally {
      await run.release();
    }
  });
});
