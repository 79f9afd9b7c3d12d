import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkedSha256, chunksWithData, DIGEST_CHUNK } from '../../src/util/chunked-digest.js';
import { coreutilsChunkedSha256 as coreutilsChunkedDigest } from '../helpers/disk.js';

const MiB = 1024 * 1024;

describe('chunked SHA-256 of (sparse) files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-chunked-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['data at the start, middle and end', 17 * MiB + 123, [[0, 5000], [3 * MiB + 7, 200_000], [17 * MiB + 100, 23]]],
    ['all holes', 16 * MiB, []],
    ['data straddling a piece boundary', 12 * MiB, [[4 * MiB - 10, 20]]],
    ['one byte in the last, short piece', 8 * MiB + 1, [[8 * MiB, 1]]],
    ['smaller than one piece', 1000, [[10, 10]]],
  ] as Array<[string, number, Array<[number, number]>]>)('equals what split and sha256sum compute: %s', async (_name, size, pieces) => {
    const file = path.join(dir, `f-${Math.random()}.bin`);
    await writeFile(file, '');
    await truncate(file, size);
    const handle = await open(file, 'r+');
    for (const [offset, length] of pieces) await handle.write(randomBytes(length), 0, length, offset);
    await handle.close();
    let counted = 0;
    const digest = await chunkedSha256(file, { onBytes: (n) => (counted += n) });
    expect(digest.sha256).toBe(await coreutilsChunkedDigest(file));
    expect(digest.chunks).toHaveLength(Math.ceil(size / DIGEST_CHUNK));
    expect(counted).toBe(size);
  });

  it('an empty file has an empty piece list', async () => {
    const file = path.join(dir, 'empty.bin');
    await writeFile(file, '');
    expect(await chunkedSha256(file)).toEqual({ sha256: createHash('sha256').update('').digest('hex'), chunks: [] });
  });

  it('takes known pieces as given and reads only the others', async () => {
    const file = path.join(dir, 'known.bin');
    await writeFile(file, randomBytes(12 * MiB));
    const real = await chunkedSha256(file);
    const asked: number[] = [];
    const known = await chunkedSha256(file, { known: (i) => (asked.push(i), i === 1 ? 'f'.repeat(64) : undefined) });
    expect(asked).toEqual([0, 1, 2]);
    expect(known.chunks).toEqual([real.chunks[0], 'f'.repeat(64), real.chunks[2]]);
    expect(known.sha256).not.toBe(real.sha256);
  });

  it('maps data extents to the pieces they touch', () => {
    expect([...chunksWithData([], 100)]).toEqual([]);
    expect([...chunksWithData([{ start: 0, end: 1 }], 100, 10)]).toEqual([0]);
    expect([...chunksWithData([{ start: 9, end: 11 }, { start: 50, end: 60 }], 100, 10)]).toEqual([0, 1, 5]);
    // extents past the end (the last block of a file) stay within the piece count
    expect([...chunksWithData([{ start: 95, end: 4096 }], 100, 10)]).toEqual([9]);
  });
});
