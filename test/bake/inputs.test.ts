import { describe, expect, it } from 'vitest';
import { parseInstallTarget, parseSysextArgs } from '../../src/bake/inputs.js';
import { UsageError } from '../../src/errors.js';
import { detectFilesystemKind } from '../../src/image/fsmagic.js';
import { parseSha256Sums } from '../../src/verify/sha256sums.js';

describe('NAME:FILE arguments', () => {
  it('splits at the first colon', () => {
    expect(parseSysextArgs(['wasmtime:wasmtime-24.0.0-x86-64.raw', 'k8s:./dir/a:b.raw'], { fetch: false })).toEqual([
      { name: 'wasmtime', file: 'wasmtime-24.0.0-x86-64.raw' },
      { name: 'k8s', file: './dir/a:b.raw' },
    ]);
  });
  it('needs at least one', () => {
    expect(() => parseSysextArgs([], { fetch: false })).toThrow(UsageError);
  });
  it.each(['nocolon', ':file.raw', 'name:', '../x:f.raw', 'a/b:f.raw', '-x:f.raw', '.hidden:f.raw', 'na me:f.raw'])('refuses %j', (arg) => {
    expect(() => parseSysextArgs([arg], { fetch: false })).toThrow(UsageError);
  });
  it('refuses duplicate names', () => {
    expect(() => parseSysextArgs(['a:1.raw', 'a:2.raw'], { fetch: false })).toThrow(/given twice/);
  });
  it.each(['../x.raw', 'dir/x.raw', '/etc/passwd', '..', '.'])('refuses path tricks in --fetch file names: %j', (file) => {
    expect(() => parseSysextArgs([`x:${file}`], { fetch: true })).toThrow(UsageError);
  });
  it('allows paths for local files', () => {
    expect(parseSysextArgs(['x:../dir/x.raw'], { fetch: false })[0]!.file).toBe('../dir/x.raw');
  });
});

describe('--install-to', () => {
  it('parses root and oem targets', () => {
    expect(parseInstallTarget('root:/opt/extensions/')).toEqual({ partition: 'root', dir: '/opt/extensions', bootedDir: '/opt/extensions' });
    expect(parseInstallTarget('oem:/sysext')).toEqual({ partition: 'oem', dir: '/sysext', bootedDir: '/oem/sysext' });
    expect(parseInstallTarget('oem:/')).toEqual({ partition: 'oem', dir: '/', bootedDir: '/oem' });
    expect(parseInstallTarget('root://opt//ext')).toEqual({ partition: 'root', dir: '/opt/ext', bootedDir: '/opt/ext' });
  });
  it.each(['usr:/x', 'root', 'root:opt', 'root:/opt/../etc', 'oem:/./x', 'ROOT:/x', ''])('refuses %j', (bad) => {
    expect(() => parseInstallTarget(bad)).toThrow(UsageError);
  });
});

describe('filesystem magic', () => {
  it('recognises each sysext filesystem', () => {
    const squash = Buffer.alloc(4096);
    squash.write('hsqs', 0, 'latin1');
    expect(detectFilesystemKind(squash)).toBe('squashfs');
    const erofs = Buffer.alloc(4096);
    erofs.writeUInt32LE(0xe0f5e1e2, 1024);
    expect(detectFilesystemKind(erofs)).toBe('erofs');
    const ext4 = Buffer.alloc(4096);
    ext4.writeUInt16LE(0xef53, 1080);
    expect(detectFilesystemKind(ext4)).toBe('ext4');
    const btrfs = Buffer.alloc(70000);
    btrfs.write('_BHRfS_M', 65600, 'latin1');
    expect(detectFilesystemKind(btrfs)).toBe('btrfs');
  });
  it('rejects other data and short buffers', () => {
    expect(detectFilesystemKind(Buffer.from('#!/bin/sh\necho hi\n'))).toBeUndefined();
    expect(detectFilesystemKind(Buffer.alloc(0))).toBeUndefined();
    expect(detectFilesystemKind(Buffer.alloc(100000))).toBeUndefined();
  });
});

describe('SHA256SUMS', () => {
  const a = 'a'.repeat(64);
  const b = 'B'.repeat(64);
  it('parses text and binary mode lines', () => {
    const sums = parseSha256Sums(`${a}  x.raw\n${b} *./y.raw\n\n`);
    expect(sums.get('x.raw')).toBe(a);
    expect(sums.get('y.raw')).toBe('b'.repeat(64));
  });
  it('refuses malformed lines', () => {
    expect(() => parseSha256Sums('abc  x.raw\n')).toThrow(/line 1/);
  });
});
