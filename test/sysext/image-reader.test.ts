import { execa } from 'execa';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseElfHeader, EM_AARCH64, EM_X86_64 } from '../../src/sysext/elf.js';
import { candidateNames, canonicalPath, execProgram } from '../../src/sysext/check.js';
import {
  detectFilesystem,
  FILESYSTEM_PROBE_BYTES,
  listExt4,
  parseDebugfsLsBlocks,
  parseUnsquashfsListing,
  permissionsFromString,
  resolveInImage,
  type ImageEntry,
} from '../../src/sysext/image-reader.js';
import { elfHeader } from './helpers.js';

function withMagic(offset: number, bytes: number[]): Buffer {
  const b = Buffer.alloc(FILESYSTEM_PROBE_BYTES);
  Buffer.from(bytes).copy(b, offset);
  return b;
}

describe('detectFilesystem', () => {
  it('recognises each magic at its offset', () => {
    expect(detectFilesystem(withMagic(0, [...Buffer.from('hsqs')]))).toBe('squashfs');
    expect(detectFilesystem(withMagic(1024, [0xe2, 0xe1, 0xf5, 0xe0]))).toBe('erofs');
    expect(detectFilesystem(withMagic(1080, [0x53, 0xef]))).toBe('ext4');
    expect(detectFilesystem(withMagic(65600, [...Buffer.from('_BHRfS_M')]))).toBe('btrfs');
  });
  it('returns undefined for other data and for short buffers', () => {
    expect(detectFilesystem(Buffer.alloc(FILESYSTEM_PROBE_BYTES))).toBeUndefined();
    expect(detectFilesystem(withMagic(1080, [0xef, 0x53]))).toBeUndefined(); // wrong byte order
    expect(detectFilesystem(Buffer.from('hsq'))).toBeUndefined();
    expect(detectFilesystem(Buffer.from('_BHRfS_M'))).toBeUndefined();
  });
});

