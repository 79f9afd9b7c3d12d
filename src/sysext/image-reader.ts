/**
 * Read a sysext image without mounting it: detect its filesystem by magic, list its
 * entries with ownership and modes, and read files out of it.
 */
import { lstat, mkdir, open, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError, InputError } from '../errors.js';
import { run, runBinary } from '../util/exec.js';
import { parseDebugfsLs, type DebugfsDirEntry } from '../image/offline/debugfs.js';
import { makeTempDir, type TempDir } from '../util/tempdir.js';

export type FilesystemFormat = 'squashfs' | 'erofs' | 'ext4' | 'btrfs';

/** Bytes detectFilesystem() needs to see every magic (btrfs' is the farthest, at 64 KiB + 64). */
export const FILESYSTEM_PROBE_BYTES = 65608;

function bytesAt(buf: Uint8Array, offset: number, expected: readonly number[]): boolean {
  if (buf.length < offset + expected.length) return false;
  return expected.every((b, i) => buf[offset + i] === b);
}

/** Which filesystem a buffer starting at byte 0 of an image holds, by superblock magic. Pure. */
export function detectFilesystem(buf: Uint8Array): FilesystemFormat | undefined {
  if (bytesAt(buf, 0, [0x68, 0x73, 0x71, 0x73])) return 'squashfs'; // "hsqs"
  if (bytesAt(buf, 1024, [0xe2, 0xe1, 0xf5, 0xe0])) return 'erofs'; // 0xE0F5E1E2 little-endian
  if (bytesAt(buf, 1080, [0x53, 0xef])) return 'ext4'; // 0xEF53 little-endian (ext2/3/4 share it)
  if (bytesAt(buf, 65600, [...Buffer.from('_BHRfS_M', 'latin1')])) return 'btrfs';
  return undefined;
}

