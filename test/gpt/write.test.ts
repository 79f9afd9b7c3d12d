import { copyFile, open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDiskWrites, readGptFromFile } from '../../src/gpt/file.js';
import { locatePartition } from '../../src/gpt/locate.js';
import { parseGpt } from '../../src/gpt/parse.js';
import { GptError, type GptTable } from '../../src/gpt/types.js';
import { alignUp, growGpt, type DiskWrite } from '../../src/gpt/write.js';
import { FLATCAR_DISK_SECTORS, SECTOR, SparseDisk, makeFlatcarImage, makeTempDir, sgdisk, sgdiskInfo, sgdiskPrint } from './helpers.js';

const VM_ROOT_SECTORS = 12943360;
const DISK_ALIGN = 258048;

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let base: SparseDisk;
let table: GptTable;

beforeAll(async () => {
  tmp = await makeTempDir();
  const path = join(tmp.dir, 'flatcar.bin');
  await makeFlatcarImage(path);
  base = await SparseDisk.fromFile(path);
  table = await readGptFromFile(path);
});

afterAll(async () => {
  await tmp?.cleanup();
});

async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GptError);
    return (err as GptError).code;
  }
  throw new Error('expected a GptError, nothing was thrown');
}

describe('alignUp', () => {
  it('rounds up to a multiple', () => {
    expect(alignUp(0, 4096)).toBe(0);
    expect(alignUp(1, 4096)).toBe(4096);
    expect(alignUp(4096, 4096)).toBe(4096);
    expect(alignUp(4097, 4096)).toBe(8192);
    expect(alignUp(25665569, DISK_ALIGN)).toBe(100 * DISK_ALIGN);
    expect(alignUp(2 ** 53 - 2, 2)).toBe(2 ** 53 - 2);
  });

  it('rejects nonsense', () => {
    expect(() => alignUp(5, 0)).toThrow(RangeError);
    expect(() => alignUp(-1, 8)).toThrow(RangeError);
    expect(() => alignUp(1.5, 8)).toThrow(RangeError);
    expect(() => alignUp(2 ** 53 - 1, 2)).toThrow(RangeError);
  });
});

