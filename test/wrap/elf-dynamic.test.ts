import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/util/exec.js';
import { EM_AARCH64, EM_X86_64 } from '../../src/sysext/elf.js';
import { DF_1_NODEFLIB, ElfFormatError, parseElfDynamic, sameElfAbi } from '../../src/wrap/elf-dynamic.js';

interface SyntheticElf {
  bits: 32 | 64;
  littleEndian: boolean;
  machine: number;
  interp?: string;
  needed?: string[];
  soname?: string;
  rpath?: string;
  runpath?: string;
  flags1?: number;
  /** Place DT_STRTAB at an address no PT_LOAD maps. */
  unmappedStrtab?: boolean;
}

const VADDR = 0x400000;

/** An ELF file with program headers PT_INTERP, PT_LOAD (the whole file) and PT_DYNAMIC. */
function buildElf(spec: SyntheticElf): Buffer {
  const is64 = spec.bits === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const phnum = 3;
  const interp = Buffer.from(`${spec.interp ?? ''}\0`);
  const strings: string[] = [''];
  const strOffset = (s: string): number => {
    const off = Buffer.byteLength(strings.join('\0')) + 1;
    strings.push(s);
    return off;
  };
  const dyn: Array<[number, number]> = [];
  for (const n of spec.needed ?? []) dyn.push([1, strOffset(n)]);
  if (spec.soname) dyn.push([14, strOffset(spec.soname)]);
  if (spec.rpath) dyn.push([15, strOffset(spec.rpath)]);
  if (spec.runpath) dyn.push([29, strOffset(spec.runpath)]);
  if (spec.flags1 !== undefined) dyn.push([0x6ffffffb, spec.flags1]);
  const strtab = Buffer.from(`${strings.join('\0')}\0`);
  const interpOff = ehsize + phnum * phentsize;
  const strtabOff = interpOff + interp.length;
  const dynOff = Math.ceil((strtabOff + strtab.length) / 8) * 8;
  dyn.push([5, spec.unmappedStrtab ? 0x10 : VADDR + strtabOff], [10, strtab.length], [0, 0]);
  const entsize = is64 ? 16 : 8;
  const total = dynOff + dyn.length * entsize;
  const b = Buffer.alloc(total);
  const le = spec.littleEndian;
  const u16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const u32 = (v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const word = (v: number, o: number) => (is64 ? (le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o)) : u32(v, o));
  b.write('\x7fELF', 0, 'latin1');
  b[4] = is64 ? 2 : 1;
  b[5] = le ? 1 : 2;
  b[6] = 1;
  u16(3, 16); // ET_DYN
  u16(spec.machine, 18);
  u32(1, 20);
  if (is64) {
    word(ehsize, 32);
    u16(ehsize, 52);
    u16(phentsize, 54);
    u16(phnum, 56);
  } else {
    u32(ehsize, 28);
    u16(ehsize, 40);
    u16(phentsize, 42);
    u16(phnum, 44);
  }
  const ph = (i: number, type: number, offset: number, size: number) => {
    const at = ehsize + i * phentsize;
    u32(type, at);
    if (is64) {
      word(offset, at + 8);
      word(VADDR + offset, at + 16);
      word(VADDR + offset, at + 24);
      word(size, at + 32);
      word(size, at + 40);
    } else {
      u32(offset, at + 4);
      u32(VADDR + offset, at + 8);
      u32(VADDR + offset, at + 12);
      u32(size, at + 16);
      u32(size, at + 20);
    }
  };
  ph(0, 3, interpOff, spec.interp === undefined ? 0 : interp.length);
  ph(1, 1, 0, total);
  ph(2, 2, dynOff, dyn.length * entsize);
  if (spec.interp === undefined) u32(6, ehsize); // PT_PHDR instead: no interpreter
  interp.copy(b, interpOff);
  strtab.copy(b, strtabOff);
  dyn.forEach(([tag, val], i) => {
    const at = dynOff + i * entsize;
    word(tag, at);
    word(val, at + entsize / 2);
  });
  return b;
}

