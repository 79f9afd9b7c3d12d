/**
 * GPT reader. All checks are done on bytes handed over by a ByteReader, so
 * the same code parses files, block devices and in-memory test images.
 */
import { crc32 } from './crc32.js';
import { guidFromBytes, isZeroGuidBytes } from './guid.js';
import {
  ENT,
  GPT_MAX_ENTRIES,
  GPT_MAX_ENTRY_ARRAY_BYTES,
  GPT_MIN_ENTRY_SIZE,
  GPT_MIN_HEADER_SIZE,
  GPT_REVISION_1_0,
  GPT_SIGNATURE,
  GptError,
  HDR,
  MBR,
  MBR_TYPE_GPT_PROTECTIVE,
  type ByteReader,
  type GptErrorCode,
  type GptHeader,
  type GptHeaderCheck,
  type GptPartition,
  type GptTable,
} from './types.js';

export interface ParseOptions {
  /** Logical sector size in bytes; 512 unless the disk is 4Kn. */
  sectorSize?: number;
}

type Role = 'primary' | 'backup';

const PRIMARY_ADVICE = 'the image is damaged or not a GPT disk; re-download it or repair it with `sgdisk -e <image>`';
const TRUNCATED_ADVICE = 'the image is probably truncated (an interrupted download or copy); re-download it';
const BACKUP_ADVICE = 'the primary GPT is intact, so `sgdisk -e <image>` can rewrite the backup from it';

/** Builds errors for one header so each message names the header and ends with what to do. */
class HeaderContext {
  constructor(
    readonly role: Role,
    readonly lba: number,
  ) {}

  code(check: GptHeaderCheck): GptErrorCode {
    return this.role === 'backup' ? `backup-${check}` : check;
  }

  fail(check: GptHeaderCheck, problem: string): GptError {
    const advice =
      this.role === 'primary'
        ? check === 'truncated'
          ? TRUNCATED_ADVICE
          : PRIMARY_ADVICE
        : check === 'truncated'
          ? `${TRUNCATED_ADVICE} (${BACKUP_ADVICE} at the current end)`
          : BACKUP_ADVICE;
    return new GptError(this.code(check), `${this.role} GPT header (LBA ${this.lba}): ${problem}: ${advice}`);
  }
}

const hex32 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** A sector range, inclusive, with what occupies it (for overlap messages). */
interface Region {
  first: number;
  last: number;
  what: string;
}

const intersects = (a: Region, b: Region) => a.first <= b.last && b.first <= a.last;

function checkSectorSize(sectorSize: number): void {
  // 512 and 4096 are what exists; any power of two in between or up to 64 KiB is harmless to accept.
  if (!Number.isInteger(sectorSize) || sectorSize < 512 || sectorSize > 65536 || (sectorSize & (sectorSize - 1)) !== 0) {
    throw new GptError('bad-sector-size', `sector size ${sectorSize} is not a power of two between 512 and 65536`);
  }
}

/**
 * Reads exactly `length` bytes. A range past the end of the disk is refused
 * here rather than handed to the reader, and a short read is truncation.
 */
async function readExact(
  reader: ByteReader,
  offset: number,
  length: number,
  what: string,
  truncated: (problem: string) => GptError,
): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  if (offset < 0 || offset + length > reader.size) {
    throw truncated(`the ${what} (bytes ${offset}..${offset + length - 1}) lies beyond the end of the disk (${reader.size} bytes)`);
  }
  const data = await reader.read(offset, length);
  if (data.length < length) {
    throw truncated(`reading the ${what} returned ${data.length} of ${length} bytes`);
  }
  // Copy: the table keeps these buffers and must not alias the reader's memory.
  return Buffer.from(data.subarray(0, length));
}

function checkProtectiveMbr(sector: Buffer): void {
  const advice = 'this is not a GPT disk image (or its first sector was overwritten); check that you passed the right file';
  if (sector[MBR.signature] !== 0x55 || sector[MBR.signature + 1] !== 0xaa) {
    const found = sector.subarray(MBR.signature, MBR.signature + 2).toString('hex');
    throw new GptError('no-protective-mbr', `sector 0 has no MBR boot signature 55aa (found ${found}): ${advice}`);
  }
  for (let i = 0; i < MBR.partitionCount; i++) {
    if (sector[MBR.partitionTable + i * MBR.partitionEntrySize + 4] === MBR_TYPE_GPT_PROTECTIVE) return;
  }
  throw new GptError('no-protective-mbr', `the MBR in sector 0 has no partition of type 0xEE (GPT protective): ${advice}`);
}

