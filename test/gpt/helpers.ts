/** Shared fixtures for the GPT tests: sgdisk-made images, sgdisk output parsers, an in-memory sparse disk. */
import { mkdtemp, open, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/util/exec.js';
import { crc32 } from '../../src/gpt/crc32.js';
import type { ByteReader } from '../../src/gpt/types.js';

export const SECTOR = 512;
export const FLATCAR_DISK_SECTORS = 16777216; // 8 GiB
export const USR_A_UNIQUE = '7130C94A-213A-4E5A-8E26-6CCE9662F132';
export const USR_B_UNIQUE = 'E03DD35C-7C2D-4A47-B3FE-27F15780A57C';
export const FLATCAR_DISK_GUID = '5C4D6E1F-0A2B-4C3D-9E8F-112233445566';

/** The generic image's layout (flatcar/scripts build_library/disk_layout.json, "base"), laid out back to back from sector 4096, sizes multiples of 4096. */
export const FLATCAR_LAYOUT = (() => {
  const parts = [
    { number: 1, label: 'EFI-SYSTEM', type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', size: 2097152 },
    { number: 2, label: 'BIOS-BOOT', type: '21686148-6449-6E6F-744E-656564454649', size: 4096 },
    { number: 3, label: 'USR-A', type: '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6', size: 4194304, unique: USR_A_UNIQUE },
    { number: 4, label: 'USR-B', type: '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6', size: 4194304, unique: USR_B_UNIQUE },
    { number: 6, label: 'OEM', type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', size: 2097152 },
    { number: 7, label: 'OEM-CONFIG', type: 'C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0', size: 131072 },
    { number: 9, label: 'ROOT', type: '3884DD41-8582-4404-B9A8-E9B84F2DF50E', size: 3653632 },
  ];
  let next = 4096;
  return parts.map((p) => {
    const first = next;
    next += p.size;
    return { ...p, first, last: first + p.size - 1 };
  });
})();

export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'flatbake-gpt-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function sgdisk(args: string[]): Promise<string> {
  return (await run('sgdisk', args, { purpose: 'build a test partition table' })).stdout;
}

/** A sparse 8 GiB file with the Flatcar layout; USR-A gets the attribute bits Flatcar's update engine uses. */
export async function makeFlatcarImage(path: string): Promise<void> {
  await (await open(path, 'w')).close();
  await truncate(path, FLATCAR_DISK_SECTORS * SECTOR);
  const args = ['-U', FLATCAR_DISK_GUID];
  for (const p of FLATCAR_LAYOUT) {
    args.push('-n', `${p.number}:${p.first}:${p.last}`, '-t', `${p.number}:${p.type}`, '-c', `${p.number}:${p.label}`);
    if (p.unique) args.push('-u', `${p.number}:${p.unique}`);
  }
  args.push('-A', '3:set:48', '-A', '3:set:56', '-A', '9:set:60', path);
  await sgdisk(args);
}

export interface SgdiskDisk {
  sectors: number;
  sectorSize: number;
  diskGuid: string;
  entryCount: number;
  mainTableFirst: number;
  mainTableLast: number;
  firstUsable: number;
  lastUsable: number;
  numbers: number[];
}

function match(text: string, re: RegExp): string {
  const m = re.exec(text);
  if (!m?.[1]) throw new Error(`sgdisk output did not match ${re}:\n${text}`);
  return m[1];
}

export async function sgdiskPrint(path: string): Promise<SgdiskDisk> {
  const out = await sgdisk(['-p', path]);
  const table = out.split('\n').filter((l) => /^\s+\d+\s+\d+\s+\d+/.test(l));
  return {
    sectors: Number(match(out, /: (\d+) sectors,/)),
    sectorSize: Number(match(out, /Sector size \(logical(?:\/physical)?\): (\d+)/)),
    diskGuid: match(out, /Disk identifier \(GUID\): (\S+)/),
    entryCount: Number(match(out, /holds up to (\d+) entries/)),
    mainTableFirst: Number(match(out, /Main partition table begins at sector (\d+)/)),
    mainTableLast: Number(match(out, /Main partition table begins at sector \d+ and ends at sector (\d+)/)),
    firstUsable: Number(match(out, /First usable sector is (\d+)/)),
    lastUsable: Number(match(out, /last usable sector is (\d+)/)),
    numbers: table.map((l) => Number(l.trim().split(/\s+/)[0])),
  };
}

export interface SgdiskPartition {
  typeGuid: string;
  uniqueGuid: string;
  first: number;
  last: number;
  sizeSectors: number;
  attributes: bigint;
  name: string;
}

export async function sgdiskInfo(path: string, n: number): Promise<SgdiskPartition> {
  const out = await sgdisk(['-i', String(n), path]);
  return {
    typeGuid: match(out, /Partition GUID code: (\S+)/),
    uniqueGuid: match(out, /Partition unique GUID: (\S+)/),
    first: Number(match(out, /First sector: (\d+)/)),
    last: Number(match(out, /Last sector: (\d+)/)),
    sizeSectors: Number(match(out, /Partition size: (\d+) sectors/)),
    attributes: BigInt('0x' + match(out, /Attribute flags: ([0-9A-Fa-f]+)/)),
    name: match(out, /Partition name: '(.*)'\n/),
  };
}

/**
 * A disk held as a few byte ranges over zeros, so an 8 GiB image costs only its
 * GPT sectors. Its reader throws on any read outside [0, size): parseGpt must
 * never ask for one.
 */
export class SparseDisk {
  constructor(
    public size: number,
    readonly chunks: { offset: number; data: Buffer }[],
  ) {}

  static async fromFile(path: string, headSectors = 34, tailSectors = 33): Promise<SparseDisk> {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const grab = async (offset: number, length: number) => {
        const data = Buffer.alloc(length);
        await fh.read(data, 0, length, offset);
        return { offset, data };
      };
      return new SparseDisk(size, [await grab(0, headSectors * SECTOR), await grab(size - tailSectors * SECTOR, tailSectors * SECTOR)]);
    } finally {
      await fh.close();
    }
  }

  clone(): SparseDisk {
    return new SparseDisk(this.size, this.chunks.map((c) => ({ offset: c.offset, data: Buffer.from(c.data) })));
  }

  /** Bytes at [offset, offset+length), no bounds check (for the test's own bookkeeping). */
  peek(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (const c of this.chunks) {
      const from = Math.max(offset, c.offset);
      const to = Math.min(offset + length, c.offset + c.data.length);
      if (from < to) c.data.copy(out, from - offset, from - c.offset, to - c.offset);
    }
    return out;
  }

  /** Grows the disk by `bytes` zero bytes, appended to the chunk that ends the disk (so they can be poked). */
  extend(bytes: number): void {
    const last = this.chunks.find((c) => c.offset + c.data.length === this.size);
    if (last) last.data = Buffer.concat([last.data, Buffer.alloc(bytes)]);
    this.size += bytes;
  }

  /** Overwrites bytes; they must fall inside an existing chunk. */
  poke(offset: number, bytes: Uint8Array): void {
    const c = this.chunks.find((ch) => offset >= ch.offset && offset + bytes.length <= ch.offset + ch.data.length);
    if (!c) throw new Error(`poke at ${offset} is outside the stored chunks`);
    c.data.set(bytes, offset - c.offset);
  }

  reader(): ByteReader {
    return {
      size: this.size,
      read: async (offset: number, length: number) => {
        if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
          throw new Error(`OUT OF RANGE read(${offset}, ${length}) on a ${this.size}-byte disk`);
        }
        return this.peek(offset, length);
      },
    };
  }

  async writeTo(path: string): Promise<void> {
    const fh = await open(path, 'w');
    try {
      await fh.truncate(this.size);
      for (const c of this.chunks) {
        const end = Math.min(c.data.length, this.size - c.offset);
        if (end > 0) await fh.write(c.data, 0, end, c.offset);
      }
    } finally {
      await fh.close();
    }
  }
}

