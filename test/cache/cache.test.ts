import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cache, defaultCacheDir, openCache } from '../../src/cache/cache.js';
import { InputError } from '../../src/errors.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let dir: string;
let cacheDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flatbake-cache-'));
  cacheDir = join(dir, 'cache');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content);
  return p;
}

describe('defaultCacheDir', () => {
  it('uses an absolute XDG_CACHE_HOME', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/var/cache/me', HOME: '/home/me' })).toBe('/var/cache/me/flatbake');
  });
  it('falls back to ~/.cache when XDG_CACHE_HOME is unset, empty or relative', () => {
    expect(defaultCacheDir({ HOME: '/home/me' })).toBe('/home/me/.cache/flatbake');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '', HOME: '/home/me' })).toBe('/home/me/.cache/flatbake');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'rel/cache', HOME: '/home/me' })).toBe('/home/me/.cache/flatbake');
  });
  it('prefers an explicit home directory over HOME', () => {
    expect(defaultCacheDir({ HOME: '/home/me' }, '/root')).toBe('/root/.cache/flatbake');
  });
  it('fails clearly when there is no home', () => {
    expect(() => defaultCacheDir({})).toThrow(InputError);
    let err: unknown;
    try {
      defaultCacheDir({ HOME: 'relative' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).hint).toMatch(/--cache-dir/);
  });
});

describe('openCache', () => {
  it('follows --no-cache and --cache-dir', () => {
    expect(openCache({ cache: false, cacheDir: '/x' }).enabled).toBe(false);
    expect(openCache({ cacheDir: '/x' }).dir).toBe('/x');
    expect(openCache({ cache: true }, { XDG_CACHE_HOME: '/c' }).dir).toBe('/c/flatbake');
  });
});