describe('parseElfDynamic on synthetic files', () => {
  it('reads interpreter, DT_NEEDED in order, SONAME, RPATH, RUNPATH, FLAGS_1 (ELF64 little-endian)', () => {
    const info = parseElfDynamic(buildElf({
      bits: 64, littleEndian: true, machine: EM_X86_64, interp: '/lib64/ld-linux-x86-64.so.2',
      needed: ['libz.so.1', 'libc.so.6'], soname: 'libthing.so.2', rpath: '$ORIGIN/../lib:/opt/x', runpath: '/r', flags1: DF_1_NODEFLIB,
    }))!;
    expect(info).toMatchObject({
      fileType: 'dyn', interpreter: '/lib64/ld-linux-x86-64.so.2', needed: ['libz.so.1', 'libc.so.6'],
      soname: 'libthing.so.2', rpath: ['$ORIGIN/../lib', '/opt/x'], runpath: ['/r'], flags1: DF_1_NODEFLIB, dynamic: true,
    });
    expect(info.elf).toMatchObject({ bits: 64, littleEndian: true, arch: 'x86-64' });
  });

  it('reads ELF32 big-endian just the same', () => {
    const info = parseElfDynamic(buildElf({ bits: 32, littleEndian: false, machine: 20, interp: '/lib/ld.so.1', needed: ['libc.so.6'] }))!;
    expect(info).toMatchObject({ interpreter: '/lib/ld.so.1', needed: ['libc.so.6'], flags1: 0 });
    expect(info.rpath).toBeUndefined();
    expect(info.elf).toMatchObject({ bits: 32, littleEndian: false, arch: 'ppc' });
  });

  it('has no interpreter when there is no PT_INTERP', () => {
    const info = parseElfDynamic(buildElf({ bits: 64, littleEndian: true, machine: EM_AARCH64, needed: ['libc.so.6'] }))!;
    expect(info.interpreter).toBeUndefined();
    expect(info.elf.arch).toBe('arm64');
  });

  it('returns undefined for non-ELF data', () => {
    expect(parseElfDynamic(Buffer.from('#!/bin/sh\necho hi\n'))).toBeUndefined();
    expect(parseElfDynamic(Buffer.alloc(0))).toBeUndefined();
  });

  it('throws ElfFormatError on truncated or inconsistent files', () => {
    const good = buildElf({ bits: 64, littleEndian: true, machine: EM_X86_64, interp: '/l', needed: ['a'] });
    expect(() => parseElfDynamic(good.subarray(0, 100))).toThrow(ElfFormatError);
    expect(() => parseElfDynamic(buildElf({ bits: 64, littleEndian: true, machine: EM_X86_64, needed: ['a'], unmappedStrtab: true }))).toThrow(/DT_STRTAB address 0x10 is in no loadable segment/);
    const badString = Buffer.from(good);
    // Point DT_NEEDED's string offset far past the string table.
    const dynStart = badString.length - 3 * 16 - 16;
    badString.writeBigUInt64LE(99999n, dynStart + 8);
    expect(() => parseElfDynamic(badString)).toThrow(ElfFormatError);
  });

  it('sameElfAbi compares class, byte order and machine', () => {
    const a = parseElfDynamic(buildElf({ bits: 64, littleEndian: true, machine: EM_X86_64 }))!.elf;
    const b = parseElfDynamic(buildElf({ bits: 32, littleEndian: true, machine: EM_X86_64 }))!.elf;
    expect(sameElfAbi(a, a)).toBe(true);
    expect(sameElfAbi(a, b)).toBe(false);
  });
});

describe('parseElfDynamic agrees with readelf on real files of this machine', () => {
  for (const file of ['/usr/bin/jq', '/usr/lib/x86_64-linux-gnu/libjq.so.1', '/lib/x86_64-linux-gnu/libc.so.6', '/usr/bin/patchelf']) {
    it(file, async () => {
      const info = parseElfDynamic(await readFile(file))!;
      const dyn = (await run('readelf', ['-dW', file])).stdout;
      const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
      expect(info.needed).toEqual(needed);
      expect(info.soname).toBe(/\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(dyn)?.[1]);
      const interp = /Requesting program interpreter: ([^\]]+)\]/.exec((await run('readelf', ['-lW', file])).stdout)?.[1];
      expect(info.interpreter).toBe(interp);
      expect(needed.length).toBeGreaterThan(0);
    });
  }
});
