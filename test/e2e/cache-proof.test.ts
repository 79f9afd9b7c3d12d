/**
 * The cached base image is proven before use, piece by piece: a flipped byte in the middle of
 * the cached decompressed image, or of the cached .bz2, is found, the entry dropped with a
 * warning, and the bake decompresses or downloads it again and its output holds the release's bytes again.
 * A cached .bz2 skipped because its decompression is cached is proven before gpg reads it (a
 * changed signing key makes gpg read it): a damaged one is downloaded again, not a false BADSIG.
 * And release files are cached by board, version and name: a second release server serving the
 * same signed files is not asked for them.
 */
import { createHash } from 'node:crypto';
import { open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/bake/manifest.js';
import { openCache } from '../../src/cache/cache.js';
import { serveStatic } from '../../src/demo/server.js';
import { readJson, runCli } from '../helpers/cli.js';
import { rangesEqual, sgdiskPartition } from '../helpers/disk.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

/** Flips one bit of the byte in the middle of the data FILE holds (not in a hole), in place. */
async function flipMiddleByte(file: string, from = 0, length?: number): Promise<number> {
  const handle = await open(file, 'r+');
  try {
    const size = length ?? (await handle.stat()).size - from;
    // The middle of the range, or the first byte after it that is not zero (a hole reads as zeros).
    const buffer = Buffer.alloc(1 << 20);
    for (let at = from + Math.floor(size / 2); at < from + size; at += buffer.length) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      const i = buffer.subarray(0, bytesRead).findIndex((b) => b !== 0);
      if (i >= 0) {
        await handle.write(Buffer.from([buffer[i]! ^ 0x10]), 0, 1, at + i);
        return at + i;
      }
    }
    throw new Error(`no data in the second half of ${file}`);
  } finally {
    await handle.close();
  }
}

