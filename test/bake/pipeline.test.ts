/** The steps together (src/bake/pipeline.ts): bake() with the offline backend, then nothing is left behind. */
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bake } from '../../src/bake/pipeline.js';
import { quietReporter } from '../../src/util/report.js';
import { stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

describe('bake', () => {
  it('runs the steps in order and leaves only its results in --output (the work dir is gone)', async () => {
    const options = fx.options();
    const { manifest, files } = await bake(options, quietReporter);
    expect(manifest.backend).toBe('offline');
    expect(manifest.release.version).toBe(fx.served.release.version);
    expect((await readdir(options.output)).sort()).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);
    expect(files.map((f) => f.slice(options.output.length + 1))).toEqual(['flatcar_production_image.bin', 'flatbake-manifest.json']);
  });
});
