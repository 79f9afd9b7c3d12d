import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SparseWriter } from '../../src/image/sparse-writer.js';

describe('SparseWriter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-sparse-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every byte and leaves zero runs as holes, in odd-sized chunks', async () => {
    const data = Buffer.alloc(8 * 1024 * 1024);
    randomBytes(100_000).copy(data, 12_345);
    randomBytes(3).copy(data, 5 * 1024 * 1024 + 7);
    data[data.length - 1] = 0; // trailing zeros must still count in the size
    const file = path.join(dir, 'a.bin');
    const writer = await SparseWriter.create(file);
    for (let offset = 0; offset < data.length; ) {
      const n = Math.min(1 + Math.floor(Math.random() * 200_000), data.length - offset);
      await writer.write(data.subarray(offset, offset + n));
      offset += n;
    }
    expect(await writer.finish()).toBe(data.length);
    expect((await readFile(file)).equals(data)).toBe(true);
    const info = await stat(file);
    expect(info.size).toBe(data.length);
    expect(info.blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('writes an all-zero stream as one hole of the right size', async () => {
    const file = path.join(dir, 'zeros.bin');
    const writer = await SparseWriter.create(file);
    for (let i = 0; i < 64; i++) await writer.write(Buffer.alloc(65_537));
    expect(await writer.finish()).toBe(64 * 65_537);
    const info = await stat(file);
    expect(info.size).toBe(64 * 65_537);
    expect(info.blocks).toBe(0);
  });

  it('keeps SHA-256 states at each boundary that resume to the right digest', async () => {
    const { createHash } = await import('node:crypto');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = path.join(dir, 'digest.bin');
    const writer = await SparseWriter.create(file, { hash: createHash('sha256'), snapshotEvery: 1024 * 1024 });
    for (let offset = 0; offset < data.length; offset += 300_001) await writer.write(data.subarray(offset, offset + 300_001));
    await writer.finish();
    expect(writer.snapshots.map((s) => s.offset)).toEqual([1, 2, 3].map((n) => n * 1024 * 1024));
    for (const snapshot of writer.snapshots) {
      const resumed = snapshot.hash.copy().update(data.subarray(snapshot.offset)).digest('hex');
      expect(resumed).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });

  it('never overwrites an existing file', async () => {
    const file = path.join(dir, 'zeros.bin');
    await expect(SparseWriter.create(file)).rejects.toThrow(/EEXIST/);
  });
});
