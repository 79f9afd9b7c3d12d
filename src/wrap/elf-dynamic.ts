/**
 * What the dynamic loader reads from an ELF file: its interpreter (PT_INTERP) and the dynamic
 * section (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS_1). Pure: works on the bytes.
 *
 * Only program headers are used, never section headers: the loader itself ignores sections, and
 * stripped or packed binaries may have none.
 */
import { InputError } from '../errors.js';
import { parseElfHeader, type ElfInfo } from '../sysext/elf.js';

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;

const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;
/** DF_1_NODEFLIB: the loader skips ld.so.cache and its default directories for this object's dependencies. */
export const DF_1_NODEFLIB = 0x800;

export type ElfFileType = 'rel' | 'exec' | 'dyn' | 'core' | 'other';

export interface ElfDynamicInfo {
  elf: ElfInfo;
  fileType: ElfFileType;
  /** PT_INTERP: the program interpreter (dynamic loader) path, if any. */
  interpreter?: string;
  /** DT_NEEDED entries, in file order (the loader's order). */
  needed: string[];
  soname?: string;
  /** DT_RPATH split on ":"; undefined when absent. */
  rpath?: string[];
  /** DT_RUNPATH split on ":"; undefined when absent. */
  runpath?: string[];
  flags1: number;
  /** Has a PT_DYNAMIC segment (false for static executables). */
  dynamic: boolean;
}

/** A malformed ELF file: the message says where it breaks. */
export class ElfFormatError extends InputError {}

interface Reader {
  u16(off: number): number;
  u32(off: number): number;
  /** An address-sized word (4 or 8 bytes) as a safe integer. */
  word(off: number): number;
  /** A signed address-sized word, for d_tag. */
  sword(off: number): number;
}

function reader(buf: Buffer, bits: 32 | 64, littleEndian: boolean): Reader {
  const check = (off: number, size: number): void => {
    if (off < 0 || off + size > buf.length) throw new ElfFormatError(`truncated: need ${size} bytes at offset ${off}, file has ${buf.length}`);
  };
  const u16 = (off: number): number => (check(off, 2), littleEndian ? buf.readUInt16LE(off) : buf.readUInt16BE(off));
  const u32 = (off: number): number => (check(off, 4), littleEndian ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const big = (off: number, signed: boolean): number => {
    check(off, 8);
    const v = signed
      ? (littleEndian ? buf.readBigInt64LE(off) : buf.readBigInt64BE(off))
      : (littleEndian ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off));
    // Tags above 2^53 (DT_HIPROC range on some arches) are of no interest; clamp instead of losing precision silently.
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) return signed ? -1 : Number.MAX_SAFE_INTEGER;
    return Number(v);
  };
  return {
    u16,
    u32,
    word: (off) => (bits === 64 ? big(off, false) : u32(off)),
    sword: (off) => {
      if (bits === 64) return big(off, true);
      check(off, 4);
      return littleEndian ? buf.readInt32LE(off) : buf.readInt32BE(off);
    },
  };
}

interface ProgramHeader {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

function programHeaders(buf: Buffer, bits: 32 | 64, r: Reader): ProgramHeader[] {
  const phoff = bits === 64 ? r.word(32) : r.u32(28);
  const phentsize = r.u16(bits === 64 ? 54 : 42);
  const phnum = r.u16(bits === 64 ? 56 : 44);
  if (phnum === 0) return [];
  const minSize = bits === 64 ? 56 : 32;
  if (phentsize < minSize) throw new ElfFormatError(`program header entries of ${phentsize} bytes are too small (need ${minSize})`);
  if (phoff + phnum * phentsize > buf.length) throw new ElfFormatError('program header table runs past the end of the file');
  const headers: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    headers.push(bits === 64
      ? { type: r.u32(at), offset: r.word(at + 8), vaddr: r.word(at + 16), filesz: r.word(at + 32) }
      : { type: r.u32(at), offset: r.u32(at + 4), vaddr: r.u32(at + 8), filesz: r.u32(at + 16) });
  }
  return headers;
}

