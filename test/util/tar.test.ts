import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isZeroBlock, parsePaxRecords, parseTarHeader, parseTarNumber, readTar, TarFormatError, type TarEntry } from '../../src/util/tar.js';
import { buildTar, paxData, tarEntry } from '../oci/helpers/tar-writer.js';

interface Read {
  entry: TarEntry;
  content: string;
}

/** Feed `data` in chunks of `chunk` bytes: header and content boundaries must not matter. */
async function readAll(data: Buffer, chunk = 1 << 16): Promise<Read[]> {
  async function* source(): AsyncGenerator<Buffer> {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  }
  const out: Read[] = [];
  for await (const { entry, body } of readTar(source())) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c);
    out.push({ entry, content: Buffer.concat(parts).toString('utf8') });
  }
  return out;
}

const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
const longName = `${longDir}/${'f'.repeat(90)}`;

describe('readTar on archives written here', () => {
  const archive = buildTar([
    { path: 'etc/', type: 'dir', mode: 0o755 },
    { path: 'etc/hostname', content: 'box\n', mode: 0o644, uid: 1000, gid: 100, mtime: 1_600_000_000 },
    { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
    { path: 'bin/ln', type: 'hardlink', linkpath: 'bin/busybox' },
    { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 },
    { path: 'run/fifo', type: 'fifo', mode: 0o600 },
    { path: 'usr/bin/su', content: 'x', mode: 0o4755 },
    { path: longName, content: 'ustar prefix' },
    { path: `${'g'.repeat(150)}`, content: 'gnu long', gnuLong: true },
    { path: `${'h'.repeat(150)}`, content: 'pax long' },
    { path: 'link-long', type: 'symlink', linkpath: `/${'t'.repeat(150)}`, gnuLong: true },
    { path: 'link-pax', type: 'symlink', linkpath: `/${'u'.repeat(150)}` },
    { path: 'big-ids', content: '', uid: 3_000_000_000, gid: 70_000, base256Ids: true },
    { path: 'pax-meta', content: 'p', pax: { mtime: '1700000000.5', uid: '4242', gid: '4343', uname: 'ü', 'SCHILY.xattr.security.capability': 'caps' } },
    { path: 'gnu-magic', content: 'old', gnuMagic: true },
    { path: 'contiguous', type: 'raw', typeflag: '7', content: 'c' },
    { path: 'sparse', type: 'raw', typeflag: 'S', content: 'zz' },
  ]);

  it.each([1, 7, 512, 513, 65536])('reads every form, fed in chunks of %i bytes', async (chunk) => {
    const entries = await readAll(archive, chunk);
    const by = new Map(entries.map((e) => [e.entry.path, e]));
    expect(entries.map((e) => e.entry.path)).toEqual([
      'etc/',
      'etc/hostname',
      'bin/sh',
      'bin/ln',
      'dev/null',
      'dev/sda',
      'run/fifo',
      'usr/bin/su',
      longName,
      'g'.repeat(150),
      'h'.repeat(150),
      'link-long',
      'link-pax',
      'big-ids',
      'pax-meta',
      'gnu-magic',
      'contiguous',
      'sparse',
    ]);
    expect(by.get('etc/')!.entry.type).toBe('directory');
    expect(by.get('etc/hostname')).toMatchObject({ content: 'box\n', entry: { type: 'file', mode: 0o644, uid: 1000, gid: 100, mtime: 1_600_000_000, size: 4 } });
    expect(by.get('bin/sh')!.entry).toMatchObject({ type: 'symlink', linkpath: 'busybox' });
    expect(by.get('bin/ln')!.entry).toMatchObject({ type: 'hardlink', linkpath: 'bin/busybox' });
    expect(by.get('dev/null')!.entry).toMatchObject({ type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 });
    expect(by.get('dev/sda')!.entry).toMatchObject({ type: 'blockdev', devmajor: 8, devminor: 0 });
    expect(by.get('run/fifo')!.entry.type).toBe('fifo');
    expect(by.get('usr/bin/su')!.entry.mode).toBe(0o4755);
    expect(by.get(longName)!.content).toBe('ustar prefix');
    expect(by.get('g'.repeat(150))!.content).toBe('gnu long');
    expect(by.get('h'.repeat(150))!.content).toBe('pax long');
    expect(by.get('link-long')!.entry.linkpath).toBe(`/${'t'.repeat(150)}`);
    expect(by.get('link-pax')!.entry.linkpath).toBe(`/${'u'.repeat(150)}`);
    expect(by.get('big-ids')!.entry).toMatchObject({ uid: 3_000_000_000, gid: 70_000 });
    expect(by.get('pax-meta')!.entry).toMatchObject({ mtime: 1_700_000_000.5, uid: 4242, gid: 4343, uname: 'ü' });
    expect(by.get('pax-meta')!.entry.xattrs['security.capability']?.toString()).toBe('caps');
    // With the old GNU magic the prefix field is not a path prefix.
    expect(by.get('gnu-magic')!.content).toBe('old');
    expect(by.get('contiguous')!.entry.type).toBe('file');
    expect(by.get('sparse')!.entry).toMatchObject({ type: 'unsupported', typeflag: 'S' });
  });

  it('applies a global PAX header to every later entry and lets an entry override it', async () => {
    const data = buildTar([{ path: 'a', content: '1' }, { path: 'b', content: '2', pax: { uid: '7' } }], { globalPax: { uid: '99', gid: '98' } });
    const entries = await readAll(data);
    expect(entries.map((e) => [e.entry.path, e.entry.uid, e.entry.gid])).toEqual([
      ['a', 99, 98],
      ['b', 7, 98],
    ]);
  });

  it('skips content the consumer does not read', async () => {
    const data = buildTar([{ path: 'big', content: Buffer.alloc(70_000, 1) }, { path: 'next', content: 'n' }]);
    const names: string[] = [];
    async function* once(): AsyncGenerator<Buffer> {
      yield data;
    }
    for await (const { entry } of readTar(once())) names.push(entry.path);
    expect(names).toEqual(['big', 'next']);
  });

  it('accepts a stream that ends at a header boundary without the end marker', async () => {
    expect((await readAll(buildTar([{ path: 'a', content: 'x' }], { noEndMarker: true }))).map((e) => e.content)).toEqual(['x']);
  });

  it('reads an empty archive', async () => {
    expect(await readAll(Buffer.alloc(1024))).toEqual([]);
    expect(await readAll(Buffer.alloc(0))).toEqual([]);
  });
});

describe('readTar refuses damaged streams', () => {
  it('a bad checksum (not a tar at all)', async () => {
    const data = buildTar([{ path: 'a', content: 'x' }]);
    data[0] = 'b'.charCodeAt(0);
    await expect(readAll(data)).rejects.toThrow(TarFormatError);
    await expect(readAll(Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(1020, 7)]))).rejects.toThrow('checksum');
  });

  it('a stream cut inside content or a header', async () => {
    const data = buildTar([{ path: 'a', content: Buffer.alloc(2000, 1) }]);
    await expect(readAll(data.subarray(0, 1000))).rejects.toThrow('ends inside the content of a');
    await expect(readAll(data.subarray(0, 300))).rejects.toThrow('ends inside a header block');
  });

  it('an implausibly large or malformed PAX header', async () => {
    const bad = Buffer.concat([tarEntry({ path: 'x', type: 'raw', typeflag: 'x', content: '9 path\n' }), tarEntry({ path: 'y' }), Buffer.alloc(1024)]);
    await expect(readAll(bad)).rejects.toThrow(TarFormatError);
    const huge = tarEntry({ path: 'x', type: 'raw', typeflag: 'x', content: 'a' });
    // Patch the size field to 2 MiB and fix the checksum.
    huge.write('00010000000\0', 124, 'latin1');
    huge.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of huge.subarray(0, 512)) sum += b;
    huge.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await expect(readAll(huge)).rejects.toThrow('implausibly large');
  });

  it('a NUL byte smuggled into a PAX path', async () => {
    const data = buildTar([{ path: 'a', content: 'x', pax: { path: 'ok\0../../etc/passwd' } }]);
    await expect(readAll(data)).rejects.toThrow('NUL byte');
  });
});

