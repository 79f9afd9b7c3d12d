import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import { serveHttp10, type Http10Server } from '../net/http10-server.js';

/** A release mirror run with `python3 -m http.server`: HTTP/1.0, no ranges, closed after every body. */
describe('a bake from an HTTP/1.0 mirror that closes every connection', () => {
  let served: ServedRelease;
  let http10: Http10Server;
  let scratch: string;
  beforeAll(async () => {
    served = await serveSyntheticRelease();
    http10 = await serveHttp10(served.release.root);
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-http10-e2e-'));
  });
  afterAll(async () => {
    await http10?.close();
    await served?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('downloads, verifies and bakes, cold and then warm, without a crash', async () => {
    const sysext = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
    const args = (output: string) => [
      '--release-server', `${http10.url}/{channel}`,
      '--releases-json', `${http10.url}/releases.json`,
      '--signing-key', `${http10.url}/key.asc`,
      '--bakery-url', `${http10.url}/extensions`,
      '--cache-dir', path.join(scratch, 'cache'),
      '--output', output,
      '--fetch', `hello:${sysext}`,
    ];
    for (const run of ['cold', 'warm']) {
      const output = path.join(scratch, run);
      const r = await runCli(args(output));
      expect(r.exitCode, r.stderr).toBe(0);
      expect((await readdir(output)).sort()).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);
      const manifest = await readJson<{ base: { signature: { verified: boolean } }; release: { version: string } }>(path.join(output, 'flatbake-manifest.json'));
      expect(manifest.base.signature.verified).toBe(true);
      expect(manifest.release.version).toBe(served.release.version);
    }
    expect(http10.requests.some((p) => p.endsWith('flatcar_production_image.bin.bz2'))).toBe(true);
  });
});