/** File offset of virtual address VADDR, through the PT_LOAD segment that maps it. */
function vaddrToOffset(loads: ProgramHeader[], vaddr: number): number | undefined {
  for (const seg of loads) {
    if (vaddr >= seg.vaddr && vaddr < seg.vaddr + seg.filesz) return seg.offset + (vaddr - seg.vaddr);
  }
  return undefined;
}

function cString(buf: Buffer, start: number, end: number): string {
  if (start < 0 || start >= end) throw new ElfFormatError(`string offset ${start} outside the string table`);
  const nul = buf.indexOf(0, start);
  if (nul === -1 || nul >= end) throw new ElfFormatError(`unterminated string at offset ${start}`);
  return buf.toString('utf8', start, nul);
}

function fileType(type: number): ElfFileType {
  switch (type) {
    case 1: return 'rel';
    case 2: return 'exec';
    case 3: return 'dyn';
    case 4: return 'core';
    default: return 'other';
  }
}

function splitPath(value: string): string[] {
  // An empty element means the current directory to glibc; keep it so callers see what is there.
  return value.split(':');
}

/**
 * Parse the loader-relevant parts of an ELF file. Returns undefined if BUF is not ELF at all;
 * throws ElfFormatError if it is ELF but malformed.
 */
export function parseElfDynamic(buf: Buffer): ElfDynamicInfo | undefined {
  const elf = parseElfHeader(buf);
  if (!elf) return undefined;
  const r = reader(buf, elf.bits, elf.littleEndian);
  const info: ElfDynamicInfo = { elf, fileType: fileType(r.u16(16)), needed: [], flags1: 0, dynamic: false };
  const headers = programHeaders(buf, elf.bits, r);
  const loads = headers.filter((h) => h.type === PT_LOAD);

  const interp = headers.find((h) => h.type === PT_INTERP);
  if (interp) {
    if (interp.offset + interp.filesz > buf.length || interp.filesz === 0) throw new ElfFormatError('PT_INTERP runs past the end of the file');
    info.interpreter = cString(buf, interp.offset, interp.offset + interp.filesz);
  }

  const dyn = headers.find((h) => h.type === PT_DYNAMIC);
  if (!dyn) return info;
  info.dynamic = true;
  const entSize = elf.bits === 64 ? 16 : 8;
  const end = Math.min(dyn.offset + dyn.filesz, buf.length);
  const entries: Array<{ tag: number; val: number }> = [];
  for (let at = dyn.offset; at + entSize <= end; at += entSize) {
    const tag = r.sword(at);
    if (tag === DT_NULL) break;
    entries.push({ tag, val: r.word(at + entSize / 2) });
  }
  const strtabAddr = entries.find((e) => e.tag === DT_STRTAB)?.val;
  const strsz = entries.find((e) => e.tag === DT_STRSZ)?.val;
  const needsStrings = entries.some((e) => [DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH].includes(e.tag));
  if (!needsStrings) {
    info.flags1 = entries.find((e) => e.tag === DT_FLAGS_1)?.val ?? 0;
    return info;
  }
  if (strtabAddr === undefined) throw new ElfFormatError('dynamic section has string entries but no DT_STRTAB');
  const strtab = vaddrToOffset(loads, strtabAddr);
  if (strtab === undefined) throw new ElfFormatError(`DT_STRTAB address 0x${strtabAddr.toString(16)} is in no loadable segment`);
  const strEnd = Math.min(buf.length, strsz !== undefined ? strtab + strsz : buf.length);
  for (const { tag, val } of entries) {
    switch (tag) {
      case DT_NEEDED: info.needed.push(cString(buf, strtab + val, strEnd)); break;
      case DT_SONAME: info.soname = cString(buf, strtab + val, strEnd); break;
      case DT_RPATH: info.rpath = splitPath(cString(buf, strtab + val, strEnd)); break;
      case DT_RUNPATH: info.runpath = splitPath(cString(buf, strtab + val, strEnd)); break;
      case DT_FLAGS_1: info.flags1 = val; break;
    }
  }
  return info;
}

/** Do two ELF files fit in one process (same class, byte order and machine)? glibc skips libraries that do not. */
export function sameElfAbi(a: ElfInfo, b: ElfInfo): boolean {
  return a.bits === b.bits && a.littleEndian === b.littleEndian && a.machine === b.machine;
}
