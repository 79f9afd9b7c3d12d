import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGpt } from '../../src/gpt/parse.js';
import { readGptFromFile } from '../../src/gpt/file.js';
import { GptError, type GptErrorCode, type GptTable } from '../../src/gpt/types.js';
import { DiskFormatError } from '../../src/errors.js';
import {
  FLATCAR_DISK_GUID,
  FLATCAR_DISK_SECTORS,
  FLATCAR_LAYOUT,
  SECTOR,
  SparseDisk,
  backupHeaderOffset,
  fixCrcs,
  makeFlatcarImage,
  makeTempDir,
  setU32,
  setU64,
  sgdisk,
  sgdiskInfo,
  sgdiskPrint,
} from './helpers.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let imagePath: string;
let base: SparseDisk;
let table: GptTable;

beforeAll(async () => {
  tmp = await makeTempDir();
  imagePath = join(tmp.dir, 'flatcar.bin');
  await makeFlatcarImage(imagePath);
  base = await SparseDisk.fromFile(imagePath);
  table = await readGptFromFile(imagePath);
});

afterAll(async () => {
  await tmp?.cleanup();
});

const PRIMARY = SECTOR;
const ENTRIES = 2 * SECTOR;
const entryOffset = (n: number) => ENTRIES + (n - 1) * 128;
const backupEntryOffset = (disk: SparseDisk, n: number) => disk.size - 33 * SECTOR + (n - 1) * 128;

/** Writes the (corrupted) disk to a real file and expects parsing it to fail with `code`. */
async function expectCode(disk: SparseDisk, code: GptErrorCode, message?: RegExp): Promise<GptError> {
  const path = join(tmp.dir, `corrupt-${code}.bin`);
  await disk.writeTo(path);
  const err = await readGptFromFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GptError);
  expect(err).toBeInstanceOf(DiskFormatError);
  const gptErr = err as GptError;
  expect(gptErr.code).toBe(code);
  if (message) expect(gptErr.message).toMatch(message);
  return gptErr;
}

/** Applies the same change to both entry arrays and recomputes every CRC, so only the change itself is wrong. */
function patchBothEntries(disk: SparseDisk, n: number, field: number, value: bigint): void {
  setU64(disk, entryOffset(n) + field, value);
  setU64(disk, backupEntryOffset(disk, n) + field, value);
  fixCrcs(disk, PRIMARY);
  fixCrcs(disk, backupHeaderOffset(disk));
}