describe('header fields', () => {
  it('parses octal, space/NUL padding, base-256 and refuses junk', () => {
    expect(parseTarNumber(Buffer.from('0000644\0'), 'mode')).toBe(0o644);
    expect(parseTarNumber(Buffer.from('  644 \0\0'), 'mode')).toBe(0o644);
    expect(parseTarNumber(Buffer.alloc(8), 'mode')).toBe(0);
    expect(parseTarNumber(Buffer.from([0x80, 0, 0, 0, 0, 0, 1, 0]), 'uid')).toBe(256);
    expect(() => parseTarNumber(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'uid')).toThrow('negative');
    expect(() => parseTarNumber(Buffer.from('12a\0'), 'size')).toThrow('not octal');
    expect(() => parseTarNumber(Buffer.from([0x80, ...Buffer.alloc(11, 0xff)]), 'size')).toThrow('too large');
  });

  it('knows the end-of-archive block and the header size', () => {
    expect(isZeroBlock(Buffer.alloc(512))).toBe(true);
    expect(isZeroBlock(Buffer.concat([Buffer.alloc(511), Buffer.from([1])]))).toBe(false);
    expect(() => parseTarHeader(Buffer.alloc(100))).toThrow('not 512');
  });

  it('parses PAX records with multi-byte values and rejects broken lengths', () => {
    const recs = parsePaxRecords(paxData({ path: 'ä/ö', 'SCHILY.xattr.user.x': 'v=1' }));
    expect(recs.get('path')?.toString()).toBe('ä/ö');
    expect(recs.get('SCHILY.xattr.user.x')?.toString()).toBe('v=1');
    expect(() => parsePaxRecords(Buffer.from('99 path=x\n'))).toThrow('runs past');
    expect(() => parsePaxRecords(Buffer.from('x path=x\n'))).toThrow('not a number');
    expect(() => parsePaxRecords(Buffer.from('9 pathx\n\n'))).toThrow('key=value');
  });
});

