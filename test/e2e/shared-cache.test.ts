/**
 * Several bakes sharing one --cache-dir at the same time: before each download in progress was
 * private to its run, three bakes started together failed about half the time (ENOENT on the
 * key's .part, a false BADSIG, "cannot cache ...bz2: it has N bytes, not M").
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

describe('three bakes at once on one --cache-dir', () => {
  let served: ServedRelease;
  beforeAll(async () => {
    served = await serveSyntheticRelease();
  });
  afterAll(async () => {
    await served?.close();
  });

  it('all succeed, cold and then warm, each with a verified base and its own complete output', async () => {
    const hello = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
    const cacheDir = path.join(served.dir, 'cache');
    for (const round of ['cold', 'warm']) {
      const outputs = [1, 2, 3].map((n) => path.join(served.dir, `${round}-${n}`));
      const results = await Promise.all(outputs.map((output) => runCli([...served.args({ output, cacheDir }), '--fetch', `hello:${hello}`])));
      for (const [n, r] of results.entries()) {
        expect(r.exitCode, `${round} bake ${n + 1}: ${r.stderr}`).toBe(0);
        expect(r.stderr).not.toMatch(/BADSIG|WARNING/);
      }
      for (const output of outputs) {
        expect((await readdir(output)).sort()).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);
        const manifest = await readJson<{ base: { signature: { verified: boolean } } }>(path.join(output, 'flatbake-manifest.json'));
        expect(manifest.base.signature.verified).toBe(true);
      }
    }
    // Nothing of the six runs is left in the cache's download area but finished entries.
    expect((await readdir(path.join(cacheDir, 'downloads'))).filter((f) => /\.part$|\.lock$|^decompress-/.test(f))).toEqual([]);
  });
});