/** Reads a 64-bit field as a number, refusing values a JS number cannot hold exactly. */
function u64(buf: Buffer, offset: number, fail: (problem: string) => GptError, field: string): number {
  const value = buf.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw fail(`${field} is ${value}, far beyond any disk`);
  }
  return Number(value);
}

interface HeaderExpectations {
  role: Role;
  lba: number;
  /** Required AlternateLBA; undefined means "anywhere inside the disk". */
  alternateLba: number | undefined;
  diskSectors: number;
  sectorSize: number;
  /** Sectors that must stay clear of this header's usable range and entry array. */
  reserved: Region[];
}

function checkHeader(sector: Buffer, exp: HeaderExpectations): GptHeader {
  const ctx = new HeaderContext(exp.role, exp.lba);
  const lastSector = exp.diskSectors - 1;

  const signature = sector.subarray(HDR.signature, HDR.signature + 8).toString('latin1');
  if (signature !== GPT_SIGNATURE) {
    throw ctx.fail('bad-signature', `signature is ${JSON.stringify(signature)}, not "${GPT_SIGNATURE}"`);
  }
  const revision = sector.readUInt32LE(HDR.revision);
  if (revision !== GPT_REVISION_1_0) {
    throw ctx.fail('bad-revision', `revision is ${hex32(revision)}, only 1.0 (0x00010000) is defined`);
  }
  const headerSize = sector.readUInt32LE(HDR.headerSize);
  if (headerSize < GPT_MIN_HEADER_SIZE || headerSize > exp.sectorSize) {
    throw ctx.fail('header-size', `header size is ${headerSize} bytes, not between ${GPT_MIN_HEADER_SIZE} and the sector size ${exp.sectorSize}`);
  }
  const storedCrc = sector.readUInt32LE(HDR.headerCrc32);
  const copy = Buffer.from(sector.subarray(0, headerSize));
  copy.writeUInt32LE(0, HDR.headerCrc32);
  const computedCrc = crc32(copy);
  if (storedCrc !== computedCrc) {
    throw ctx.fail('header-crc', `CRC mismatch (stored ${hex32(storedCrc)}, computed ${hex32(computedCrc)})`);
  }

  const badLba = (problem: string) => ctx.fail('bad-lba', problem);
  const myLba = u64(sector, HDR.myLba, badLba, 'MyLBA');
  const alternateLba = u64(sector, HDR.alternateLba, badLba, 'AlternateLBA');
  const firstUsableLba = u64(sector, HDR.firstUsableLba, badLba, 'FirstUsableLBA');
  const lastUsableLba = u64(sector, HDR.lastUsableLba, badLba, 'LastUsableLBA');
  const entryArrayLba = u64(sector, HDR.entryArrayLba, badLba, 'PartitionEntryLBA');
  const entryCount = sector.readUInt32LE(HDR.entryCount);
  const entrySize = sector.readUInt32LE(HDR.entrySize);

  if (myLba !== exp.lba) {
    throw badLba(`MyLBA is ${myLba}, but the header was read from LBA ${exp.lba}`);
  }
  const beyond = (field: string, value: number) =>
    ctx.fail('truncated', `${field} is ${value}, but the disk has only ${exp.diskSectors} sectors of ${exp.sectorSize} bytes`);
  if (exp.alternateLba !== undefined) {
    if (alternateLba !== exp.alternateLba) {
      throw badLba(`AlternateLBA is ${alternateLba}, expected ${exp.alternateLba}`);
    }
  } else {
    if (alternateLba > lastSector) throw beyond('AlternateLBA (the backup header)', alternateLba);
    if (alternateLba <= myLba) {
      throw badLba(`AlternateLBA is ${alternateLba}: the backup header must come after the primary one`);
    }
  }
  if (firstUsableLba > lastUsableLba) {
    throw badLba(`FirstUsableLBA ${firstUsableLba} is after LastUsableLBA ${lastUsableLba}`);
  }
  if (lastUsableLba > lastSector) throw beyond('LastUsableLBA', lastUsableLba);

  const headers: Region[] = [
    ...exp.reserved,
    { first: myLba, last: myLba, what: `this header (LBA ${myLba})` },
    { first: alternateLba, last: alternateLba, what: `the other header (LBA ${alternateLba})` },
  ];
  const usable: Region = { first: firstUsableLba, last: lastUsableLba, what: 'the usable range' };
  for (const r of headers) {
    if (intersects(usable, r)) {
      throw badLba(`the usable range ${firstUsableLba}..${lastUsableLba} includes ${r.what}`);
    }
  }

  if (entrySize < GPT_MIN_ENTRY_SIZE || entrySize % GPT_MIN_ENTRY_SIZE !== 0) {
    throw ctx.fail('entry-size', `partition entry size is ${entrySize}, not a multiple of ${GPT_MIN_ENTRY_SIZE}`);
  }
  const arrayBytes = entryCount * entrySize; // both < 2^32, so exact
  if (entryCount > GPT_MAX_ENTRIES || arrayBytes > GPT_MAX_ENTRY_ARRAY_BYTES) {
    throw ctx.fail(
      'entry-count',
      `${entryCount} entries of ${entrySize} bytes exceed the limits this tool accepts (${GPT_MAX_ENTRIES} entries, ${GPT_MAX_ENTRY_ARRAY_BYTES} bytes)`,
    );
  }
  const arraySectors = Math.ceil(arrayBytes / exp.sectorSize);
  if (arraySectors > 0) {
    const array: Region = { first: entryArrayLba, last: entryArrayLba + arraySectors - 1, what: 'the entry array' };
    if (array.last > lastSector) throw beyond(`the end of the partition entry array (LBA ${entryArrayLba} + ${arraySectors} sectors)`, array.last);
    for (const r of [...headers, usable]) {
      if (intersects(array, r)) {
        throw badLba(`the partition entry array at LBA ${array.first}..${array.last} overlaps ${r.what}`);
      }
    }
  }

  return {
    lba: myLba,
    alternateLba,
    revision,
    headerSize,
    headerCrc32: storedCrc,
    firstUsableLba,
    lastUsableLba,
    diskGuid: guidFromBytes(sector, HDR.diskGuid),
    entryArrayLba,
    entryCount,
    entrySize,
    entryArrayCrc32: sector.readUInt32LE(HDR.entryArrayCrc32),
    raw: Buffer.from(sector),
  };
}