describe('a damaged cached base image is found before use', () => {
  let served: ServedRelease;
  let cacheDir: string;
  let first: Manifest;
  let hello: string;
  const bake = (output: string, args = served.args({ cacheDir, output: path.join(served.dir, output) })) =>
    runCli(['--fetch', ...args, `hello:${hello}`]);
  const manifestOf = (output: string) => readJson<Manifest>(path.join(served.dir, output, 'flatbake-manifest.json'));
  /** The baked image is the release's image outside ROOT (the flipped bytes lie there), read back with sgdisk and cmp-like reads. */
  const baseIntact = async (output: string) => {
    const image = path.join(served.dir, output, 'flatcar_production_image.bin');
    const root = await sgdiskPartition(image, 9);
    const size = (await stat(image)).size;
    const input = served.release.imagePath;
    return (await rangesEqual(input, image, 0, root.startByte)) && (await rangesEqual(input, image, root.startByte + root.sizeBytes, size - root.startByte - root.sizeBytes));
  };

  beforeAll(async () => {
    served = await serveSyntheticRelease();
    cacheDir = path.join(served.dir, 'cache');
    hello = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
    const r = await bake('cold');
    expect(r.exitCode, r.stderr).toBe(0);
    first = await manifestOf('cold');
  });
  afterAll(async () => {
    await served?.close();
  });

  it('records piece digests for both and bakes warm without a warning', async () => {
    const cache = openCache({ cacheDir });
    const decompressed = await cache.lookup('decompressed', `bz2:${first.base.sha256}`);
    const bz2 = await cache.lookup('release', `flatcar:amd64-usr:${served.release.version}:flatcar_production_image.bin.bz2`);
    expect(decompressed?.pieces?.size).toBeGreaterThan(0);
    expect(bz2?.pieces?.size).toBe(Math.ceil(bz2!.size / (4 << 20)));
    const r = await bake('warm');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('base image from the cache');
    expect(r.stderr).not.toContain('WARNING');
    expect(await baseIntact('warm')).toBe(true);
  });

  it('a flipped byte in the middle of the decompressed image: dropped with a warning, decompressed again', async () => {
    const entry = (await openCache({ cacheDir }).lookup('decompressed', `bz2:${first.base.sha256}`))!;
    const before = await stat(entry.path);
    const at = await flipMiddleByte(entry.path);
    // The flip lies outside ROOT, where the output must be the release's bytes.
    const root = await sgdiskPartition(entry.path, 9);
    expect(at < root.startByte || at >= root.startByte + root.sizeBytes).toBe(true);
    expect((await stat(entry.path)).size).toBe(before.size);
    const r = await bake('after-flip');
    expect(r.exitCode, r.stderr).toBe(0);
    const piece = Math.floor(at / (4 << 20));
    expect(r.stderr).toContain(`WARNING: the cached decompressed entry bz2:${first.base.sha256} is damaged (its 4 MiB piece ${piece} `);
    expect(r.stderr).not.toContain('base image from the cache');
    expect(await baseIntact('after-flip')).toBe(true);
  });

  it('a flipped byte in the middle of the cached .bz2: dropped with a warning, downloaded again', async () => {
    const cache = openCache({ cacheDir });
    const key = `flatcar:amd64-usr:${served.release.version}:flatcar_production_image.bin.bz2`;
    const entry = (await cache.lookup('release', key))!;
    await flipMiddleByte(entry.path);
    // Without its decompression cached, the bake must read the .bz2 itself.
    await rm(path.join(cacheDir, 'refs', 'decompressed'), { recursive: true });
    const asked = served.server.requests.length;
    const r = await bake('after-bz2-flip');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`WARNING: the cached release entry ${key} is damaged \\(its 4 MiB piece \\d+ `));
    const image = served.server.requests.slice(asked).filter((q) => q.path.endsWith('/flatcar_production_image.bin.bz2'));
    expect(image.length).toBeGreaterThan(0);
    expect(await baseIntact('after-bz2-flip')).toBe(true);
    expect((await manifestOf('after-bz2-flip')).base.sha256).toBe(first.base.sha256);
  });

  it('a damaged cached .bz2 whose decompression is cached, when the signing key changed: proven before gpg reads it, downloaded again', async () => {
    // A key rotation: the cache recorded another key's fingerprint for the image, so this run's
    // key cannot take the recorded verification and gpg must read the .bz2, which the lookup
    // skipped (its decompression is cached and proven). The record is as an older flatbake run
    // verified with that other key (the release's wrong-key.asc) would have written it.
    const key = `flatcar:amd64-usr:${served.release.version}:flatcar_production_image.bin.bz2`;
    const entry = (await openCache({ cacheDir }).lookup('release', key))!;
    expect(await openCache({ cacheDir }).lookup('decompressed', `bz2:${first.base.sha256}`)).toBeDefined();
    const ref = path.join(cacheDir, 'refs', 'release', `${createHash('sha256').update(key).digest('hex')}.json`);
    const record = await readJson<{ meta: Record<string, unknown> }>(ref);
    expect(record.meta['fingerprint']).toBe(served.release.fingerprint);
    record.meta['fingerprint'] = served.release.wrongFingerprint;
    await writeFile(ref, JSON.stringify(record));
    await flipMiddleByte(entry.path);
    const asked = served.server.requests.length;
    const r = await bake('after-key-change');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('BADSIG');
    expect(r.stderr).toMatch(new RegExp(`WARNING: the cached release entry ${key} is damaged \\(its 4 MiB piece \\d+ `));
    expect(r.stderr).toContain('base image from the cache');
    const image = served.server.requests.slice(asked).filter((q) => q.path.endsWith('/flatcar_production_image.bin.bz2'));
    expect(image.length).toBeGreaterThan(0);
    expect(await baseIntact('after-key-change')).toBe(true);
    // The fresh download went into the cache with the key that verified it.
    const again = await openCache({ cacheDir }).lookup('release', key);
    expect(again?.meta['fingerprint']).toBe(served.release.fingerprint);
  });

  it('another release server with the same signed files: the release files come from the cache', async () => {
    const mirror = await serveStatic(served.release.root);
    try {
      const args = served.args({ cacheDir, output: path.join(served.dir, 'mirror') }).map((a) => a.replace(served.server.url, mirror.url));
      const r = await bake('mirror', args);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain('all files from the cache');
      const release = mirror.requests.filter((q) => q.path.includes(`/${served.release.version}/`));
      expect(release).toEqual([]);
      expect((await manifestOf('mirror')).base.source).toContain(mirror.url);
      expect(await readdir(path.join(served.dir, 'mirror'))).toContain('flatcar_production_image.bin');
    } finally {
      await mirror.close();
    }
  });
});