describe('growGpt on the Flatcar layout', () => {
  it('grows ROOT to the vm layout and moves the backup GPT; sgdisk agrees', async () => {
    const path = join(tmp.dir, 'vm.bin');
    await base.writeTo(path);
    const root = locatePartition(table, 'ROOT');
    const rootLast = root.firstLba + VM_ROOT_SECTORS - 1;
    const newSectors = alignUp(rootLast + 1 + 33, DISK_ALIGN);
    expect(newSectors).toBe(25804800);

    const writes = growGpt(table, newSectors, [{ number: root.number, lastLba: rootLast }]);
    await applyDiskWrites(path, writes, newSectors * SECTOR);

    const verify = await sgdisk(['-v', path]);
    expect(verify).toContain('No problems found');
    const info = await sgdiskInfo(path, 9);
    expect(info.last).toBe(rootLast);
    expect(info.first).toBe(root.firstLba);
    expect(info.sizeSectors).toBe(VM_ROOT_SECTORS);
    expect(info.uniqueGuid).toBe(root.uniqueGuid);
    expect(info.name).toBe('ROOT');
    expect(info.attributes).toBe(root.attributes);
    const printed = await sgdiskPrint(path);
    expect(printed.sectors).toBe(newSectors);
    expect(printed.lastUsable).toBe(newSectors - 34);

    const grown = await readGptFromFile(path);
    expect(grown.diskSectors).toBe(newSectors);
    expect(grown.backupHeaderLba).toBe(newSectors - 1);
    expect(grown.backupEntryArrayLba).toBe(newSectors - 33);
    expect(grown.lastUsableLba).toBe(newSectors - 34);
    expect(grown.diskGuid).toBe(table.diskGuid);
    expect(grown.partitions).toHaveLength(table.partitions.length);
    for (const before of table.partitions) {
      const after = grown.partitions.find((p) => p.number === before.number)!;
      if (before.number === 9) {
        expect(after.lastLba).toBe(rootLast);
        // Only the last-LBA field of the entry changed.
        expect(Buffer.concat([after.raw.subarray(0, 40), after.raw.subarray(48)]).equals(Buffer.concat([before.raw.subarray(0, 40), before.raw.subarray(48)]))).toBe(true);
      } else {
        expect(after.raw.equals(before.raw)).toBe(true);
      }
    }

    // Protective MBR: starts at 1, covers the whole disk, everything else in sector 0 untouched.
    const mbr = await readBytes(path, 0, SECTOR);
    expect(mbr.readUInt32LE(446 + 8)).toBe(1);
    expect(mbr.readUInt32LE(446 + 12)).toBe(newSectors - 1);
    expect(Buffer.concat([mbr.subarray(0, 446 + 12), mbr.subarray(446 + 16)]).equals(Buffer.concat([table.protectiveMbr.subarray(0, 446 + 12), table.protectiveMbr.subarray(446 + 16)]))).toBe(true);

    // The old backup GPT (last 33 sectors of the 8 GiB disk) was cleared.
    const oldBackup = await readBytes(path, (FLATCAR_DISK_SECTORS - 33) * SECTOR, 33 * SECTOR);
    expect(oldBackup.equals(Buffer.alloc(33 * SECTOR))).toBe(true);
  });

  it('orders the writes so the new backup exists before the primary points at it', () => {
    const root = locatePartition(table, 'ROOT');
    const writes = growGpt(table, FLATCAR_DISK_SECTORS + 4096, [{ number: 9, lastLba: root.lastLba + 4096 }]);
    expect(writes.map((w) => w.what)).toEqual([
      'backup GPT entry array',
      'backup GPT header',
      'primary GPT entry array',
      'primary GPT header',
      'protective MBR',
      'old backup GPT (cleared)',
      'old backup GPT (cleared)',
    ]);
  });

  it('reproduces the existing bytes exactly when nothing changes', () => {
    const writes = growGpt(table, table.diskSectors);
    expect(writes).toHaveLength(5);
    for (const w of writes) {
      expect(w.data.equals(base.peek(w.offset, w.data.length)), w.what).toBe(true);
    }
  });

  it('writes a table our parser reads back (in memory, disk grown by one sector)', async () => {
    const disk = base.clone();
    disk.extend(SECTOR);
    const writes = growGpt(table, table.diskSectors + 1);
    for (const w of writes) disk.poke(w.offset, w.data);
    const t = await parseGpt(disk.reader());
    expect(t.backupHeaderLba).toBe(table.diskSectors);
    expect(t.lastUsableLba).toBe(table.lastUsableLba + 1);
    // The one old backup sector not reused (its entry array's first sector) was cleared.
    expect(disk.peek((table.diskSectors - 33) * SECTOR, SECTOR).equals(Buffer.alloc(SECTOR))).toBe(true);
  });

  it('caps the protective MBR size at 0xFFFFFFFF on a disk over 2 TiB', async () => {
    const path = join(tmp.dir, 'huge.bin');
    await base.writeTo(path);
    const newSectors = alignUp((3 * 2 ** 40) / SECTOR, DISK_ALIGN);
    const root = locatePartition(table, 'ROOT');
    const rootLast = alignUp(newSectors - 34 - 4096, 4096) - 1;
    await applyDiskWrites(path, growGpt(table, newSectors, [{ number: 9, lastLba: rootLast }]), newSectors * SECTOR);
    expect(await sgdisk(['-v', path])).toContain('No problems found');
    const mbr = await readBytes(path, 446, 16);
    expect(mbr.readUInt32LE(12)).toBe(0xffffffff);
    expect([...mbr.subarray(5, 8)]).toEqual([0xff, 0xff, 0xff]);
    const t = await readGptFromFile(path);
    expect(t.partitions.find((p) => p.number === 9)!.lastLba).toBe(rootLast);
    expect(t.partitions.find((p) => p.number === 9)!.sizeBytes).toBe((rootLast - root.firstLba + 1) * SECTOR);
  });
});