async function readEntryArray(reader: ByteReader, header: GptHeader, role: Role, sectorSize: number): Promise<Buffer> {
  const ctx = new HeaderContext(role, header.lba);
  const array = await readExact(
    reader,
    header.entryArrayLba * sectorSize,
    header.entryCount * header.entrySize,
    'partition entry array',
    (problem) => ctx.fail('truncated', problem),
  );
  const computed = crc32(array);
  if (computed !== header.entryArrayCrc32) {
    throw ctx.fail(
      'entries-crc',
      `partition entry array CRC mismatch (stored ${hex32(header.entryArrayCrc32)}, computed ${hex32(computed)})`,
    );
  }
  return array;
}

/** Decodes a UTF-16LE name field up to its first NUL code unit. */
export function decodeName(field: Uint8Array): string {
  let end = 0;
  while (end + 1 < field.length && (field[end] !== 0 || field[end + 1] !== 0)) end += 2;
  return Buffer.from(field.subarray(0, end)).toString('utf16le');
}

function parseEntries(array: Buffer, header: GptHeader, sectorSize: number): GptPartition[] {
  const partitions: GptPartition[] = [];
  const damaged = `the partition table is damaged; re-download the image`;
  for (let i = 0; i < header.entryCount; i++) {
    const raw = array.subarray(i * header.entrySize, (i + 1) * header.entrySize);
    if (isZeroGuidBytes(raw, ENT.typeGuid)) continue;
    const number = i + 1;
    const fail = (problem: string) => new GptError('bad-partition', `partition ${number}: ${problem}: ${damaged}`);
    const firstLba = u64(raw, ENT.firstLba, fail, 'first LBA');
    const lastLba = u64(raw, ENT.lastLba, fail, 'last LBA');
    if (firstLba > lastLba) throw fail(`first LBA ${firstLba} is after last LBA ${lastLba}`);
    if (firstLba < header.firstUsableLba || lastLba > header.lastUsableLba) {
      throw fail(`sectors ${firstLba}..${lastLba} are outside the usable range ${header.firstUsableLba}..${header.lastUsableLba}`);
    }
    const sizeSectors = lastLba - firstLba + 1;
    partitions.push({
      number,
      typeGuid: guidFromBytes(raw, ENT.typeGuid),
      uniqueGuid: guidFromBytes(raw, ENT.uniqueGuid),
      firstLba,
      lastLba,
      attributes: raw.readBigUInt64LE(ENT.attributes),
      name: decodeName(raw.subarray(ENT.name, ENT.name + ENT.nameBytes)),
      sizeSectors,
      startByte: firstLba * sectorSize,
      sizeBytes: sizeSectors * sectorSize,
      raw: Buffer.from(raw),
    });
  }

  // Sorted by start, a partition overlaps an earlier one iff it starts before the furthest end seen so far.
  const byStart = [...partitions].sort((a, b) => a.firstLba - b.firstLba);
  let reach: GptPartition | undefined;
  for (const p of byStart) {
    if (reach && p.firstLba <= reach.lastLba) {
      const show = (q: GptPartition) => `${q.number}${q.name ? ` (${q.name})` : ''} at ${q.firstLba}..${q.lastLba}`;
      throw new GptError('overlap', `partitions ${show(reach)} and ${show(p)} overlap: ${damaged}`);
    }
    if (!reach || p.lastLba > reach.lastLba) reach = p;
  }
  return partitions;
}

