import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, existsSync, symlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeEntryPath, RootfsWriter, UnsafeLayerError } from '../../src/oci/apply.js';
import { readTar } from '../../src/util/tar.js';
import { buildTar, type TestEntry } from './helpers/tar-writer.js';

const isRoot = process.getuid?.() === 0;

let work: string;
let root: string;
let outside: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'flatbake-apply-'));
  root = join(work, 'rootfs');
  outside = join(work, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'keep'), 'untouched');
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function apply(writer: RootfsWriter, entries: TestEntry[], name = 'L'): Promise<Awaited<ReturnType<RootfsWriter['applyLayer']>>> {
  const data = buildTar(entries);
  async function* source(): AsyncGenerator<Buffer> {
    yield data;
  }
  return writer.applyLayer(readTar(source()), name);
}

/** Nothing but the rootfs and the untouched sentinel next to it. */
function expectNothingOutside(): void {
  expect(readdirSync(work).sort()).toEqual(['outside', 'rootfs']);
  expect(readdirSync(outside)).toEqual(['keep']);
  expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('untouched');
}

const ls = (dir: string): string[] => readdirSync(join(root, dir)).sort();

describe('normalizeEntryPath', () => {
  it.each([
    ['a/b', ['a', 'b']],
    ['./a//b/', ['a', 'b']],
    ['.', []],
    ['./', []],
    ['a/./b', ['a', 'b']],
    ['...', ['...']],
    ['..a/b..', ['..a', 'b..']],
  ])('%j', (p, expected) => {
    expect(normalizeEntryPath(p)).toEqual(expected);
  });
  it.each(['/etc/passwd', '../x', 'a/../../x', 'a/..', '..'])('refuses %j', (p) => {
    expect(() => normalizeEntryPath(p)).toThrow(UnsafeLayerError);
  });
});

