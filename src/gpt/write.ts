/**
 * Rewriting a parsed GPT for a bigger disk: the backup moves to the new end,
 * LastUsableLBA follows it, and partitions may grow into the new space.
 * Pure: it returns the bytes to write and touches nothing.
 */
import { crc32 } from './crc32.js';
import { ENT, GptError, HDR, MBR, MBR_TYPE_GPT_PROTECTIVE, type GptTable } from './types.js';

export interface PartitionChange {
  /** Entry number (1-based), as in GptPartition.number. */
  number: number;
  /** New last sector (inclusive). Partitions can only grow. */
  lastLba: number;
}

export interface DiskWrite {
  /** Byte offset on the disk. */
  offset: number;
  data: Buffer;
  /** What the bytes are, for logs. */
  what: string;
}

const MBR_MAX_SECTORS = 0xffffffff;

function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
}

/** The smallest multiple of `multiple` that is >= `value`. */
export function alignUp(value: number, multiple: number): number {
  checkCount(value, 'alignUp value');
  checkCount(multiple, 'alignUp multiple');
  if (multiple === 0) throw new RangeError('alignUp multiple must be positive');
  // Integer remainder instead of Math.ceil(value / multiple): the division can round for values near 2^53.
  const rest = value % multiple;
  const result = rest === 0 ? value : value + (multiple - rest);
  if (!Number.isSafeInteger(result)) throw new RangeError(`alignUp(${value}, ${multiple}) is beyond 2^53`);
  return result;
}

/** CHS tuple for an MBR entry, using the 255-head/63-sector geometry; 0xFFFFFF when out of CHS range (as UEFI asks). */
function chsBytes(lba: number): [number, number, number] {
  const heads = 255;
  const sectors = 63;
  if (lba >= 1024 * heads * sectors) return [0xff, 0xff, 0xff];
  const cylinder = Math.floor(lba / (heads * sectors));
  const head = Math.floor(lba / sectors) % heads;
  const sector = (lba % sectors) + 1;
  return [head, sector | ((cylinder >> 2) & 0xc0), cylinder & 0xff];
}

function writeU64(buf: Buffer, offset: number, value: number): void {
  buf.writeBigUInt64LE(BigInt(value), offset);
}

function sealHeader(sector: Buffer): void {
  const headerSize = sector.readUInt32LE(HDR.headerSize);
  sector.writeUInt32LE(0, HDR.headerCrc32);
  sector.writeUInt32LE(crc32(sector.subarray(0, headerSize)), HDR.headerCrc32);
}

/**
 * Bytes that turn `table` into a valid GPT for a disk of `newDiskSectors`
 * sectors, with the given partitions grown. The file or device must already
 * be that big. Write the pieces in the order returned: the new backup comes
 * first and the old backup is cleared last, so an interruption leaves at
 * least one consistent table on the disk.
 */
