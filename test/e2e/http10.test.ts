import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import { serveHttp10, type Http10Server } from '../net/http10-server.js';
import { elf, Upstream } from '../recipes/upstream.js';
import { run } from '../../src/util/exec.js';

/** A release mirror run with `python3 -m http.server`: HTTP/1.0, no ranges, closed after every body. */
describe('a bake from an HTTP/1.0 mirror that closes every connection', () => {
  let served: ServedRelease;
  let http10: Http10Server;
  let scratch: string;
  beforeAll(async () => {
    served = await serveSyntheticRelease();
    http10 = await serveHttp10(served.release.root);
    // The served release's own scratch dir: close() removes it with everything written there.
    scratch = served.dir;
  });
  afterAll(async () => {
    await http10?.close();
    await served?.close();
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

/**
 * Recipe downloads through the same kind of mirror: undici 7 crashed on these almost every time.
 * The docker-compose release layout of v2.29.7 (a bare binary and a `.sha256` beside it in binary
 * mode, as test/recipes/fixtures.ts mirrors it), with a 16 MiB binary (the real one is about
 * 60 MiB) so the server outruns the CLI and the client must hold it back.
 */
describe('sysext build from an HTTP/1.0 mirror that closes every connection', () => {
  let http10: Http10Server;
  let upstream: Upstream;
  let scratch: string;
  let binary: Buffer;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-http10-recipe-'));
    upstream = new Upstream(path.join(scratch, 'mirror'));
    const url = 'https://github.com/docker/compose/releases/download/v2.29.7/docker-compose-linux-x86_64';
    binary = await upstream.file(url, Buffer.concat([elf('x86-64', 'compose'), randomBytes(16 << 20)]));
    await upstream.sums(`${url}.sha256`, { 'docker-compose-linux-x86_64': binary }, 'binary');
    http10 = await serveHttp10(upstream.root);
  });
  afterAll(async () => {
    await http10?.close();
    await upstream?.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  it('downloads, verifies and builds twice in a row without a crash', async () => {
    const want = createHash('sha256').update(binary).digest('hex');
    for (const n of [1, 2]) {
      const out = path.join(scratch, `out-${n}`);
      const r = await runCli(['sysext', 'build', 'docker-compose', '2.29.7', '--arch', 'x86-64', '--mirror', http10.url, '--output', out, '--no-cache', '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const built = JSON.parse(r.stdout) as { path: string; inputs: Array<{ sha256: string; verified: boolean }> };
      expect(built.inputs).toEqual([expect.objectContaining({ sha256: want, verified: true })]);
      // Read back with squashfs-tools, not our own reader.
      const inside = await run('unsquashfs', ['-cat', built.path, 'usr/local/lib/docker/cli-plugins/docker-compose'], { binary: true });
      expect(createHash('sha256').update(Buffer.from(inside.stdout, 'latin1')).digest('hex')).toBe(want);
    }
    expect(http10.requests.filter((p) => p.endsWith('/docker-compose-linux-x86_64'))).toHaveLength(2);
    expect(http10.backpressured).toBe(true);
  });
});