describe('RootfsWriter', () => {
  it('creates files, directories, links and special files with their metadata', async () => {
    const w = new RootfsWriter(root);
    const stats = await apply(w, [
      { path: './', type: 'dir' },
      { path: 'etc/', type: 'dir', mode: 0o755, mtime: 1_500_000_000 },
      { path: 'etc/motd', content: 'hello\n', mode: 0o640, uid: 1234, gid: 2345, mtime: 1_600_000_000 },
      { path: 'usr/bin/su', content: 'su', mode: 0o4755, uid: 0, gid: 0 },
      { path: 'usr/bin/view', type: 'hardlink', linkpath: 'etc/motd' },
      { path: 'bin', type: 'symlink', linkpath: 'usr/bin', mtime: 1_400_000_000 },
      { path: 'dangling', type: 'symlink', linkpath: '/nonexistent/target' },
      { path: 'run/ctl', type: 'fifo', mode: 0o620 },
      { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'dev/loop9', type: 'block', devmajor: 7, devminor: 9, mode: 0o660 },
      { path: 'ro/', type: 'dir', mode: 0o555, mtime: 1_300_000_000 },
      { path: 'ro/inside', content: 'x' },
    ]);
    await w.finish();

    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('hello\n');
    const motd = statSync(join(root, 'etc/motd'));
    expect(motd.mode & 0o7777).toBe(0o640);
    expect(motd.mtimeMs).toBe(1_600_000_000_000);
    expect(statSync(join(root, 'usr/bin/su')).mode & 0o7777).toBe(0o4755);
    expect(statSync(join(root, 'usr/bin/view')).ino).toBe(motd.ino);
    expect(readlinkSync(join(root, 'bin'))).toBe('usr/bin');
    expect(lstatSync(join(root, 'bin')).mtimeMs).toBe(1_400_000_000_000);
    expect(readlinkSync(join(root, 'dangling'))).toBe('/nonexistent/target');
    expect(lstatSync(join(root, 'run/ctl')).isFIFO()).toBe(true);
    expect(lstatSync(join(root, 'run/ctl')).mode & 0o7777).toBe(0o620);
    // Read-only directories become read-only only at the end, after their content is in.
    expect(statSync(join(root, 'ro')).mode & 0o7777).toBe(0o555);
    expect(readFileSync(join(root, 'ro/inside'), 'utf8')).toBe('x');
    expect(statSync(join(root, 'ro')).mtimeMs).toBe(1_300_000_000_000);
    expect(statSync(join(root, 'etc')).mtimeMs).toBe(1_500_000_000_000);
    expect(stats).toMatchObject({ files: 3, directories: 2, symlinks: 2, hardlinks: 1, fifos: 1, bytes: 9 });
    if (isRoot) {
      expect([motd.uid, motd.gid]).toEqual([1234, 2345]);
      const dev = lstatSync(join(root, 'dev/null'));
      expect(dev.isCharacterDevice()).toBe(true);
      expect(dev.rdev).toBe((1 << 8) | 3);
      expect(lstatSync(join(root, 'dev/loop9')).isBlockDevice()).toBe(true);
      expect(stats.devices).toBe(2);
    }
    expectNothingOutside();
  });

  it('without root: skips device nodes with a warning, keeps fifos, leaves owners alone', async () => {
    const warnings: string[] = [];
    const w = new RootfsWriter(root, { asRoot: false, warn: (t) => warnings.push(t) });
    const stats = await apply(w, [
      { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
      { path: 'fifo', type: 'fifo' },
      { path: 'owned', content: 'o', uid: 4321, gid: 4321 },
    ], 'nonroot');
    expect(existsSync(join(root, 'dev/null'))).toBe(false);
    expect(lstatSync(join(root, 'fifo')).isFIFO()).toBe(true);
    expect(statSync(join(root, 'owned')).uid).toBe(process.getuid?.());
    expect(stats.skipped).toBe(1);
    expect(warnings).toEqual(['layer nonroot: device node dev/null (1:3) skipped: creating device nodes needs root']);
  });

  it('warns about unsupported entries and extended attributes it cannot apply', async () => {
    const w = new RootfsWriter(root, { asRoot: false });
    const stats = await apply(w, [
      { path: 'sparse', type: 'raw', typeflag: 'S', content: 'zz' },
      { path: 'bin/ping', content: 'p', pax: { 'SCHILY.xattr.security.capability': 'x' } },
    ]);
    expect(existsSync(join(root, 'sparse'))).toBe(false);
    expect(stats.warnings).toEqual([
      'layer L: entry sparse of tar type "S" is not supported; skipped',
      'layer L: 1 extended attribute(s) not applied (e.g. security.capability on bin/ping)',
    ]);
  });

  it('applies whiteouts and opaque directories to lower layers only', async () => {
    const w = new RootfsWriter(root);
    await apply(w, [
      { path: 'a/b', content: 'b' },
      { path: 'a/c', content: 'c' },
      { path: 'gone/deep/file', content: 'x' },
      { path: 'opq/old', content: 'old' },
      { path: 'opq/sub/old', content: 'old' },
      { path: 'opq/sub2/old', content: 'old' },
      { path: 'keepme', content: 'lower' },
    ], 'lower');
    const stats = await apply(w, [
      { path: 'a/.wh.b', content: '' },
      { path: '.wh.gone', content: '' },
      { path: '.wh.missing', content: '' },
      { path: 'opq/new', content: 'new' },
      { path: 'opq/sub/', type: 'dir' },
      { path: 'opq/sub/new', content: 'new' },
      { path: 'opq/.wh..wh..opq', content: '' },
      // The same layer's own entry is not hidden by its whiteout.
      { path: 'keepme', content: 'upper' },
      { path: '.wh.keepme', content: '' },
      { path: '.wh..wh.plnk', content: '' },
    ], 'upper');
    await w.finish();
    expect(ls('a')).toEqual(['c']);
    expect(existsSync(join(root, 'gone'))).toBe(false);
    expect(ls('opq')).toEqual(['new', 'sub']);
    expect(ls('opq/sub')).toEqual(['new']);
    expect(readFileSync(join(root, 'keepme'), 'utf8')).toBe('upper');
    expect(ls('').filter((n) => n.startsWith('.wh.'))).toEqual([]);
    expect(stats).toMatchObject({ whiteouts: 4, opaqueDirs: 1 });
  });

  it('an opaque marker before the directory\'s new content hides only the lower content', async () => {
    const w = new RootfsWriter(root);
    await apply(w, [{ path: 'd/lower', content: 'l' }]);
    await apply(w, [{ path: 'd/', type: 'dir' }, { path: 'd/.wh..wh..opq', content: '' }, { path: 'd/upper', content: 'u' }]);
    expect(ls('d')).toEqual(['upper']);
  });

  it('replaces entries of lower layers: file over directory, directory over file, link over file', async () => {
    const w = new RootfsWriter(root);
    await apply(w, [{ path: 'x/inner', content: '1' }, { path: 'y', content: 'file' }, { path: 'z', content: 'file' }, { path: 'keepdir/f', content: 'f' }]);
    await apply(w, [
      { path: 'x', content: 'now a file' },
      { path: 'y/', type: 'dir' },
      { path: 'z', type: 'symlink', linkpath: 'y' },
      { path: 'keepdir/', type: 'dir', mode: 0o700 },
    ]);
    await w.finish();
    expect(readFileSync(join(root, 'x'), 'utf8')).toBe('now a file');
    expect(lstatSync(join(root, 'y')).isDirectory()).toBe(true);
    expect(readlinkSync(join(root, 'z'))).toBe('y');
    // A directory entry over a directory keeps its content and takes the new mode.
    expect(ls('keepdir')).toEqual(['f']);
    expect(statSync(join(root, 'keepdir')).mode & 0o777).toBe(0o700);
  });

  it('follows symlinked parents inside the rootfs (merged /usr), relative and absolute', async () => {
    const w = new RootfsWriter(root);
    await apply(w, [
      { path: 'usr/lib/', type: 'dir' },
      { path: 'lib', type: 'symlink', linkpath: 'usr/lib' },
      { path: 'lib64', type: 'symlink', linkpath: '/usr/lib' },
      { path: 'usr/lib/sub/up', type: 'symlink', linkpath: '../../..' },
      { path: 'lib/libfoo.so', content: 'foo' },
    ]);
    expect(readFileSync(join(root, 'usr/lib/libfoo.so'), 'utf8')).toBe('foo');
    await apply(w, [
      { path: 'lib64/libbar.so', content: 'bar' },
      // up -> ../../.. from usr/lib/sub is the rootfs root: still inside.
      { path: 'usr/lib/sub/up/etc/issue', content: 'issue' },
      { path: 'lib/.wh.libfoo.so', content: '' },
    ]);
    expect(ls('usr/lib')).toEqual(['libbar.so', 'sub']);
    expect(readFileSync(join(root, 'etc/issue'), 'utf8')).toBe('issue');
    expect(lstatSync(join(root, 'lib')).isSymbolicLink()).toBe(true);
    expectNothingOutside();
  });

  describe('hostile layers', () => {
    it.each<[string, TestEntry[], string]>([
      ['a ../ path', [{ path: '../escape', content: 'x' }], 'entry "../escape" contains ".."'],
      ['a nested ../ path', [{ path: 'a/../../outside/keep', content: 'x' }], 'contains ".."'],
      ['an absolute path', [{ path: '/etc/passwd', content: 'x' }], 'is an absolute path'],
      ['a write through a symlink that climbs out', [{ path: 'evil', type: 'symlink', linkpath: '../outside' }, { path: 'evil/keep', content: 'pwned' }], 'points outside the rootfs'],
      ['a write through a deep climbing symlink', [{ path: 'a/b', type: 'symlink', linkpath: '../../../../../../..' }, { path: 'a/b/tmp/x', content: 'x' }], 'points outside the rootfs'],
      ['a symlink loop', [{ path: 'l1', type: 'symlink', linkpath: 'l2' }, { path: 'l2', type: 'symlink', linkpath: 'l1' }, { path: 'l1/x', content: 'x' }], 'symlink loop'],
      ['a hard link to ../', [{ path: 'h', type: 'hardlink', linkpath: '../outside/keep' }], 'hard link whose'],
      ['a hard link to an absolute path', [{ path: 'h', type: 'hardlink', linkpath: '/etc/passwd' }], 'absolute path'],
      ['a hard link through a climbing symlink', [{ path: 's', type: 'symlink', linkpath: '../outside' }, { path: 'h', type: 'hardlink', linkpath: 's/keep' }], 'points outside the rootfs'],
      ['a hard link to a directory', [{ path: 'd/', type: 'dir' }, { path: 'h', type: 'hardlink', linkpath: 'd' }], 'hard link to the directory'],
      ['a whiteout through a climbing symlink', [{ path: 's', type: 'symlink', linkpath: '../outside' }, { path: 's/.wh.keep', content: '' }], 'points outside the rootfs'],
      ['an opaque marker through a climbing symlink', [{ path: 's', type: 'symlink', linkpath: '..' }, { path: 's/.wh..wh..opq', content: '' }], 'points outside the rootfs'],
      ['a file under a regular file', [{ path: 'f', content: 'x' }, { path: 'f/g', content: 'y' }], 'to be a directory'],
      ['a whiteout of ..', [{ path: 'a/', type: 'dir' }, { path: 'a/.wh...', content: '' }], 'whiteout of no valid name'],
    ])('refuses %s, naming the layer and entry, and writes nothing outside', async (_what, entries, message) => {
      const w = new RootfsWriter(root);
      const error = await apply(w, entries, '3/3 sha256:bad').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeLayerError);
      expect((error as Error).message).toContain('layer 3/3 sha256:bad: entry');
      expect((error as Error).message).toContain(message);
      expectNothingOutside();
    });

    it('an absolute symlink is resolved inside the rootfs, not on the host', async () => {
      const w = new RootfsWriter(root);
      await apply(w, [{ path: 'evil', type: 'symlink', linkpath: outside }, { path: 'evil/keep', content: 'pwned' }, { path: 'evil/new', content: 'n' }]);
      expect(readFileSync(join(root, outside, 'keep'), 'utf8')).toBe('pwned');
      expectNothingOutside();
    });

    it('a file entry replaces a symlink at its own name instead of writing through it', async () => {
      symlinkSync(join(outside, 'keep'), join(root, 'trap'));
      const w = new RootfsWriter(root);
      await apply(w, [{ path: 'trap', content: 'replaced' }, { path: 'trap2', type: 'symlink', linkpath: join(outside, 'keep') }, { path: 'trap2', content: 'again' }]);
      expect(lstatSync(join(root, 'trap')).isFile()).toBe(true);
      expect(readFileSync(join(root, 'trap'), 'utf8')).toBe('replaced');
      expect(readFileSync(join(root, 'trap2'), 'utf8')).toBe('again');
      expectNothingOutside();
    });

    it('a hard link to a missing file is an error, not a link to something else', async () => {
      const w = new RootfsWriter(root);
      await expect(apply(w, [{ path: 'h', type: 'hardlink', linkpath: 'nope' }])).rejects.toThrow('which does not exist');
    });

    it('a hard link to a symlink links the symlink itself, not its target', async () => {
      const w = new RootfsWriter(root);
      await apply(w, [{ path: 's', type: 'symlink', linkpath: join(outside, 'keep') }, { path: 'h', type: 'hardlink', linkpath: 's' }]);
      expect(lstatSync(join(root, 'h')).isSymbolicLink()).toBe(true);
      expect(lstatSync(join(root, 'h')).ino).toBe(lstatSync(join(root, 's')).ino);
      expectNothingOutside();
    });
  });
});