describe('readTar on archives GNU tar writes', () => {
  const work = mkdtempSync(join(tmpdir(), 'flatbake-tar-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const src = join(work, 'src');
  mkdirSync(join(src, longDir), { recursive: true });
  writeFileSync(join(src, longName), 'deep');
  writeFileSync(join(src, `${'n'.repeat(120)}`), 'long base');
  writeFileSync(join(src, 'plain'), 'p');
  symlinkSync(`../${'t'.repeat(120)}`, join(src, 'sym'));
  linkSync(join(src, 'plain'), join(src, 'hard'));
  execFileSync('mkfifo', [join(src, 'fifo')]);

  it.each(['gnu', 'pax', 'posix', 'ustar'])('format %s', async (format) => {
    const file = join(work, `${format}.tar`);
    const names = format === 'ustar' ? ['plain', 'hard', 'sym', 'fifo', longDir] : ['.'];
    // ustar cannot hold a 120-byte base name nor the long symlink: leave them out there.
    const args = ['-C', src, `--format=${format}`, '-cf', file, ...(format === 'ustar' ? ['--exclude', 'sym', 'plain', 'hard', 'fifo', longDir] : names)];
    execFileSync('tar', args);
    const data = (await import('node:fs')).readFileSync(file);
    const entries = await readAll(data, 4096);
    const by = new Map(entries.map((e) => [e.entry.path.replace(/^\.\//, '').replace(/\/$/, ''), e]));
    expect(by.get(longName)?.content).toBe('deep');
    // tar stores whichever of the two names it meets first as the file, the other as a link to it.
    const [first, second] = entries.findIndex((e) => /(^|\/)plain$/.test(e.entry.path)) < entries.findIndex((e) => /(^|\/)hard$/.test(e.entry.path)) ? ['plain', 'hard'] : ['hard', 'plain'];
    expect(by.get(first)?.content).toBe('p');
    expect(by.get(second)?.entry).toMatchObject({ type: 'hardlink' });
    expect(by.get(second)?.entry.linkpath.replace(/^\.\//, '')).toBe(first);
    expect(by.get('fifo')?.entry.type).toBe('fifo');
    if (format !== 'ustar') {
      expect(by.get('n'.repeat(120))?.content).toBe('long base');
      expect(by.get('sym')?.entry).toMatchObject({ type: 'symlink', linkpath: `../${'t'.repeat(120)}` });
    }
  });
});