/** Byte offset of the backup header as sgdisk placed it (the disk's last sector). */
export const backupHeaderOffset = (disk: SparseDisk) => disk.size - SECTOR;

export function setU32(disk: SparseDisk, offset: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  disk.poke(offset, b);
}

export function setU64(disk: SparseDisk, offset: number, value: bigint | number): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  disk.poke(offset, b);
}

/**
 * Recomputes the entry-array CRC and then the header CRC of the header at
 * `headerOffset`, as far as its fields allow (the fuzz may have made them absurd).
 */
export function fixCrcs(disk: SparseDisk, headerOffset: number, { entries = true } = {}): void {
  const h = disk.peek(headerOffset, SECTOR);
  if (entries) {
    const count = h.readUInt32LE(80);
    const size = h.readUInt32LE(84);
    const lba = h.readBigUInt64LE(72);
    const bytes = count * size;
    if (bytes <= 1024 * 1024 && lba < BigInt(Math.floor(Number.MAX_SAFE_INTEGER / SECTOR))) {
      h.writeUInt32LE(crc32(disk.peek(Number(lba) * SECTOR, bytes)), 88);
    }
  }
  const headerSize = h.readUInt32LE(12);
  if (headerSize >= 92 && headerSize <= SECTOR) {
    h.writeUInt32LE(0, 16);
    h.writeUInt32LE(crc32(h.subarray(0, headerSize)), 16);
  }
  disk.poke(headerOffset, h);
}