describe('parseGpt on an sgdisk-made Flatcar layout', () => {
  it('agrees with sgdisk -p on the disk fields', async () => {
    const p = await sgdiskPrint(imagePath);
    expect(table.sectorSize).toBe(p.sectorSize);
    expect(table.diskSectors).toBe(p.sectors);
    expect(table.diskSizeBytes).toBe(FLATCAR_DISK_SECTORS * SECTOR);
    expect(table.diskGuid).toBe(p.diskGuid);
    expect(table.diskGuid).toBe(FLATCAR_DISK_GUID);
    expect(table.entryCount).toBe(p.entryCount);
    expect(table.entrySize).toBe(128);
    expect(table.primaryEntryArrayLba).toBe(p.mainTableFirst);
    expect(table.primaryEntryArrayLba + table.entryArraySectors - 1).toBe(p.mainTableLast);
    expect(table.firstUsableLba).toBe(p.firstUsable);
    expect(table.lastUsableLba).toBe(p.lastUsable);
    expect(table.primaryHeaderLba).toBe(1);
    expect(table.backupHeaderLba).toBe(p.sectors - 1);
    expect(table.backupEntryArrayLba).toBe(p.lastUsable + 1);
    expect(table.partitions.map((x) => x.number)).toEqual(p.numbers);
  });

  it('agrees with sgdisk -i on every partition, gaps at 5 and 8 included', async () => {
    expect(table.partitions.map((x) => x.number)).toEqual([1, 2, 3, 4, 6, 7, 9]);
    for (const part of table.partitions) {
      const info = await sgdiskInfo(imagePath, part.number);
      const spec = FLATCAR_LAYOUT.find((l) => l.number === part.number)!;
      expect(part.typeGuid).toBe(info.typeGuid);
      expect(part.typeGuid).toBe(spec.type);
      expect(part.uniqueGuid).toBe(info.uniqueGuid);
      if (spec.unique) expect(part.uniqueGuid).toBe(spec.unique);
      expect(part.firstLba).toBe(info.first);
      expect(part.lastLba).toBe(info.last);
      expect(part.firstLba % 4096).toBe(0);
      expect(part.sizeSectors).toBe(info.sizeSectors);
      expect(part.sizeSectors).toBe(spec.size);
      expect(part.attributes).toBe(info.attributes);
      expect(part.name).toBe(info.name);
      expect(part.startByte).toBe(info.first * SECTOR);
      expect(part.sizeBytes).toBe(info.sizeSectors * SECTOR);
      expect(part.raw.length).toBe(128);
      expect(part.raw.equals(base.peek(entryOffset(part.number), 128))).toBe(true);
    }
    expect(table.partitions.find((x) => x.number === 3)!.attributes).toBe((1n << 48n) | (1n << 56n));
    expect(table.partitions.find((x) => x.number === 9)!.attributes).toBe(1n << 60n);
  });

  it('keeps the raw structures for rewriting', () => {
    expect(table.protectiveMbr.equals(base.peek(0, SECTOR))).toBe(true);
    expect(table.primaryHeader.raw.equals(base.peek(PRIMARY, SECTOR))).toBe(true);
    expect(table.backupHeader.raw.equals(base.peek(backupHeaderOffset(base), SECTOR))).toBe(true);
    expect(table.entryArray.equals(base.peek(ENTRIES, 128 * 128))).toBe(true);
    expect(table.primaryHeader.revision).toBe(0x00010000);
    expect(table.primaryHeader.headerSize).toBe(92);
    expect(table.backupHeader.alternateLba).toBe(1);
    expect(table.backupHeader.lba).toBe(table.primaryHeader.alternateLba);
  });

  it('decodes non-ASCII names and 36-unit names with no NUL', async () => {
    const path = join(tmp.dir, 'names.bin');
    await (await open(path, 'w')).close();
    await truncate(path, 16 * 1024 * 1024);
    const long = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    await sgdisk(['-n', '1:2048:4095', '-c', '1:Ünïcødé-名前', '-n', '2:4096:6143', '-c', `2:${long}`, '-n', '3:6144:8191', path]);
    const t = await readGptFromFile(path);
    expect(t.partitions.map((x) => x.name)).toEqual(['Ünïcødé-名前', long, '']);
    expect((await sgdiskInfo(path, 1)).name).toBe('Ünïcødé-名前');
  });

  it('accepts a backup header that is not in the last sector (disk grown after partitioning)', async () => {
    const disk = base.clone();
    disk.size += 1024 * 1024;
    const path = join(tmp.dir, 'grown.bin');
    await disk.writeTo(path);
    const t = await readGptFromFile(path);
    expect(t.backupHeaderLba).toBe(FLATCAR_DISK_SECTORS - 1);
    expect(t.diskSectors).toBe(FLATCAR_DISK_SECTORS + 2048);
    expect(t.partitions).toHaveLength(7);
  });

  it('accepts any header size from 92 up to the sector size', async () => {
    const disk = base.clone();
    for (const h of [PRIMARY, backupHeaderOffset(disk)]) {
      setU32(disk, h + 12, 500);
      fixCrcs(disk, h, { entries: false });
    }
    const t = await parseGpt(disk.reader());
    expect(t.primaryHeader.headerSize).toBe(500);
  });

  it('rejects sector sizes that do not exist', async () => {
    for (const sectorSize of [0, 511, 1000, 131072]) {
      await expect(parseGpt(base.reader(), { sectorSize })).rejects.toMatchObject({ code: 'bad-sector-size' });
    }
  });
});