function compareBackup(primary: GptHeader, backup: GptHeader, primaryArray: Buffer, backupArray: Buffer): void {
  const diffs: string[] = [];
  const same = <K extends keyof GptHeader>(key: K, label: string) => {
    if (primary[key] !== backup[key]) diffs.push(`${label} ${String(primary[key])} vs ${String(backup[key])}`);
  };
  same('diskGuid', 'disk GUID');
  same('firstUsableLba', 'first usable LBA');
  same('lastUsableLba', 'last usable LBA');
  same('entryCount', 'entry count');
  same('entrySize', 'entry size');
  same('entryArrayCrc32', 'entry array CRC');
  if (diffs.length === 0 && !primaryArray.equals(backupArray)) diffs.push('entry array contents');
  if (diffs.length > 0) {
    throw new GptError(
      'backup-mismatch',
      `the backup GPT (LBA ${backup.lba}) does not describe the same table as the primary (${diffs.join('; ')}): ${BACKUP_ADVICE}`,
    );
  }
}

/** Reads and validates the protective MBR, both GPT headers and the entry arrays. */
export async function parseGpt(reader: ByteReader, options: ParseOptions = {}): Promise<GptTable> {
  const sectorSize = options.sectorSize ?? 512;
  checkSectorSize(sectorSize);
  const diskSizeBytes = reader.size;
  if (!Number.isSafeInteger(diskSizeBytes) || diskSizeBytes < 0) {
    throw new RangeError(`reader size ${diskSizeBytes} is not a byte count`);
  }
  const diskSectors = Math.floor(diskSizeBytes / sectorSize);
  const primaryCtx = new HeaderContext('primary', 1);
  if (diskSectors < 3) {
    // MBR, primary header and backup header need three sectors even with no partitions.
    throw primaryCtx.fail('truncated', `the disk is ${diskSizeBytes} bytes, too small to hold a GPT`);
  }

  const truncatedPrimary = (problem: string) => primaryCtx.fail('truncated', problem);
  const mbr = await readExact(reader, 0, sectorSize, 'protective MBR', truncatedPrimary);
  checkProtectiveMbr(mbr);

  const primarySector = await readExact(reader, sectorSize, sectorSize, 'primary GPT header', truncatedPrimary);
  const mbrRegion: Region = { first: 0, last: 0, what: 'the protective MBR (LBA 0)' };
  const primary = checkHeader(primarySector, {
    role: 'primary',
    lba: 1,
    alternateLba: undefined,
    diskSectors,
    sectorSize,
    reserved: [mbrRegion],
  });
  const entryArray = await readEntryArray(reader, primary, 'primary', sectorSize);
  const partitions = parseEntries(entryArray, primary, sectorSize);
  const entryArraySectors = Math.ceil((primary.entryCount * primary.entrySize) / sectorSize);

  const backupCtx = new HeaderContext('backup', primary.alternateLba);
  const backupSector = await readExact(reader, primary.alternateLba * sectorSize, sectorSize, 'backup GPT header', (p) =>
    backupCtx.fail('truncated', p),
  );
  const primaryArrayRegion: Region[] =
    entryArraySectors > 0
      ? [{ first: primary.entryArrayLba, last: primary.entryArrayLba + entryArraySectors - 1, what: 'the primary entry array' }]
      : [];
  const backup = checkHeader(backupSector, {
    role: 'backup',
    lba: primary.alternateLba,
    alternateLba: 1,
    diskSectors,
    sectorSize,
    reserved: [mbrRegion, ...primaryArrayRegion],
  });
  const backupArray = await readEntryArray(reader, backup, 'backup', sectorSize);
  compareBackup(primary, backup, entryArray, backupArray);

  return {
    sectorSize,
    diskSizeBytes,
    diskSectors,
    diskGuid: primary.diskGuid,
    firstUsableLba: primary.firstUsableLba,
    lastUsableLba: primary.lastUsableLba,
    primaryHeaderLba: primary.lba,
    backupHeaderLba: backup.lba,
    primaryEntryArrayLba: primary.entryArrayLba,
    backupEntryArrayLba: backup.entryArrayLba,
    entryCount: primary.entryCount,
    entrySize: primary.entrySize,
    entryArraySectors,
    entryArrayCrc32: primary.entryArrayCrc32,
    primaryHeader: primary,
    backupHeader: backup,
    protectiveMbr: mbr,
    entryArray,
    partitions,
  };
}