describe('Cache', () => {
  const content = randomBytes(5000);

  it('stores by hard link and finds the entry again', async () => {
    const cache = new Cache(cacheDir);
    const src = await file('a.bin', content);
    const key = 'https://stable.release.flatcar-linux.net/amd64-usr/3815.2.0/flatcar_production_image.bin.bz2';
    const stored = await cache.store('release', key, src, { sha256: sha(content), size: content.length, meta: { version: '3815.2.0' } });
    expect(stored?.path).toBe(join(cacheDir, 'blobs', 'sha256', sha(content)));
    expect(cache.blobPath(sha(content))).toBe(stored?.path);
    // The source stays, and it is the same inode as the blob: no copy was made.
    expect((await stat(src)).ino).toBe((await stat(stored!.path)).ino);

    const hit = await cache.lookup('release', key);
    expect(hit).toEqual({ path: stored?.path, sha256: sha(content), size: content.length, meta: { version: '3815.2.0' } });
    expect((await readFile(hit!.path)).equals(content)).toBe(true);

    const refs = await readdir(join(cacheDir, 'refs', 'release'));
    expect(refs).toEqual([`${createHash('sha256').update(key).digest('hex')}.json`]);
    const record = JSON.parse(await readFile(join(cacheDir, 'refs', 'release', refs[0]!), 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({ key, sha256: sha(content), size: content.length, meta: { version: '3815.2.0' } });
    expect(Number.isNaN(Date.parse(String(record['createdAt'])))).toBe(false);
  });

  it('moves the file in with move: true', async () => {
    const cache = new Cache(cacheDir);
    const src = await file('a.bin', content);
    const stored = await cache.store('ns', 'k', src, { sha256: sha(content).toUpperCase(), size: content.length, move: true });
    expect(existsSync(src)).toBe(false);
    expect(stored?.sha256).toBe(sha(content));
    expect((await readFile(stored!.path)).equals(content)).toBe(true);
    expect(stored?.meta).toEqual({});
  });

  it('misses on unknown keys and other namespaces', async () => {
    const cache = new Cache(cacheDir);
    expect(await cache.lookup('ns', 'nothing yet')).toBeUndefined();
    await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length });
    expect(await cache.lookup('ns', 'k2')).toBeUndefined();
    expect(await cache.lookup('other', 'k')).toBeUndefined();
  });

  it('keeps one blob for two keys with the same content', async () => {
    const cache = new Cache(cacheDir);
    await cache.store('ns', 'one', await file('a', content), { sha256: sha(content), size: content.length });
    await cache.store('ns', 'two', await file('b', content), { sha256: sha(content), size: content.length, move: true });
    expect(existsSync(join(dir, 'b'))).toBe(false);
    expect(await readdir(join(cacheDir, 'blobs', 'sha256'))).toEqual([sha(content)]);
    expect((await cache.lookup('ns', 'one'))?.path).toBe((await cache.lookup('ns', 'two'))?.path);
  });

  it('can record an existing blob under another key, even with move: true', async () => {
    const cache = new Cache(cacheDir);
    const first = await cache.store('ns', 'one', await file('a', content), { sha256: sha(content), size: content.length, move: true });
    const second = await cache.store('other', 'two', first!.path, { sha256: sha(content), size: content.length, move: true });
    expect(second?.path).toBe(first?.path);
    expect((await readFile(first!.path)).equals(content)).toBe(true);
    expect((await cache.lookup('ns', 'one'))?.path).toBe(first?.path);
  });

  it('treats a missing blob as a miss and removes the entry', async () => {
    const cache = new Cache(cacheDir);
    const stored = await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length });
    await rm(stored!.path);
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
    expect(await readdir(join(cacheDir, 'refs', 'ns'))).toEqual([]);
  });

  it('treats a blob of the wrong size as a miss and removes blob and entry', async () => {
    const cache = new Cache(cacheDir);
    const stored = await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length, move: true });
    await truncate(stored!.path, 100);
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
    expect(existsSync(stored!.path)).toBe(false);
    expect(await readdir(join(cacheDir, 'refs', 'ns'))).toEqual([]);
    // And it can be stored again.
    await cache.store('ns', 'k', await file('again', content), { sha256: sha(content), size: content.length });
    expect((await cache.lookup('ns', 'k'))?.size).toBe(content.length);
  });

  it('hashes a blob before use: a flipped byte is a miss, with a warning, and the blob and entry go', async () => {
    const warnings: string[] = [];
    const cache = new Cache(cacheDir, { warn: (m) => warnings.push(m) });
    const stored = await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length, move: true });
    const flipped = Buffer.from(content);
    flipped[1234] = flipped[1234]! ^ 0x01;
    await writeFile(stored!.path, flipped);
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
    expect(warnings).toEqual(['the cached ns entry k is damaged (its content does not match its SHA-256): dropped, fetching or making it again']);
    expect(existsSync(stored!.path)).toBe(false);
    expect(await readdir(join(cacheDir, 'refs', 'ns'))).toEqual([]);
  });

  it('proves a blob recorded with piece digests piece by piece: a flipped byte or a punched hole in the middle is found, named by piece', async () => {
    const piece = 4 * 1024 * 1024;
    // Three pieces of data and a hole-only fourth (a sparse image's shape, small).
    const data = randomBytes(3 * piece);
    const src = join(dir, 'image.bin');
    await writeFile(src, data);
    await truncate(src, 4 * piece);
    const warnings: string[] = [];
    const cache = new Cache(cacheDir, { warn: (m) => warnings.push(m) });
    const stored = await cache.store('decompressed', 'k', src, { sha256: 'a'.repeat(64), size: 4 * piece, move: true, pieces: new Map() });
    // Holes are not recorded: only the three data pieces.
    expect([...stored!.pieces!.keys()]).toEqual([0, 1, 2]);
    expect(stored!.pieces!.get(1)).toBe(sha(data.subarray(piece, 2 * piece)));
    // A fresh Cache (another run) hashes it and finds it good.
    expect((await new Cache(cacheDir).lookup('decompressed', 'k'))?.pieces?.size).toBe(3);

    const handle = await open(stored!.path, 'r+');
    await handle.write(Buffer.from([data[piece + 12345]! ^ 0x40]), 0, 1, piece + 12345);
    await handle.close();
    expect(await new Cache(cacheDir, { warn: (m) => warnings.push(m) }).lookup('decompressed', 'k')).toBeUndefined();
    expect(warnings).toEqual([`the cached decompressed entry k is damaged (its 4 MiB piece 1 (bytes ${piece}-${2 * piece - 1}) does not match its recorded SHA-256): dropped, fetching or making it again`]);
    expect(existsSync(stored!.path)).toBe(false);

    // Zeros where data was (what a punched hole reads as) are damage too.
    const again = join(dir, 'again.bin');
    await writeFile(again, data);
    await truncate(again, 4 * piece);
    await cache.store('decompressed', 'k', again, { sha256: 'a'.repeat(64), size: 4 * piece, pieces: new Map() });
    await writeFile(stored!.path, Buffer.concat([data.subarray(0, 2 * piece), Buffer.alloc(2 * piece)]));
    expect(await new Cache(cacheDir, { warn: (m) => warnings.push(m) }).lookup('decompressed', 'k')).toBeUndefined();
    expect(warnings[1]).toContain('its 4 MiB piece 2 ');
  });

  it('leaves a blob unhashed when the caller will not read it (unread), and hashes it when it will', async () => {
    const warnings: string[] = [];
    const cache = new Cache(cacheDir, { warn: (m) => warnings.push(m) });
    const stored = await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length, move: true });
    const flipped = Buffer.from(content);
    flipped[2500] = flipped[2500]! ^ 0x01;
    await writeFile(stored!.path, flipped);
    const asked: string[] = [];
    const other = new Cache(cacheDir, { warn: (m) => warnings.push(m) });
    const unchecked = await other.lookup('ns', 'k', { unread: async (digest) => (asked.push(digest), true) });
    expect(asked).toEqual([sha(content)]);
    expect(unchecked).toMatchObject({ path: stored!.path, unchecked: true });
    expect(warnings).toEqual([]);
    expect(await other.lookup('ns', 'k', { unread: async () => false })).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it('a fresh verified file replaces a damaged blob of the same size under its name', async () => {
    const cache = new Cache(cacheDir, { warn: () => undefined });
    const stored = await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length, move: true });
    const flipped = Buffer.from(content);
    flipped[0] = flipped[0]! ^ 0xff;
    await writeFile(stored!.path, flipped);
    // refs/ deleted by hand, as the user did: the next store must not keep the bad blob.
    await rm(join(cacheDir, 'refs'), { recursive: true });
    await cache.store('ns', 'k', await file('fresh', content), { sha256: sha(content), size: content.length, move: true });
    expect((await readFile(stored!.path)).equals(content)).toBe(true);
    expect((await cache.lookup('ns', 'k'))?.path).toBe(stored!.path);
  });

  it('treats an unreadable or foreign record as a miss and removes it', async () => {
    const cache = new Cache(cacheDir);
    await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length });
    const refDir = join(cacheDir, 'refs', 'ns');
    const [name] = await readdir(refDir);
    const ref = join(refDir, name!);

    await writeFile(ref, '{"key": "k", "sha2');
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
    expect(existsSync(ref)).toBe(false);

    await writeFile(ref, JSON.stringify({ key: 'someone else', sha256: sha(content), size: content.length, createdAt: '', meta: {} }));
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
    expect(existsSync(ref)).toBe(false);

    await writeFile(ref, JSON.stringify({ key: 'k', sha256: '../../etc/passwd', size: 1, createdAt: '', meta: {} }));
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
    expect(existsSync(ref)).toBe(false);
  });

  it('leaves no temporary names behind', async () => {
    const cache = new Cache(cacheDir);
    await cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length });
    const names = [...(await readdir(join(cacheDir, 'blobs', 'sha256'))), ...(await readdir(join(cacheDir, 'refs', 'ns')))];
    expect(names.filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('refuses a file whose size is not the verified size, storing nothing', async () => {
    const cache = new Cache(cacheDir);
    await expect(cache.store('ns', 'k', await file('a', content), { sha256: sha(content), size: content.length + 1 })).rejects.toThrow(InputError);
    expect(existsSync(join(cacheDir, 'blobs', 'sha256', sha(content)))).toBe(false);
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
  });

  it('rejects namespaces that would escape refs/ and digests that are not hex', async () => {
    const cache = new Cache(cacheDir);
    await expect(cache.lookup('../x', 'k')).rejects.toThrow(InputError);
    await expect(cache.lookup('', 'k')).rejects.toThrow(InputError);
    expect(() => cache.blobPath('../../x')).toThrow(InputError);
    await expect(cache.store('ns', 'k', await file('a', content), { sha256: 'abc', size: content.length })).rejects.toThrow(InputError);
  });

  it('when disabled: always misses, stores nothing, leaves the file alone', async () => {
    const cache = new Cache(undefined);
    expect(cache.enabled).toBe(false);
    const src = await file('a', content);
    expect(await cache.store('ns', 'k', src, { sha256: sha(content), size: content.length, move: true })).toBeUndefined();
    expect(existsSync(src)).toBe(true);
    expect(await cache.lookup('ns', 'k')).toBeUndefined();
    expect(() => cache.blobPath(sha(content))).toThrow();
  });

  it('keeps a sparse file sparse, by link and by move', async (ctx) => {
    const size = 64 * 1024 * 1024;
    const sparse = join(dir, 'disk.img');
    const fh = await open(sparse, 'w');
    const head = randomBytes(4096);
    await fh.write(head, 0, head.length, 0);
    await fh.write(head, 0, head.length, size / 2);
    await fh.truncate(size);
    await fh.close();
    const before = await stat(sparse);
    // Only meaningful on a file system with holes.
    if (before.blocks * 512 >= size / 4) ctx.skip();

    const digest = sha(await readFile(sparse));
    const cache = new Cache(cacheDir);
    const linked = await cache.store('decompressed', 'decompressed:abc', sparse, { sha256: digest, size });
    const afterLink = await stat(linked!.path);
    expect(afterLink.size).toBe(size);
    expect(afterLink.blocks).toBe(before.blocks);

    // A second copy of the image elsewhere, moved in under another digest.
    await mkdir(join(dir, 'other'));
    const other = join(dir, 'other', 'disk2.img');
    const fh2 = await open(other, 'w');
    await fh2.write(head, 0, head.length, size - 4096);
    await fh2.truncate(size);
    await fh2.close();
    const before2 = await stat(other);
    const moved = await cache.store('decompressed', 'decompressed:def', other, { sha256: sha(await readFile(other)), size, move: true });
    const afterMove = await stat(moved!.path);
    expect(afterMove.blocks).toBe(before2.blocks);
    expect(afterMove.blocks * 512).toBeLessThan(size / 4);
    expect((await cache.lookup('decompressed', 'decompressed:abc'))?.path).toBe(linked?.path);
  });
});
