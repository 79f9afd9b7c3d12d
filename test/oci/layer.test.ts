import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { RootfsWriter, UnsafeLayerError } from '../../src/oci/apply.js';
import { applyLayerFile, sniffCompression } from '../../src/oci/layer.js';
import { sha256 } from './helpers/registry.js';
import { buildTar } from './helpers/tar-writer.js';

let work: string;
let root: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'flatbake-layer-'));
  root = join(work, 'rootfs');
  mkdirSync(root);
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const tar = buildTar([{ path: 'etc/hello', content: 'hello\n' }]);
const zstd = (b: Buffer): Buffer => execFileSync('zstd', ['-q', '-c'], { input: b });

function file(name: string, bytes: Buffer): string {
  const path = join(work, name);
  writeFileSync(path, bytes);
  return path;
}

describe('applyLayerFile', () => {
  it.each([
    ['none', tar],
    ['gzip', gzipSync(tar)],
    ['zstd', zstd(tar)],
  ] as const)('%s: sniffs the compression from the bytes, applies, and reports the diff_id', async (compression, bytes) => {
    const path = file('layer', bytes);
    expect(await sniffCompression(path)).toBe(compression);
    const result = await applyLayerFile(new RootfsWriter(root), path, { name: '1/1', diffId: sha256(tar) });
    expect(result).toMatchObject({ compression, diffId: sha256(tar), files: 1, directories: 0 });
    expect(readFileSync(join(root, 'etc/hello'), 'utf8')).toBe('hello\n');
  });

  it('a corrupt zstd layer fails with what the zstd decoder said', async () => {
    const bytes = zstd(Buffer.concat([tar, Buffer.alloc(200_000, 7)]));
    bytes.fill(0x55, 20, 60);
    const error = await applyLayerFile(new RootfsWriter(root), file('bad.zst', bytes), { name: '1/1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/^zstd could not decompress .*bad\.zst: /);
  });

  it('a corrupt gzip layer fails', async () => {
    const bytes = gzipSync(tar);
    bytes.fill(0x55, 12, 40);
    await expect(applyLayerFile(new RootfsWriter(root), file('bad.gz', bytes), { name: '1/1' })).rejects.toThrow();
  });

  it('a hostile entry early in a big zstd layer stops decompressing and reports the entry', async () => {
    const big = buildTar([{ path: '../x', content: 'x' }, { path: 'filler', content: Buffer.alloc(8 << 20, 1) }]);
    const error = await applyLayerFile(new RootfsWriter(root), file('hostile.zst', zstd(big)), { name: '1/1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeLayerError);
  });
});