export function growGpt(table: GptTable, newDiskSectors: number, changes: readonly PartitionChange[] = []): DiskWrite[] {
  const ss = table.sectorSize;
  checkCount(newDiskSectors, 'new disk size in sectors');
  if (!Number.isSafeInteger(newDiskSectors * ss)) {
    throw new GptError('resize-range', `a disk of ${newDiskSectors} sectors is too big to handle`);
  }
  if (newDiskSectors < table.diskSectors) {
    throw new GptError(
      'shrink',
      `the disk can only grow: ${newDiskSectors} sectors is smaller than its current ${table.diskSectors}; pick a layout at least as big as the image`,
    );
  }

  const arraySectors = table.entryArraySectors;
  const backupHeaderLba = newDiskSectors - 1;
  const backupArrayLba = backupHeaderLba - arraySectors;
  const lastUsableLba = backupArrayLba - 1;
  const primaryArrayEnd = table.primaryEntryArrayLba + arraySectors - 1;
  if (lastUsableLba < table.firstUsableLba || backupArrayLba <= Math.max(primaryArrayEnd, table.primaryHeaderLba)) {
    throw new GptError('resize-range', `a disk of ${newDiskSectors} sectors has no room for the table's usable range and backup`);
  }

  const entries = Buffer.from(table.entryArray);
  const newLast = new Map<number, number>();
  for (const change of changes) {
    const p = table.partitions.find((q) => q.number === change.number);
    const label = p?.name ? `${change.number} (${p.name})` : String(change.number);
    if (!p) {
      throw new GptError('no-such-partition', `cannot grow partition ${change.number}: the table has no such partition`);
    }
    if (newLast.has(change.number)) {
      throw new GptError('resize-range', `partition ${label} is listed twice in the changes`);
    }
    if (!Number.isSafeInteger(change.lastLba)) {
      throw new GptError('resize-range', `new last sector ${change.lastLba} of partition ${label} is not an integer`);
    }
    if (change.lastLba < p.lastLba) {
      throw new GptError(
        'shrink',
        `partition ${label} can only grow: new last sector ${change.lastLba} is before its current ${p.lastLba}`,
      );
    }
    if (change.lastLba > lastUsableLba) {
      throw new GptError(
        'resize-range',
        `partition ${label} would end at sector ${change.lastLba}, past the last usable sector ${lastUsableLba} of a ${newDiskSectors}-sector disk; make the disk bigger`,
      );
    }
    const next = table.partitions
      .filter((q) => q !== p && q.firstLba > p.firstLba && q.firstLba <= change.lastLba)
      .sort((a, b) => a.firstLba - b.firstLba)[0];
    if (next) {
      throw new GptError(
        'overlap',
        `partition ${label} cannot end at sector ${change.lastLba}: partition ${next.number}${next.name ? ` (${next.name})` : ''} starts at ${next.firstLba}`,
      );
    }
    newLast.set(change.number, change.lastLba);
    writeU64(entries, (p.number - 1) * table.entrySize + ENT.lastLba, change.lastLba);
  }
  for (const p of table.partitions) {
    const last = newLast.get(p.number) ?? p.lastLba;
    if (last > lastUsableLba) {
      throw new GptError('resize-range', `partition ${p.number} ends at ${last}, past the new last usable sector ${lastUsableLba}`);
    }
  }

  const entriesCrc = crc32(entries);
  // Arrays are written as whole sectors so the backup copy does not inherit stray bytes at the new end.
  const paddedEntries = Buffer.alloc(arraySectors * ss);
  entries.copy(paddedEntries);

  const primary = Buffer.from(table.primaryHeader.raw);
  writeU64(primary, HDR.alternateLba, backupHeaderLba);
  writeU64(primary, HDR.lastUsableLba, lastUsableLba);
  primary.writeUInt32LE(entriesCrc, HDR.entryArrayCrc32);
  sealHeader(primary);

  // The backup is the primary with its own location and the pointers swapped.
  const backup = Buffer.from(primary);
  writeU64(backup, HDR.myLba, backupHeaderLba);
  writeU64(backup, HDR.alternateLba, table.primaryHeaderLba);
  writeU64(backup, HDR.entryArrayLba, backupArrayLba);
  sealHeader(backup);

  const mbr = Buffer.from(table.protectiveMbr);
  // Only a 0xEE entry that covered the whole old disk is stretched; hybrid MBR entries keep their extent.
  const oldCovered = Math.min(table.backupHeaderLba, MBR_MAX_SECTORS);
  const mbrSectors = Math.min(newDiskSectors - 1, MBR_MAX_SECTORS);
  for (let i = 0; i < MBR.partitionCount; i++) {
    const e = MBR.partitionTable + i * MBR.partitionEntrySize;
    if (mbr[e + 4] !== MBR_TYPE_GPT_PROTECTIVE) continue;
    if (mbr.readUInt32LE(e + 8) !== 1 || mbr.readUInt32LE(e + 12) < oldCovered) continue;
    mbr.writeUInt32LE(mbrSectors, e + 12);
    const [h, s, c] = chsBytes(mbrSectors);
    mbr[e + 5] = h;
    mbr[e + 6] = s;
    mbr[e + 7] = c;
  }

  const writes: DiskWrite[] = [
    { offset: backupArrayLba * ss, data: paddedEntries, what: 'backup GPT entry array' },
    { offset: backupHeaderLba * ss, data: backup, what: 'backup GPT header' },
    { offset: table.primaryEntryArrayLba * ss, data: Buffer.from(paddedEntries), what: 'primary GPT entry array' },
    { offset: table.primaryHeaderLba * ss, data: primary, what: 'primary GPT header' },
    { offset: 0, data: mbr, what: 'protective MBR' },
  ];

  // The old backup now sits in usable space; clear it so nothing mistakes it for a live table later.
  if (table.backupHeaderLba !== backupHeaderLba) {
    const stale = [
      { first: table.backupEntryArrayLba, count: arraySectors },
      { first: table.backupHeaderLba, count: 1 },
    ];
    for (const { first, count } of stale) {
      const end = Math.min(first + count, backupArrayLba);
      if (end > first) {
        writes.push({ offset: first * ss, data: Buffer.alloc((end - first) * ss), what: 'old backup GPT (cleared)' });
      }
    }
  }
  return writes;
}
