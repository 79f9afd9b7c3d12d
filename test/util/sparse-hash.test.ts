import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFilefrag } from '../../src/util/extents.js';
import { sha256SparseFile } from '../../src/util/hash.js';

describe('extent-aware SHA-256 of sparse files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-sparse-hash-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['data at the start, middle and end', [[0, 5000], [3 * 1048576 + 7, 200_000], [16 * 1048576 - 10, 10]]],
    ['all holes', []],
    ['one byte in the middle', [[8 * 1048576 + 1, 1]]],
  ] as Array<[string, Array<[number, number]>]>)('equals a plain SHA-256: %s', async (_name, pieces) => {
    const file = path.join(dir, `f-${Math.random()}.bin`);
    await writeFile(file, '');
    await truncate(file, 16 * 1048576);
    const handle = await open(file, 'r+');
    for (const [offset, length] of pieces) await handle.write(randomBytes(length), 0, length, offset);
    await handle.datasync();
    await handle.close();
    const expected = createHash('sha256').update(await readFile(file)).digest('hex');
    let counted = 0;
    expect(await sha256SparseFile(file, (n) => (counted += n))).toBe(expected);
    expect(counted).toBe(16 * 1048576);
  });

  it('parses filefrag -v output and refuses what it does not understand', () => {
    const text = [
      'Filesystem type is: ef53',
      'File size of x is 8455716864 (2064384 blocks of 4096 bytes)',
      ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
      '   0:        0..       0:   17346560..  17346560:      1:            ',
      '   1:        1..       3:   17347072..  17347074:      3:   17346561:',
      '   2:      516..     516:   17347076..  17347076:      1:             last,eof',
      'x: 3 extents found',
    ].join('\n');
    expect(parseFilefrag(text, 8455716864)).toEqual([
      { start: 0, end: 4 * 4096 },
      { start: 516 * 4096, end: 517 * 4096 },
    ]);
    expect(parseFilefrag('File size of x is 10 (1 block of 4096 bytes)\nx: 0 extents found\n', 10)).toEqual([]);
    // The summary counts contiguous runs (may be fewer than rows), never more than the rows.
    expect(parseFilefrag(text.replace('3 extents found', '2 extents found'), 8455716864)).toHaveLength(2);
    expect(parseFilefrag(text.replace('3 extents found', '4 extents found'), 8455716864)).toBeUndefined();
    expect(parseFilefrag('garbage', 10)).toBeUndefined();
  });
});
