/**
 * Step 9, publish (src/bake/publish-stage.ts): files renamed into --output, the manifest last and
 * valid against schemas/manifest.schema.json; a failed vendor fails the bake after the rest.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/bake/digest-stage.js';
import { inject } from '../../src/bake/inject-stage.js';
import { PartialBakeError, type Manifest } from '../../src/bake/manifest.js';
import { publishResults } from '../../src/bake/publish-stage.js';
import { LOCK_FILE, SCRATCH_PREFIXES } from '../../src/util/leftovers.js';
import { schemaErrors } from '../helpers/schemas.js';
import { stagedRun, stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

describe('publish', () => {
  it('renames the image into --output and writes a manifest that matches its schema; a failed vendor fails after that', async () => {
    const run = await stagedRun(fx, { vendors: ['generic', 'qemu_uefi'] });
    try {
      const injected = await inject(run.ctx, run.plan, run.fetched, run.staged);
      const failed = { vendor: 'qemu_uefi', ok: false, outputs: [], error: new Error('synthetic failure\nsecond line') };
      const outputs = await digest(run.ctx, run.fetched, run.staged, injected, [failed]);
      const error = await publishResults(run.ctx, run.plan, run.fetched, injected, [failed], outputs).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PartialBakeError);
      expect((error as Error).message).toBe('1 of 2 vendor image(s) failed: qemu_uefi (synthetic failure)');
      const output = run.plan.options.output;
      // The run's --output lock and work dir stay until run.release(); the rest is what it published.
      const published = (await readdir(output)).filter((f) => f !== LOCK_FILE && !f.startsWith(SCRATCH_PREFIXES.output));
      expect(published.sort()).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);
      const manifest = JSON.parse(await readFile(path.join(output, 'flatbake-manifest.json'), 'utf8')) as Manifest;
      expect(schemaErrors('manifest', manifest)).toEqual([]);
      expect(manifest).toMatchObject({
        release: { version: fx.served.release.version },
        base: { source: fx.served.release.imagePath, signature: { verified: false } },
        installTo: 'root:/opt/extensions',
        vendors: ['generic', 'qemu_uefi'],
        failedVendors: [{ vendor: 'qemu_uefi', error: 'synthetic failure' }],
        backend: 'offline',
      });
      expect(manifest.sysexts.map((s) => [s.name, s.sha256])).toEqual([['hello', fx.served.release.sysexts[0]!.sha256]]);
      expect(manifest.outputs).toEqual([{ vendor: 'generic', file: 'flatcar_production_image.bin', chunkedSha256: outputs[0]!.chunkedSha256, size: outputs[0]!.size, rootSize: run.staged.root.sizeBytes }]);
    } finally {
      await run.release();
    }
  });
});
