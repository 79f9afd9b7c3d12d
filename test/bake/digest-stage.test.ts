/**
 * Step 8, digest (src/bake/digest-stage.ts): the chunked SHA-256 of the baked image, the
 * untouched pieces taken from the base, equals what coreutils computes over the whole file.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/bake/digest-stage.js';
import { inject } from '../../src/bake/inject-stage.js';
import { coreutilsChunkedSha256 } from '../helpers/disk.js';
import { stagedRun, stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

describe('digest', () => {
  it('describes the generic image by the chunked SHA-256 coreutils computes, and with --full-digest by sha256', async () => {
    const run = await stagedRun(fx, { fullDigest: true });
    try {
      const injected = await inject(run.ctx, run.plan, run.fetched, run.staged);
      const outputs = await digest(run.ctx, run.fetched, run.staged, injected, []);
      expect(outputs.map((o) => [o.vendor, o.file, o.workFile, o.rootSize])).toEqual([['generic', 'flatcar_production_image.bin', run.staged.image, run.staged.root.sizeBytes]]);
      expect(outputs[0]!.chunkedSha256).toBe(await coreutilsChunkedSha256(run.staged.image));
      expect(outputs[0]!.sha256).toBe((await execa('sha256sum', [run.staged.image])).stdout.split(' ')[0]);
    } finally {
      await run.release();
    }
  });

  it('passes vendor files through with the digests and ROOT sizes their writer took', async () => {
    const run = await stagedRun(fx, { vendors: ['qemu_uefi'] });
    try {
      const vendor = { vendor: 'qemu_uefi', ok: true, outputs: [{ file: 'x.img', workFile: '/w/x.img', sha256: 'a'.repeat(64), size: 3, rootSize: 4096 }] };
      expect(await digest(run.ctx, run.fetched, run.staged, run.staged, [vendor])).toEqual([{ vendor: 'qemu_uefi', file: 'x.img', workFile: '/w/x.img', sha256: 'a'.repeat(64), size: 3, rootSize: 4096 }]);
    } finally {
      await run.release();
    }
  });
});
