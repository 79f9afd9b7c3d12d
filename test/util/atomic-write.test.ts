/** util/atomic-write: a name means a whole file; failures leave the old file and no temporary one. */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFile, copyFileAtomic, isTempName, replaceFile, tempNameFor, writeFileAtomic } from '../../src/util/atomic-write.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-atomic-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const names = async () => (await readdir(dir)).sort();

describe('atomic writes', () => {
  it('replaces a file, with the mode asked for a new one, and leaves no temporary name', async () => {
    const file = path.join(dir, 'a.json');
    await writeFile(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    await writeFileAtomic(path.join(dir, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    expect((await stat(path.join(dir, 'run.sh'))).mode & 0o111).not.toBe(0);
    expect(await names()).toEqual(['a.json', 'run.sh']);
  });

  it('a write that fails keeps the old file and removes its temporary one', async () => {
    const file = path.join(dir, 'b.txt');
    await writeFile(file, 'old');
    const failure = replaceFile(file, async (tmp) => {
      await writeFile(tmp, 'half');
      expect(isTempName(path.basename(tmp))).toBe(true);
      expect(path.dirname(tmp)).toBe(dir);
      throw new Error('disk full');
    });
    await expect(failure).rejects.toThrow('disk full');
    expect(await readFile(file, 'utf8')).toBe('old');
    expect((await names()).filter((n) => n.startsWith('.b.txt'))).toEqual([]);
  });

  it('noReplace keeps an existing file and fails with EEXIST; the temporary file goes', async () => {
    const file = path.join(dir, 'c.yaml');
    await writeFile(file, 'mine');
    await expect(writeFileAtomic(file, 'theirs', { noReplace: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(file, 'utf8')).toBe('mine');
    await writeFileAtomic(path.join(dir, 'd.yaml'), 'fresh', { noReplace: true });
    expect(await readFile(path.join(dir, 'd.yaml'), 'utf8')).toBe('fresh');
    expect((await names()).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a copy the check refuses never gets the name', async () => {
    const from = path.join(dir, 'source.raw');
    await writeFile(from, 'image bytes');
    const to = path.join(dir, 'copy.raw');
    await expect(copyFileAtomic(from, to, async (tmp) => { expect(await readFile(tmp, 'utf8')).toBe('image bytes'); throw new Error('digest mismatch'); })).rejects.toThrow('digest mismatch');
    await expect(stat(to)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await copyFileAtomic(from, to, async (tmp) => (await stat(tmp)).size)).toBe(11);
    expect(await readFile(to, 'utf8')).toBe('image bytes');
  });

  it('commitFile gives a finished file its name', async () => {
    const tmp = tempNameFor(path.join(dir, 'e.bin'));
    await writeFile(tmp, 'done');
    await commitFile(tmp, path.join(dir, 'e.bin'));
    expect(await readFile(path.join(dir, 'e.bin'), 'utf8')).toBe('done');
    await expect(stat(tmp)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('commitFile without sync (files proven on every use) still names only the finished file, and noReplace still refuses', async () => {
    const file = path.join(dir, 'f.bin');
    const tmp = tempNameFor(file);
    await writeFile(tmp, 'first');
    await commitFile(tmp, file, { sync: false });
    expect(await readFile(file, 'utf8')).toBe('first');
    await expect(stat(tmp)).rejects.toMatchObject({ code: 'ENOENT' });
    const second = tempNameFor(file);
    await writeFile(second, 'second');
    await expect(commitFile(second, file, { sync: false, noReplace: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(file, 'utf8')).toBe('first');
    await expect(stat(second)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