describe('parsers of tool output', () => {
  it('parses unsquashfs -lln, cutting symlink targets by length', () => {
    const text = [
      'drwxr-xr-x 0/0                      26 2024-01-01 00:00 ',
      'drwxr-xr-x 0/0                      37 2024-01-01 00:00 /usr',
      '-rwsr-x--- 1000/27                 3 2024-01-01 00:00 /usr/bin/a b',
      'lrwxrwxrwx 0/0                      10 2024-01-01 00:00 /usr/bin/x -> y -> /usr/bin/a',
      'crw-r--r-- 0/0                  1,  3 2024-01-01 00:00 /usr/null',
      '',
    ].join('\n');
    expect(parseUnsquashfsListing(text)).toEqual([
      { path: 'usr', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
      { path: 'usr/bin/a b', type: 'file', mode: 0o4750, uid: 1000, gid: 27, size: 3 },
      { path: 'usr/bin/x -> y', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 10, target: '/usr/bin/a' },
      { path: 'usr/null', type: 'char', mode: 0o644, uid: 0, gid: 0, size: 0 },
    ]);
  });
  it('decodes special permission bits', () => {
    expect(permissionsFromString('rwxr-sr-T')).toBe(0o3754);
    expect(permissionsFromString('rwSrwxrwt')).toBe(0o5677);
  });
  it('splits debugfs ls -p output per command', () => {
    const out = 'debugfs: ls -p <2>\n/2/040755/0/0/.//\n/2/040755/0/0/..//\n/12/040755/0/0/usr//\ndebugfs: ls -p <12>\n/12/040755/0/0/.//\n/14/100644/1000/1000/a/3/\n';
    expect(parseDebugfsLsBlocks(out)).toEqual([
      [{ inode: 12, mode: 0o40755, uid: 0, gid: 0, name: 'usr', size: 0 }],
      [{ inode: 14, mode: 0o100644, uid: 1000, gid: 1000, name: 'a', size: 3 }],
    ]);
  });
});

describe('resolveInImage', () => {
  const e = (path: string, type: ImageEntry['type'], target?: string): ImageEntry => ({ path, type, mode: 0o755, uid: 0, gid: 0, size: 0, ...(target ? { target } : {}) });
  const map = new Map(
    [
      e('usr', 'dir'), e('usr/lib', 'dir'), e('usr/lib/real', 'file'), e('usr/lib/rel', 'symlink', 'real'),
      e('usr/lib/abs', 'symlink', '/usr/lib/real'), e('usr/lib64', 'symlink', 'lib'), e('usr/lib/up', 'symlink', '../../../../etc/shadow'),
      e('usr/lib/loop', 'symlink', 'loop'),
    ].map((x) => [x.path, x]),
  );
  it('follows relative, absolute and directory symlinks inside the image', () => {
    expect(resolveInImage(map, 'usr/lib/rel')?.path).toBe('usr/lib/real');
    expect(resolveInImage(map, 'usr/lib/abs')?.path).toBe('usr/lib/real');
    expect(resolveInImage(map, 'usr/lib64/rel')?.path).toBe('usr/lib/real');
  });
  it('never leaves the image and stops on loops', () => {
    expect(resolveInImage(map, 'usr/lib/up')).toBeUndefined();
    expect(resolveInImage(map, 'usr/lib/loop')).toBeUndefined();
  });
});

describe('check helpers', () => {
  it('reads e_machine from an ELF header', () => {
    expect(parseElfHeader(elfHeader(EM_X86_64))).toMatchObject({ bits: 64, littleEndian: true, machine: 62, arch: 'x86-64' });
    expect(parseElfHeader(elfHeader(EM_AARCH64))?.arch).toBe('arm64');
    expect(parseElfHeader(Buffer.from('#!/bin/sh\necho hello world\n'))).toBeUndefined();
  });
  it('derives the expected names from bakery file names', () => {
    expect(candidateNames('/x/docker.raw')).toEqual(['docker']);
    // Bakery release names: the name is what stands before -<version>-<arch>.
    expect(candidateNames('docker-24.0.9-x86-64.raw')).toEqual(['docker']);
    expect(candidateNames('kubernetes-v1.29.2-arm64.raw')).toEqual(['kubernetes']);
    expect(candidateNames('nvidia-runtime-v1.16.2-x86-64.raw')).toEqual(['nvidia-runtime']);
    // Other names: each prefix before a -<digit>, then the whole stem.
    expect(candidateNames('tool-2.raw')).toEqual(['tool', 'tool-2']);
  });
  it('maps merged-/usr paths to /usr/bin and /usr/lib', () => {
    expect(canonicalPath('/bin/sh')).toBe('usr/bin/sh');
    expect(canonicalPath('/sbin/ip')).toBe('usr/bin/ip');
    expect(canonicalPath('/usr/sbin/x')).toBe('usr/bin/x');
    expect(canonicalPath('/lib/systemd/x')).toBe('usr/lib/systemd/x');
    expect(canonicalPath('/opt/bin/x')).toBe('opt/bin/x');
    expect(canonicalPath('/binary')).toBe('binary');
  });
  it('takes the program of an Exec line', () => {
    expect(execProgram('-/usr/bin/a --x')).toBe('/usr/bin/a');
    expect(execProgram('@+!/usr/bin/a argv0 x')).toBe('/usr/bin/a');
    expect(execProgram('"/opt/with space/bin" x')).toBe('/opt/with space/bin');
    expect(execProgram('-')).toBeUndefined();
  });
});

describe('listExt4', () => {
  it('lists UTF-8 names and symlink targets of a real ext4 image as mkfs.ext4 -d wrote them', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-test-ext4-utf8-'));
    try {
      await mkdir(path.join(dir, 'tree/usr/lib/café'), { recursive: true });
      await writeFile(path.join(dir, 'tree/usr/lib/café/naïve-ü.conf'), 'x\n');
      await symlink('café/naïve-ü.conf', path.join(dir, 'tree/usr/lib/ß-link'));
      await execa('mkfs.ext4', ['-q', '-E', 'root_owner=0:0', '-d', path.join(dir, 'tree'), path.join(dir, 'img'), '4M']);
      const entries = await listExt4(path.join(dir, 'img'));
      expect(entries.map((e) => [e.path, e.type, e.target])).toEqual([
        ['usr', 'dir', undefined],
        ['usr/lib', 'dir', undefined],
        ['usr/lib/café', 'dir', undefined],
        ['usr/lib/café/naïve-ü.conf', 'file', undefined],
        ['usr/lib/ß-link', 'symlink', 'café/naïve-ü.conf'],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