describe('parseGpt rejects each kind of damage', () => {
  it('header-crc: one flipped byte in the primary header', async () => {
    const disk = base.clone();
    disk.poke(PRIMARY + 60, Buffer.from([base.peek(PRIMARY + 60, 1)[0]! ^ 0x01]));
    const err = await expectCode(disk, 'header-crc', /primary GPT header.*CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\).*sgdisk -e/);
    expect(err.message).toMatch(/re-download/);
  });

  it('entries-crc: one flipped byte in the primary entry array', async () => {
    const disk = base.clone();
    disk.poke(entryOffset(9) + 56, Buffer.from('X'));
    await expectCode(disk, 'entries-crc', /entry array CRC mismatch/);
  });

  it('bad-signature', async () => {
    const disk = base.clone();
    disk.poke(PRIMARY, Buffer.from('EFI PARX'));
    await expectCode(disk, 'bad-signature', /"EFI PARX"/);
  });

  it('bad-revision', async () => {
    const disk = base.clone();
    setU32(disk, PRIMARY + 8, 0x00020000);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-revision');
  });

  it('header-size: too big for the sector, or too small', async () => {
    for (const size of [600, 91, 0]) {
      const disk = base.clone();
      setU32(disk, PRIMARY + 12, size);
      await expectCode(disk, 'header-size', new RegExp(`header size is ${size} bytes`));
    }
  });

  it('bad-lba: MyLBA that is not 1', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 24, 2);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-lba', /MyLBA is 2/);
  });

  it('bad-lba: first usable after last usable', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 40, 16777183);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-lba', /FirstUsableLBA 16777183 is after LastUsableLBA 16777182/);
  });

  it('bad-lba: usable range covering the primary header', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 40, 1);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-lba', /usable range 1\.\.16777182 includes/);
  });

  it('bad-lba: usable range covering the backup header', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 48, FLATCAR_DISK_SECTORS - 1);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-lba', /includes the other header/);
  });

  it('bad-lba: entry array overlapping the usable range', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 72, 20);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-lba', /entry array at LBA 20\.\.51 overlaps the usable range/);
  });

  it('bad-lba: AlternateLBA pointing at the primary itself', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 32, 1);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-lba', /AlternateLBA is 1/);
  });

  it('bad-lba: a 64-bit field beyond what a number holds exactly', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 32, 1n << 60n);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'bad-lba', /AlternateLBA is 1152921504606846976/);
  });

  it('entry-size: not a multiple of 128', async () => {
    for (const size of [0, 100, 192]) {
      const disk = base.clone();
      setU32(disk, PRIMARY + 84, size);
      fixCrcs(disk, PRIMARY, { entries: false });
      await expectCode(disk, 'entry-size');
    }
  });

  it('entry-count: more entries than accepted', async () => {
    for (const [count, size] of [
      [4097, 128],
      [2048, 1024], // 2 MiB array
    ]) {
      const disk = base.clone();
      setU32(disk, PRIMARY + 80, count!);
      setU32(disk, PRIMARY + 84, size!);
      fixCrcs(disk, PRIMARY, { entries: false });
      await expectCode(disk, 'entry-count');
    }
  });

  it('truncated: the file ends before the backup GPT', async () => {
    const disk = base.clone();
    disk.size = 4 * 1024 * 1024 * 1024;
    await expectCode(disk, 'truncated', /AlternateLBA.*16777215.*only 8388608 sectors.*truncated/);
  });

  it('truncated: the file ends inside the primary entry array or header', async () => {
    for (const size of [10 * SECTOR, 3 * SECTOR, 1000, 0]) {
      const disk = base.clone();
      disk.size = size;
      await expectCode(disk, 'truncated');
    }
  });

  it('truncated: a reader that returns fewer bytes than asked', async () => {
    const inner = base.reader();
    const short = { size: inner.size, read: async (o: number, l: number) => (await inner.read(o, l)).subarray(0, Math.max(0, l - 1)) };
    await expect(parseGpt(short)).rejects.toMatchObject({ code: 'truncated' });
    // Short only for the entry array: the header reads fine, the array is cut.
    const shortArray = { size: inner.size, read: async (o: number, l: number) => (await inner.read(o, l)).subarray(0, l > SECTOR ? SECTOR : l) };
    await expect(parseGpt(shortArray)).rejects.toMatchObject({ code: 'truncated', message: expect.stringMatching(/returned 512 of 16384/) });
  });

  it('no-protective-mbr: missing 0x55AA', async () => {
    const disk = base.clone();
    disk.poke(510, Buffer.from([0x55, 0x00]));
    await expectCode(disk, 'no-protective-mbr', /55aa/);
  });

  it('no-protective-mbr: no partition of type 0xEE', async () => {
    const disk = base.clone();
    disk.poke(446 + 4, Buffer.from([0x83]));
    await expectCode(disk, 'no-protective-mbr', /0xEE/);
  });

  it('overlap: partition 2 moved into partition 1, CRCs recomputed', async () => {
    const disk = base.clone();
    patchBothEntries(disk, 2, 32, 2101240n);
    await expectCode(disk, 'overlap', /partitions 1 \(EFI-SYSTEM\) at 4096\.\.2101247 and 2 \(BIOS-BOOT\) at 2101240\.\.2105343 overlap/);
  });

  it('overlap: sharing just one sector', async () => {
    const disk = base.clone();
    patchBothEntries(disk, 2, 32, 2101247n);
    await expectCode(disk, 'overlap', /at 4096\.\.2101247 and 2 \(BIOS-BOOT\) at 2101247\.\./);
  });

  it('overlap: a partition nested inside a larger one that is not its neighbour in entry order', async () => {
    const disk = base.clone();
    // ROOT (9) placed inside USR-A (3), which also contains nothing else.
    patchBothEntries(disk, 9, 32, 3000000n);
    patchBothEntries(disk, 9, 40, 3000100n);
    await expectCode(disk, 'overlap', /partitions 3 \(USR-A\).* and 9 \(ROOT\)/);
  });

  it('bad-partition: first after last, outside the usable range, unsafe LBA', async () => {
    const cases: [number, number, bigint, RegExp][] = [
      [4, 32, 10493952n, /first LBA 10493952 is after last LBA 10493951/],
      [1, 32, 33n, /outside the usable range 34\.\.16777182/],
      [9, 40, 16777183n, /outside the usable range/],
      [9, 40, 1n << 62n, /last LBA is 4611686018427387904/],
    ];
    for (const [n, field, value, message] of cases) {
      const disk = base.clone();
      patchBothEntries(disk, n, field, value);
      await expectCode(disk, 'bad-partition', message);
    }
  });

  it('backup-header-crc: one flipped byte in the backup header', async () => {
    const disk = base.clone();
    const off = backupHeaderOffset(disk) + 60;
    disk.poke(off, Buffer.from([disk.peek(off, 1)[0]! ^ 0x80]));
    await expectCode(disk, 'backup-header-crc', /backup GPT header.*primary GPT is intact.*sgdisk -e/);
  });

  it('backup-bad-signature: backup header wiped', async () => {
    const disk = base.clone();
    disk.poke(backupHeaderOffset(disk), Buffer.alloc(SECTOR));
    await expectCode(disk, 'backup-bad-signature');
  });

  it('backup-entries-crc: one flipped byte in the backup entry array', async () => {
    const disk = base.clone();
    disk.poke(backupEntryOffset(disk, 3) + 20, Buffer.from([0x42]));
    await expectCode(disk, 'backup-entries-crc');
  });

  it('backup-mismatch: backup entries differ, all CRCs valid', async () => {
    const disk = base.clone();
    disk.poke(backupEntryOffset(disk, 9) + 56, Buffer.from('B\0'));
    fixCrcs(disk, backupHeaderOffset(disk));
    await expectCode(disk, 'backup-mismatch', /entry array CRC.*primary GPT is intact/);
  });

  it('backup-mismatch: backup describes a different usable range or disk GUID', async () => {
    for (const [field, value] of [
      [48, 16777000n],
      [56, 0x1234n],
    ] as const) {
      const disk = base.clone();
      setU64(disk, backupHeaderOffset(disk) + field, value);
      fixCrcs(disk, backupHeaderOffset(disk));
      await expectCode(disk, 'backup-mismatch');
    }
  });

  it('backup-bad-lba: backup AlternateLBA not pointing back at LBA 1', async () => {
    const disk = base.clone();
    setU64(disk, backupHeaderOffset(disk) + 32, 2);
    fixCrcs(disk, backupHeaderOffset(disk));
    await expectCode(disk, 'backup-bad-lba', /AlternateLBA is 2, expected 1/);
  });

  it('backup-bad-lba: backup entry array placed on the primary one', async () => {
    const disk = base.clone();
    setU64(disk, backupHeaderOffset(disk) + 72, 2);
    fixCrcs(disk, backupHeaderOffset(disk));
    await expectCode(disk, 'backup-bad-lba', /overlaps the primary entry array/);
  });

  it('backup-bad-signature: primary AlternateLBA inside the disk but at a sector holding no header', async () => {
    const disk = base.clone();
    setU64(disk, PRIMARY + 32, FLATCAR_DISK_SECTORS - 2);
    fixCrcs(disk, PRIMARY);
    await expectCode(disk, 'backup-bad-signature');
  });
});
