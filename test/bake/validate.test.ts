/** Step 1, validate (src/bake/validate.ts): the typed plan, and bad input refused before any request. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../src/bake/validate.js';
import { InputError, UsageError } from '../../src/errors.js';
import { quietReporter } from '../../src/util/report.js';
import { stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

describe('validate', () => {
  it('turns the options into a plan once: sysexts, install target, release, vendors, OEM map, backend', async () => {
    const local = fx.served.release.sysexts[0]!;
    const oemFile = path.join(fx.scratch, 'oem-azure.raw');
    await writeFile(oemFile, 'not read by validate');
    const plan = await validate(
      fx.options({ fetch: false, sysexts: [`hello:${local.file}`], installTo: 'oem:/sysexts/', release: '4459.2.1', vendors: ['generic', 'qemu_uefi'], oemSysexts: [oemFile] }),
      quietReporter,
    );
    expect(plan.sysexts).toEqual([{ name: 'hello', file: local.file }]);
    expect(plan.local.files.map((f) => [f.name, f.sha256, f.size])).toEqual([['hello', local.sha256, local.size]]);
    expect(plan.target).toEqual({ partition: 'oem', dir: '/sysexts', bootedDir: '/oem/sysexts' });
    expect(plan.release).toEqual({ kind: 'version', version: '4459.2.1', channel: 'stable' });
    expect(plan.vendors).toEqual(['generic', 'qemu_uefi']);
    expect(plan.selection.generic).toBe(true);
    expect([...plan.oemSysexts]).toEqual([['azure', oemFile]]);
    expect(plan.backend.name).toBe('offline');
  });

  it('refuses bad input before any request reaches the server', async () => {
    const before = fx.served.server.requests.length;
    await expect(validate(fx.options({ sysexts: ['../x:file.raw'] }), quietReporter)).rejects.toThrow(UsageError);
    await expect(validate(fx.options({ installTo: 'usr:/x' }), quietReporter)).rejects.toThrow(/unsupported partition 'usr'/);
    await expect(validate(fx.options({ oemSysexts: ['/tmp/azure.raw'] }), quietReporter)).rejects.toThrow(/must be oem-<id>\.raw/);
    const notDir = path.join(fx.scratch, 'a-file');
    await writeFile(notDir, '');
    await expect(validate(fx.options({ output: notDir }), quietReporter)).rejects.toThrow(InputError);
    expect(fx.served.server.requests.length).toBe(before);
  });
});
