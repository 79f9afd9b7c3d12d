import { DiskFormatError } from '../errors.js';

/** Checks that apply to a GPT header and its entry array, primary or backup alike. */
export type GptHeaderCheck =
  | 'bad-signature'
  | 'bad-revision'
  | 'header-size'
  | 'header-crc'
  | 'bad-lba'
  | 'entry-size'
  | 'entry-count'
  | 'entries-crc'
  | 'truncated';

export type GptErrorCode =
  // Whole-disk and primary-table problems.
  | 'bad-sector-size'
  | 'no-protective-mbr'
  | GptHeaderCheck
  | 'bad-partition'
  | 'overlap'
  // The primary is fine but the backup is damaged (`backup-header-crc`, ...) or differs.
  | `backup-${GptHeaderCheck}`
  | 'backup-mismatch'
  // locatePartition().
  | 'label-missing'
  | 'label-duplicate'
  | 'wrong-type'
  // The writer.
  | 'shrink'
  | 'no-such-partition'
  | 'resize-range';

/** Anything wrong with a GPT; `code` tells which check failed so callers and tests need not parse messages. */
export class GptError extends DiskFormatError {
  constructor(
    readonly code: GptErrorCode,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }
}

/** Random access to a disk or image. Callers only ask for ranges inside [0, size). */
export interface ByteReader {
  readonly size: number;
  /** May return fewer bytes than asked (the data ended early); parseGpt treats that as truncation. */
  read(offset: number, length: number): Promise<Buffer>;
}

/** One GPT header as found on disk. */
export interface GptHeader {
  /** LBA this header sits at (MyLBA). */
  lba: number;
  alternateLba: number;
  /** 0x00010000 for revision 1.0. */
  revision: number;
  headerSize: number;
  headerCrc32: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entryArrayLba: number;
  entryCount: number;
  entrySize: number;
  entryArrayCrc32: number;
  /** The whole sector, so a rewrite keeps reserved bytes as they were. */
  raw: Buffer;
}

export interface GptPartition {
  /** 1-based index of the entry in the array (the N of /dev/sdaN). */
  number: number;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  /** UTF-16LE name, up to the first NUL. */
  name: string;
  sizeSectors: number;
  /** Byte offset of the first sector on the disk. */
  startByte: number;
  sizeBytes: number;
  /** The entry exactly as stored (entrySize bytes), unknown bytes included. */
  raw: Buffer;
}

export interface GptTable {
  sectorSize: number;
  /** Size of the disk the table was read from. */
  diskSizeBytes: number;
  diskSectors: number;
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  primaryHeaderLba: number;
  backupHeaderLba: number;
  primaryEntryArrayLba: number;
  backupEntryArrayLba: number;
  entryCount: number;
  entrySize: number;
  /** Sectors the entry array occupies (each copy). */
  entryArraySectors: number;
  entryArrayCrc32: number;
  primaryHeader: GptHeader;
  backupHeader: GptHeader;
  /** Sector 0 as stored. */
  protectiveMbr: Buffer;
  /** The whole entry array (entryCount * entrySize bytes), empty entries included. */
  entryArray: Buffer;
  /** Non-empty entries in entry order. */
  partitions: GptPartition[];
}

export const GPT_SIGNATURE = 'EFI PART';
export const GPT_REVISION_1_0 = 0x00010000;
export const GPT_MIN_HEADER_SIZE = 92;
export const GPT_MIN_ENTRY_SIZE = 128;
export const GPT_MAX_ENTRIES = 4096;
export const GPT_MAX_ENTRY_ARRAY_BYTES = 1024 * 1024;
export const MBR_TYPE_GPT_PROTECTIVE = 0xee;

/** Byte offsets inside a GPT header. */
export const HDR = {
  signature: 0,
  revision: 8,
  headerSize: 12,
  headerCrc32: 16,
  reserved: 20,
  myLba: 24,
  alternateLba: 32,
  firstUsableLba: 40,
  lastUsableLba: 48,
  diskGuid: 56,
  entryArrayLba: 72,
  entryCount: 80,
  entrySize: 84,
  entryArrayCrc32: 88,
} as const;

/** Byte offsets inside a partition entry. */
export const ENT = {
  typeGuid: 0,
  uniqueGuid: 16,
  firstLba: 32,
  lastLba: 40,
  attributes: 48,
  name: 56,
  /** 36 UTF-16 code units. */
  nameBytes: 72,
} as const;

/** Byte offsets inside the MBR in sector 0. */
export const MBR = {
  partitionTable: 446,
  partitionEntrySize: 16,
  partitionCount: 4,
  signature: 510,
} as const;
