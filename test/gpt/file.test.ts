import { open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDiskWrites, fileReader, readGptFromFile } from '../../src/gpt/file.js';
import { locatePartition } from '../../src/gpt/locate.js';
import { parseGpt } from '../../src/gpt/parse.js';
import { GptError } from '../../src/gpt/types.js';
import { growGpt } from '../../src/gpt/write.js';
import { InputError } from '../../src/errors.js';
import { run } from '../../src/util/exec.js';
import { makeFlatcarImage, makeTempDir, sgdisk, sgdiskInfo, sgdiskPrint } from './helpers.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;

beforeAll(async () => {
  tmp = await makeTempDir();
});

afterAll(async () => {
  await tmp?.cleanup();
});

async function emptyFile(name: string, size: number): Promise<string> {
  const path = join(tmp.dir, name);
  await (await open(path, 'w')).close();
  await truncate(path, size);
  return path;
}

/** Attaches `path` to a free loop device for the duration of `fn`. */
async function withLoop<T>(path: string, sectorSize: number, fn: (dev: string) => Promise<T>): Promise<T> {
  const dev = (await run('losetup', ['--find', '--show', '--sector-size', String(sectorSize), path])).stdout.trim();
  try {
    return await fn(dev);
  } finally {
    await run('losetup', ['-d', dev]);
  }
}

describe('fileReader', () => {
  it('reads exact ranges of a regular file and refuses ranges outside it', async () => {
    const path = join(tmp.dir, 'bytes.bin');
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
    await writeFile(path, data);
    const reader = await fileReader(path);
    try {
      expect(reader.size).toBe(3000);
      expect((await reader.read(0, 3000)).equals(data)).toBe(true);
      expect((await reader.read(1234, 100)).equals(data.subarray(1234, 1334))).toBe(true);
      expect((await reader.read(2999, 0)).length).toBe(0);
      await expect(reader.read(2990, 11)).rejects.toThrow(RangeError);
      await expect(reader.read(-1, 1)).rejects.toThrow(RangeError);
    } finally {
      await reader.close();
    }
  });

  it('returns a short buffer when the file shrank after it was opened, and parseGpt calls that truncation', async () => {
    const path = await emptyFile('shrinks.bin', 64 * 2 ** 20);
    await sgdisk(['-n', '1:2048:4095', path]);
    const reader = await fileReader(path);
    try {
      await truncate(path, 40 * 2 ** 20);
      expect((await reader.read(64 * 2 ** 20 - 1024, 1024)).length).toBe(0);
      await expect(parseGpt(reader)).rejects.toMatchObject({ code: 'backup-truncated' });
    } finally {
      await reader.close();
    }
  });

  it('reports a missing file or a directory as an input error', async () => {
    await expect(fileReader(join(tmp.dir, 'nope.bin'))).rejects.toThrow(InputError);
    await expect(fileReader(join(tmp.dir, 'nope.bin'))).rejects.toThrow(/does not exist/);
    await expect(readGptFromFile(tmp.dir)).rejects.toThrow(/neither a regular file nor a block device/);
  });

  it('parses an empty file as truncated and a non-GPT file as such', async () => {
    await expect(readGptFromFile(await emptyFile('empty.bin', 0))).rejects.toMatchObject({ code: 'truncated' });
    await expect(readGptFromFile(await emptyFile('zeros.bin', 2 ** 20))).rejects.toMatchObject({ code: 'no-protective-mbr' });
  });
});

describe('block devices and 4096-byte sectors', () => {
  it('reads a GPT through a loop device, sized from sysfs', async () => {
    const path = join(tmp.dir, 'flatcar.bin');
    await makeFlatcarImage(path);
    const fromFile = await readGptFromFile(path);
    const fromDevice = await withLoop(path, 512, async (dev) => {
      const reader = await fileReader(dev);
      try {
        expect(reader.size).toBe(fromFile.diskSizeBytes);
        return await parseGpt(reader);
      } finally {
        await reader.close();
      }
    });
    expect(fromDevice.partitions).toEqual(fromFile.partitions);
    expect(fromDevice.backupHeaderLba).toBe(fromFile.backupHeaderLba);
  });

  it('parses and grows a 4Kn table made by sgdisk on a 4096-byte-sector loop device', async () => {
    const path = await emptyFile('4kn.bin', 64 * 2 ** 20);
    await withLoop(path, 4096, (dev) =>
      sgdisk(['-n', '1:256:1279', '-c', '1:EFI-SYSTEM', '-t', '1:EF00', '-n', '9:1280:4095', '-c', '9:ROOT', '-t', '9:3884DD41-8582-4404-B9A8-E9B84F2DF50E', dev]),
    );
    await expect(readGptFromFile(path)).rejects.toMatchObject({ code: 'bad-signature' });
    const table = await readGptFromFile(path, { sectorSize: 4096 });
    expect(table.diskSectors).toBe(16384);
    expect(table.entryArraySectors).toBe(4);
    expect(table.firstUsableLba).toBe(6);
    const root = locatePartition(table, 'ROOT', '3884DD41-8582-4404-B9A8-E9B84F2DF50E');
    expect(root.startByte).toBe(1280 * 4096);
    expect(root.sizeBytes).toBe(2816 * 4096);

    const newSectors = 32768;
    await applyDiskWrites(path, growGpt(table, newSectors, [{ number: 9, lastLba: 20479 }]), newSectors * 4096);
    await withLoop(path, 4096, async (dev) => {
      expect(await sgdisk(['-v', dev])).toContain('No problems found');
      const info = await sgdiskInfo(dev, 9);
      expect(info.last).toBe(20479);
      expect(info.uniqueGuid).toBe(root.uniqueGuid);
      const printed = await sgdiskPrint(dev);
      expect(printed.sectorSize).toBe(4096);
      expect(printed.lastUsable).toBe(newSectors - 6);
    });
    const grown = await readGptFromFile(path, { sectorSize: 4096 });
    expect(grown.backupHeaderLba).toBe(newSectors - 1);
    expect(grown.partitions.map((p) => [p.number, p.lastLba])).toEqual([
      [1, 1279],
      [9, 20479],
    ]);
  });

  it('applyDiskWrites refuses to shrink a file', async () => {
    const path = await emptyFile('noshrink.bin', 2 ** 20);
    await expect(applyDiskWrites(path, [], 2 ** 19)).rejects.toThrow(/refusing to shrink/);
  });
});

describe('GptError', () => {
  it('is a DiskFormatError carrying its code', async () => {
    const err = await readGptFromFile(await emptyFile('zeros2.bin', 2 ** 20)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GptError);
    expect((err as GptError).name).toBe('GptError');
    expect((err as GptError).exitCode).toBe(1);
  });
});