describe('growGpt compared with sgdisk -e on a small disk', () => {
  it('writes the same GPT and MBR bytes as sgdisk when moving the backup to the new end', async () => {
    const ours = join(tmp.dir, 'small-ours.bin');
    const theirs = join(tmp.dir, 'small-sgdisk.bin');
    await (await open(ours, 'w')).close();
    await truncate(ours, 10 * 2 ** 20);
    await sgdisk(['-n', '1:2048:6143', '-c', '1:EFI', '-n', '3:6144:10239', '-c', '3:DATA', ours]);
    await truncate(ours, 20 * 2 ** 20);
    await copyFile(ours, theirs);

    const before = await readGptFromFile(ours);
    expect(before.backupHeaderLba).toBe(20479);
    const newSectors = (20 * 2 ** 20) / SECTOR;
    await applyDiskWrites(ours, growGpt(before, newSectors));
    await sgdisk(['-e', theirs]);

    const a = await readFile(ours);
    const b = await readFile(theirs);
    const regions: [string, number, number][] = [
      ['MBR', 0, SECTOR],
      ['primary header', SECTOR, 92],
      ['primary entries', 2 * SECTOR, 32 * SECTOR],
      ['backup entries', (newSectors - 33) * SECTOR, 32 * SECTOR],
      ['backup header', (newSectors - 1) * SECTOR, 92],
    ];
    for (const [what, offset, length] of regions) {
      expect(a.subarray(offset, offset + length).toString('hex'), what).toBe(b.subarray(offset, offset + length).toString('hex'));
    }
    expect(await sgdisk(['-v', ours])).toContain('No problems found');
  });
});

describe('growGpt refuses bad requests', () => {
  const root = () => locatePartition(table, 'ROOT');

  it('shrink: a smaller disk', () => {
    expect(errorCode(() => growGpt(table, table.diskSectors - 1))).toBe('shrink');
    expect(() => growGpt(table, 1000)).toThrow(/can only grow/);
  });

  it('shrink: a smaller partition', () => {
    expect(errorCode(() => growGpt(table, table.diskSectors * 2, [{ number: 9, lastLba: root().lastLba - 1 }]))).toBe('shrink');
  });

  it('no-such-partition: an empty or missing entry', () => {
    for (const number of [5, 8, 0, 200]) {
      expect(errorCode(() => growGpt(table, table.diskSectors * 2, [{ number, lastLba: 30000000 }]))).toBe('no-such-partition');
    }
  });

  it('overlap: growing into the next partition', () => {
    const usrA = locatePartition(table, 'USR-A');
    const usrB = locatePartition(table, 'USR-B');
    expect(errorCode(() => growGpt(table, table.diskSectors, [{ number: 3, lastLba: usrB.firstLba }]))).toBe('overlap');
    expect(() => growGpt(table, table.diskSectors, [{ number: 3, lastLba: usrB.lastLba + 100 }])).toThrow(/partition 3 \(USR-A\) cannot end at sector \d+: partition 4 \(USR-B\) starts at/);
    // Right up to the neighbour is fine (here there is no gap, so that is the current end).
    expect(growGpt(table, table.diskSectors, [{ number: 3, lastLba: usrA.lastLba }])).toHaveLength(5);
  });

  it('resize-range: past the new last usable sector, or a duplicate or fractional change', () => {
    const newSectors = table.diskSectors + DISK_ALIGN;
    const lastUsable = newSectors - 34;
    expect(errorCode(() => growGpt(table, newSectors, [{ number: 9, lastLba: lastUsable + 1 }]))).toBe('resize-range');
    expect(growGpt(table, newSectors, [{ number: 9, lastLba: lastUsable }]).length).toBeGreaterThan(5);
    expect(
      errorCode(() =>
        growGpt(table, newSectors, [
          { number: 9, lastLba: lastUsable },
          { number: 9, lastLba: lastUsable },
        ]),
      ),
    ).toBe('resize-range');
    expect(errorCode(() => growGpt(table, newSectors, [{ number: 9, lastLba: lastUsable - 0.5 }]))).toBe('resize-range');
    expect(errorCode(() => growGpt(table, 2 ** 53 / 256))).toBe('resize-range');
  });

  it('does not modify the parsed table', () => {
    const snapshot = Buffer.from(table.entryArray);
    const header = Buffer.from(table.primaryHeader.raw);
    const writes: DiskWrite[] = growGpt(table, table.diskSectors * 2, [{ number: 9, lastLba: table.diskSectors }]);
    expect(writes.length).toBeGreaterThan(0);
    expect(table.entryArray.equals(snapshot)).toBe(true);
    expect(table.primaryHeader.raw.equals(header)).toBe(true);
  });
});