export async function detectFilesystemOfFile(file: string): Promise<FilesystemFormat | undefined> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot open ${file}: ${err.code ?? err.message}`);
  });
  try {
    const buf = Buffer.alloc(FILESYSTEM_PROBE_BYTES);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return detectFilesystem(buf.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface ImageEntry {
  /** Relative to the image root, no leading slash: `usr/bin/foo`. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target as stored. */
  target?: string;
}

export interface SysextImage {
  file: string;
  format: FilesystemFormat;
  entries: ImageEntry[];
  /** False when ownership came from an extraction done without root (it then shows the caller). */
  ownershipReliable: boolean;
  /** Look an entry up by path (no leading slash). */
  entry(p: string): ImageEntry | undefined;
  /** Read a regular file, following symlinks inside the image (never out of it). */
  readFile(p: string): Promise<Buffer>;
  /** The first N bytes of a regular file (no symlinks followed). */
  readHead(p: string, n: number): Promise<Buffer>;
  close(): Promise<void>;
}

const TYPE_BY_CHAR: Record<string, EntryType> = { '-': 'file', d: 'dir', l: 'symlink', c: 'char', b: 'block', p: 'fifo', s: 'socket' };

function typeFromMode(mode: number): EntryType {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'dir';
    case 0o120000: return 'symlink';
    case 0o020000: return 'char';
    case 0o060000: return 'block';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: throw new DiskFormatError(`unknown file type in mode 0${mode.toString(8)}`);
  }
}

/** `rwsr-xr-t` -> permission bits. */
export function permissionsFromString(perm: string): number {
  if (perm.length !== 9) throw new DiskFormatError(`unexpected permission string "${perm}"`);
  let mode = 0;
  const bit = (i: number, v: number) => (perm[i] !== '-' ? v : 0);
  mode |= bit(0, 0o400) | bit(1, 0o200) | bit(3, 0o040) | bit(4, 0o020) | bit(6, 0o004) | bit(7, 0o002);
  const exec = (i: number, xbit: number, special: number, lower: string, upper: string) => {
    const c = perm[i];
    if (c === 'x') mode |= xbit;
    else if (c === lower) mode |= xbit | special;
    else if (c === upper) mode |= special;
  };
  exec(2, 0o100, 0o4000, 's', 'S');
  exec(5, 0o010, 0o2000, 's', 'S');
  exec(8, 0o001, 0o1000, 't', 'T');
  return mode;
}

/** Parse `unsquashfs -lln -d ''` output. Symlink targets are cut by their byte length, so " -> " in names is safe. */
export function parseUnsquashfsListing(text: string): ImageEntry[] {
  const entries: ImageEntry[] = [];
  const re = /^([-dlcbps])([-rwxsStT]{9})\s+(\d+)\/(\d+)\s+(\d+|\d+,\s*\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d (.*)$/;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = re.exec(line);
    if (!m) throw new DiskFormatError(`cannot parse unsquashfs listing line: ${line}`);
    const type = TYPE_BY_CHAR[m[1]!]!;
    // Directory sizes are format artefacts; devices show major,minor there.
    const size = type === 'char' || type === 'block' ? 0 : Number(m[5]);
    let rest = m[6]!;
    let target: string | undefined;
    if (type === 'symlink') {
      const bytes = Buffer.from(rest, 'utf8');
      target = bytes.subarray(bytes.length - size).toString('utf8');
      rest = bytes.subarray(0, bytes.length - size - 4).toString('utf8');
    }
    const p = rest.replace(/^\/+/, '');
    if (p === '') continue; // the root directory itself
    const entry: ImageEntry = { path: p, type, mode: permissionsFromString(m[2]!), uid: Number(m[3]), gid: Number(m[4]), size: type === 'dir' ? 0 : size };
    if (target !== undefined) entry.target = target;
    entries.push(entry);
  }
  return entries;
}

/**
 * Split debugfs output of several `ls -p` commands (read as latin1) into one listing per
 * `debugfs: ` echo line, each parsed by the offline editor's parser.
 */
export function parseDebugfsLsBlocks(text: string): DebugfsDirEntry[][] {
  const blocks: string[][] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('debugfs: ')) blocks.push([]);
    else blocks.at(-1)?.push(line);
  }
  return blocks.map((lines) => parseDebugfsLs(lines.join('\n')));
}

/** stdout read as latin1 (one char per byte): names and link targets keep their exact bytes until decoded. */
async function debugfsBatch(file: string, commands: string[], purpose: string): Promise<string> {
  const { stdout } = await run('debugfs', ['-f', '-', file], { input: commands.join('\n') + '\n', purpose, binary: true });
  return stdout;
}

export interface Ext4Entry extends ImageEntry {
  ino: number;
}

/** Walk an ext4 image with debugfs (one call per directory level); the top-level lost+found is mkfs' own and skipped. */
export async function listExt4(file: string): Promise<Ext4Entry[]> {
  const entries: Ext4Entry[] = [];
  let level: Array<{ ino: number; path: string }> = [{ ino: 2, path: '' }];
  while (level.length > 0) {
    const out = await debugfsBatch(file, level.map((d) => `ls -p <${d.ino}>`), 'list the ext4 image');
    const blocks = parseDebugfsLsBlocks(out);
    if (blocks.length !== level.length) throw new DiskFormatError(`debugfs listed ${blocks.length} of ${level.length} directories in ${file}`);
    const next: Array<{ ino: number; path: string }> = [];
    level.forEach((dir, i) => {
      for (const row of blocks[i]!) {
        const p = dir.path ? `${dir.path}/${row.name}` : row.name;
        const type = typeFromMode(row.mode);
        if (p === 'lost+found' && type === 'dir') continue;
        entries.push({ ino: row.inode, path: p, type, mode: row.mode & 0o7777, uid: row.uid, gid: row.gid, size: type === 'dir' ? 0 : row.size });
        if (type === 'dir') next.push({ ino: row.inode, path: p });
      }
    });
    level = next;
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const links = entries.filter((e) => e.type === 'symlink');
  if (links.length > 0) {
    const out = await debugfsBatch(file, links.map((l) => `stat <${l.ino}>`), 'read ext4 symlinks');
    const stats = out.split(/^debugfs: /m).slice(1);
    for (const [i, link] of links.entries()) {
      const m = /^Fast link dest: "(.*)"$/m.exec(stats[i] ?? '');
      // Slow (long) symlinks keep their target in a data block, which `cat` prints.
      link.target = m ? Buffer.from(m[1]!, 'latin1').toString('utf8') : (await runBinary('debugfs', ['-R', `cat <${link.ino}>`, file])).toString('utf8');
    }
  }
  return entries;
}

/** List a tree extracted from an image (erofs, btrfs), as lstat sees it. */
async function listExtractedTree(root: string): Promise<ImageEntry[]> {
  const entries: ImageEntry[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const abs = path.join(dir, name);
      const p = rel ? `${rel}/${name}` : name;
      const st = await lstat(abs);
      const type = typeFromMode(st.mode);
      const entry: ImageEntry = { path: p, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'dir' ? 0 : st.size };
      if (type === 'symlink') entry.target = await readlink(abs);
      entries.push(entry);
      if (type === 'dir') await walk(abs, p);
    }
  }
  await walk(root, '');
  return entries;
}

async function extract(file: string, format: FilesystemFormat, dest: string): Promise<void> {
  switch (format) {
    case 'squashfs':
      await run('unsquashfs', ['-no-progress', '-no-xattrs', '-d', dest, file], { purpose: 'extract the squashfs image' });
      return;
    case 'erofs':
      // --preserve keeps owners and modes (as root), which the listing relies on.
      await run('fsck.erofs', [`--extract=${dest}`, '--preserve', file], { purpose: 'extract the erofs image' });
      return;
    case 'ext4': {
      await mkdir(dest);
      await run('debugfs', ['-R', `rdump / "${dest}"`, file], { purpose: 'extract the ext4 image' });
      return;
    }
    case 'btrfs': {
      await mkdir(dest);
      // -m: owners, modes and times; -S: symlinks; no -x so host-specific xattrs are not applied.
      await run('btrfs', ['restore', '-m', '-S', file, dest], { purpose: 'extract the btrfs image' });
      return;
    }
  }
}

/** Follow symlinks inside the image (absolute targets are relative to the image root). */
export function resolveInImage(byPath: ReadonlyMap<string, ImageEntry>, p: string): ImageEntry | undefined {
  let parts = p.split('/').filter((s) => s !== '' && s !== '.');
  let hops = 0;
  for (let i = 0; i < parts.length; ) {
    if (parts[i] === '..') {
      parts = [...parts.slice(0, Math.max(0, i - 1)), ...parts.slice(i + 1)];
      i = Math.max(0, i - 1);
      continue;
    }
    const prefix = parts.slice(0, i + 1).join('/');
    const entry = byPath.get(prefix);
    if (!entry) return undefined;
    if (entry.type === 'symlink') {
      if (++hops > 40) return undefined;
      const target = entry.target ?? '';
      const base = target.startsWith('/') ? [] : parts.slice(0, i);
      parts = [...base, ...target.split('/').filter((s) => s !== '' && s !== '.'), ...parts.slice(i + 1)];
      i = 0;
      continue;
    }
    i++;
  }
  return byPath.get(parts.join('/'));
}

/**
 * Open an image for reading. erofs and btrfs are listed from an extraction (their tools have
 * no numeric listing); squashfs and ext4 are listed by their tools and extracted only when a
 * file is read. Always close() it: that removes the extraction.
 */
export async function openSysextImage(file: string): Promise<SysextImage> {
  const format = await detectFilesystemOfFile(file);
  if (!format) {
    throw new DiskFormatError(`${file} is not a squashfs, erofs, ext4 or btrfs image`, 'a sysext is a filesystem image, usually NAME.raw built with `flatbake sysext create`');
  }
  let temp: TempDir | undefined = await makeTempDir('flatbake-inspect-');
  const extractedRoot = path.join(temp.path, 'root');
  let extracted: Promise<void> | undefined;
  const ensureExtracted = () => (extracted ??= extract(file, format, extractedRoot));
  try {
    let entries: ImageEntry[];
    if (format === 'squashfs') {
      const { stdout } = await run('unsquashfs', ['-lln', '-d', '', file], { purpose: 'list the squashfs image' });
      entries = parseUnsquashfsListing(stdout);
    } else if (format === 'ext4') {
      entries = (await listExt4(file)).map(({ ino: _ino, ...rest }) => rest);
    } else {
      await ensureExtracted();
      entries = await listExtractedTree(extractedRoot);
    }
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const regular = (p: string, follow: boolean): ImageEntry => {
      const clean = p.replace(/^\/+/, '');
      const e = follow ? resolveInImage(byPath, clean) : byPath.get(clean);
      if (!e) throw new InputError(`${clean} does not exist in ${file}`);
      if (e.type !== 'file') throw new InputError(`${clean} in ${file} is a ${e.type}, not a regular file`);
      return e;
    };
    const isRoot = process.getuid?.() === 0;
    return {
      file,
      format,
      entries,
      ownershipReliable: format === 'squashfs' || format === 'ext4' || isRoot,
      entry: (p) => byPath.get(p.replace(/^\/+/, '')),
      async readFile(p) {
        const e = regular(p, true);
        await ensureExtracted();
        return readFile(path.join(extractedRoot, e.path));
      },
      async readHead(p, n) {
        const e = regular(p, false);
        await ensureExtracted();
        const handle = await open(path.join(extractedRoot, e.path), 'r');
        try {
          const buf = Buffer.alloc(n);
          const { bytesRead } = await handle.read(buf, 0, n, 0);
          return buf.subarray(0, bytesRead);
        } finally {
          await handle.close();
        }
      },
      async close() {
        await extracted?.catch(() => undefined);
        await temp?.remove();
        temp = undefined;
      },
    };
  } catch (err) {
    await extracted?.catch(() => undefined);
    await temp.remove();
    throw err;
  }
}

/** List an image's entries. */
export async function listSysextImage(file: string): Promise<ImageEntry[]> {
  const image = await openSysextImage(file);
  try {
    return image.entries;
  } finally {
    await image.close();
  }
}

/** Read one file out of an image (symlinks inside the image are followed). */
export async function readSysextFile(file: string, p: string): Promise<Buffer> {
  const image = await openSysextImage(file);
  try {
    return await image.readFile(p);
  } finally {
    await image.close();
  }
}
