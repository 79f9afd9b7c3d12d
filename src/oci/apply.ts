import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { run } from '../util/exec.js';
import type { TarEntry, TarStreamEntry } from '../util/tar.js';

/** A layer that tries to write outside the rootfs, or is otherwise not applicable. */
export class UnsafeLayerError extends InputError {}

export interface LayerStats {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  whiteouts: number;
  opaqueDirs: number;
  /** Entries not applied (devices without root, unsupported types); each has a warning. */
  skipped: number;
  /** Content bytes written. */
  bytes: number;
  warnings: string[];
}

export interface RootfsWriterOptions {
  /** Apply owners and create device nodes. Default: whether this process is root. */
  asRoot?: boolean;
  /** Told each warning as it happens (it is also kept in the layer's stats). */
  warn?: (text: string) => void;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
/** As the kernel: a chain this long is a loop or an attack. */
const MAX_SYMLINK_HOPS = 40;

function errno(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * The components of an archive path: `./a//b/` -> ['a', 'b']; `.` -> [] (the
 * root itself). Absolute paths and any `..` are refused: a layer names
 * paths inside the image, and nothing else.
 */
export function normalizeEntryPath(path: string, what = 'entry'): string[] {
  if (path.startsWith('/')) throw new UnsafeLayerError(`${what} ${JSON.stringify(path)} is an absolute path`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(`${what} ${JSON.stringify(path)} contains ".."`);
  return parts;
}

function emptyStats(): LayerStats {
  return { files: 0, directories: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, whiteouts: 0, opaqueDirs: 0, skipped: 0, bytes: 0, warnings: [] };
}

interface DirMetadata {
  mode: number;
  mtime: number;
}

/**
 * Applies layers, in order, to one rootfs directory.
 *
 * Every path is resolved component by component with lstat, never by the
 * kernel: a symlink met on the way (`lib -> usr/lib` in merged-usr images) is
 * followed as it would be inside the image, with `root` as `/`, and a chain
 * that climbs above `root` is refused. The last component is never followed:
 * whatever is there is removed and the entry created in its place (files with
 * O_EXCL|O_NOFOLLOW). So no entry, however hostile, writes outside `root`.
 *
 * Directory modes and times are set in `finish()`, after every layer: adding
 * entries changes a directory's mtime, and a read-only directory must stay
 * writable until its last layer is in.
 */
export class RootfsWriter {
  readonly asRoot: boolean;
  private readonly dirMetadata = new Map<string, DirMetadata>();
  /** Real relative paths of directories resolved in this layer; cleared whenever anything is replaced. */
  private resolvedDirs = new Map<string, string[]>();
  /** Relative paths this layer created; whiteouts only hide what lower layers made. */
  private created = new Set<string>();
  /** Every ancestor of a path in `created`. */
  private createdAncestors = new Set<string>();
  private stats = emptyStats();
  private layerName = '';
  private entryPath = '';

  constructor(
    readonly root: string,
    private readonly options: RootfsWriterOptions = {},
  ) {
    this.asRoot = options.asRoot ?? process.getuid?.() === 0;
  }

  private unsafe(why: string): UnsafeLayerError {
    return new UnsafeLayerError(
      `layer ${this.layerName}: entry ${JSON.stringify(this.entryPath)} ${why}; refusing to apply it`,
      'the image contains a hostile or broken layer: do not use it',
    );
  }

  private warn(text: string): void {
    const line = `layer ${this.layerName}: ${text}`;
    this.stats.warnings.push(line);
    this.options.warn?.(line);
  }

  private abs(rel: readonly string[]): string {
    return join(this.root, ...rel);
  }

  /**
   * Resolve directory components inside the rootfs, following symlinks as
   * the image would see them. Missing directories are created (0755) when
   * `create` is set, else the result is undefined.
   */
  private async resolveDir(components: readonly string[], create: boolean): Promise<string[] | undefined> {
    const key = components.join('/');
    const cached = this.resolvedDirs.get(key);
    if (cached) return cached;
    const resolved: string[] = [];
    const queue = [...components];
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (resolved.length === 0) throw this.unsafe('goes through a symlink that points outside the rootfs');
        resolved.pop();
        continue;
      }
      const path = this.abs([...resolved, c]);
      let st;
      try {
        st = await lstat(path);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
        if (!create) return undefined;
        await mkdir(path, { mode: 0o755 });
        await chmod(path, 0o755); // the umask must not decide a rootfs mode
        resolved.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw this.unsafe('goes through a symlink loop');
        const target = await readlink(path);
        // An absolute target means the image's root, which is ours.
        if (target.startsWith('/')) resolved.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      }
      if (!st.isDirectory()) throw this.unsafe(`needs ${JSON.stringify([...resolved, c].join('/'))} to be a directory, but it is not`);
      resolved.push(c);
    }
    this.resolvedDirs.set(key, resolved);
    return resolved;
  }

  /** Remove whatever is at `rel` (not following a symlink there). */
  private async removeExisting(rel: string, keepDirectory: boolean): Promise<'none' | 'directory' | 'removed'> {
    const path = join(this.root, rel);
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (errno(err) === 'ENOENT') return 'none';
      throw err;
    }
    if (st.isDirectory() && keepDirectory) return 'directory';
    // fs.rm never follows symlinks, at the top or below.
    await rm(path, { recursive: true, force: true });
    this.forgetBelow(rel);
    return 'removed';
  }

  private forgetBelow(rel: string): void {
    this.resolvedDirs.clear();
    for (const key of this.dirMetadata.keys()) {
      if (key === rel || key.startsWith(`${rel}/`)) this.dirMetadata.delete(key);
    }
  }

  private markCreated(rel: string): void {
    this.created.add(rel);
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) this.createdAncestors.add(parts.slice(0, i).join('/'));
    this.createdAncestors.add('');
  }

  /** Delete what lower layers put at `rel`, keeping anything this layer made there. */
  private async removeLower(rel: string): Promise<void> {
    const path = join(this.root, rel);
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw err;
    }
    const keep = this.created.has(rel);
    if (!keep && !this.createdAncestors.has(rel)) {
      await rm(path, { recursive: true, force: true });
      this.forgetBelow(rel);
      return;
    }
    if (!st.isDirectory()) return;
    for (const child of await readdir(path)) await this.removeLower(rel === '' ? child : `${rel}/${child}`);
  }

  private async setOwner(path: string, entry: TarEntry): Promise<void> {
    if (this.asRoot) await lchown(path, entry.uid, entry.gid);
  }

  /** Apply one layer's entries; returns what was done. */
  async applyLayer(entries: AsyncIterable<TarStreamEntry>, layerName: string): Promise<LayerStats> {
    this.layerName = layerName;
    this.stats = emptyStats();
    this.created = new Set();
    this.createdAncestors = new Set();
    this.resolvedDirs = new Map();
    let xattrs = 0;
    let xattrExample = '';
    for await (const { entry, body } of entries) {
      this.entryPath = entry.path;
      const n = Object.keys(entry.xattrs).length;
      if (n > 0) {
        xattrs += n;
        xattrExample ||= `${Object.keys(entry.xattrs)[0]} on ${entry.path}`;
      }
      await this.applyEntry(entry, body);
    }
    if (xattrs > 0) this.warn(`${xattrs} extended attribute(s) not applied (e.g. ${xattrExample})`);
    return this.stats;
  }

  private async applyEntry(entry: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    let parts: string[];
    try {
      parts = normalizeEntryPath(entry.path);
    } catch (err) {
      throw this.unsafe(err instanceof Error ? err.message.replace(/^entry "[^"]*" /, '') : String(err));
    }
    if (parts.length === 0) {
      // The archive's own root ("./"): the rootfs directory already exists; its metadata is the caller's.
      return;
    }
    const name = parts[parts.length - 1]!;
    const parentReal = (await this.resolveDir(parts.slice(0, -1), true))!;
    const parentRel = parentReal.join('/');
    const rel = parentRel === '' ? name : `${parentRel}/${name}`;
    const path = this.abs([...parentReal, name]);

    if (name.startsWith(WHITEOUT_PREFIX)) {
      if (name === OPAQUE_MARKER) {
        this.stats.opaqueDirs++;
        for (const child of await readdir(this.abs(parentReal))) {
          await this.removeLower(parentRel === '' ? child : `${parentRel}/${child}`);
        }
      } else if (name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
        // Other aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless outside aufs.
      } else {
        const hidden = name.slice(WHITEOUT_PREFIX.length);
        if (hidden === '' || hidden === '.' || hidden === '..') throw this.unsafe('is a whiteout of no valid name');
        this.stats.whiteouts++;
        await this.removeLower(parentRel === '' ? hidden : `${parentRel}/${hidden}`);
      }
      return;
    }

    switch (entry.type) {
      case 'directory': {
        if ((await this.removeExisting(rel, true)) !== 'directory') await mkdir(path);
        await this.setOwner(path, entry);
        // Writable and searchable by us until finish() sets the real mode.
        await chmod(path, this.asRoot ? entry.mode : entry.mode | 0o700);
        this.dirMetadata.set(rel, { mode: entry.mode, mtime: entry.mtime });
        this.stats.directories++;
        break;
      }
      case 'file': {
        await this.removeExisting(rel, false);
        const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) {
            let offset = 0;
            while (offset < chunk.length) offset += (await fh.write(chunk, offset, chunk.length - offset)).bytesWritten;
            this.stats.bytes += chunk.length;
          }
          // Owner before mode: chown clears setuid/setgid bits.
          if (this.asRoot) await fh.chown(entry.uid, entry.gid);
          await fh.chmod(entry.mode);
          await fh.utimes(entry.mtime, entry.mtime);
        } finally {
          await fh.close();
        }
        this.stats.files++;
        break;
      }
      case 'symlink': {
        await this.removeExisting(rel, false);
        // The target is stored as given and never followed here.
        await symlink(entry.linkpath, path);
        this.resolvedDirs.clear();
        await this.setOwner(path, entry);
        await lutimes(path, entry.mtime, entry.mtime);
        this.stats.symlinks++;
        break;
      }
      case 'hardlink': {
        let targetParts: string[];
        try {
          targetParts = normalizeEntryPath(entry.linkpath, 'hard-link target');
        } catch (err) {
          throw this.unsafe(`is a hard link whose ${err instanceof Error ? err.message : String(err)}`);
        }
        if (targetParts.length === 0) throw this.unsafe('is a hard link to the root directory');
        const targetParent = await this.resolveDir(targetParts.slice(0, -1), false);
        const targetPath = targetParent === undefined ? undefined : this.abs([...targetParent, targetParts[targetParts.length - 1]!]);
        const st = targetPath === undefined ? undefined : await lstat(targetPath).catch(() => undefined);
        if (targetPath === undefined || st === undefined) throw this.unsafe(`is a hard link to ${JSON.stringify(entry.linkpath)}, which does not exist`);
        if (st.isDirectory()) throw this.unsafe(`is a hard link to the directory ${JSON.stringify(entry.linkpath)}`);
        if (targetPath === path) break;
        await this.removeExisting(rel, false);
        // link(2) does not follow a symlink source: the link is to the entry itself, as in the archive.
        await link(targetPath, path);
        this.stats.hardlinks++;
        break;
      }
      case 'chardev':
      case 'blockdev':
      case 'fifo': {
        const isFifo = entry.type === 'fifo';
        if (!isFifo && !this.asRoot) {
          this.stats.skipped++;
          this.warn(`device node ${entry.path} (${entry.devmajor}:${entry.devminor}) skipped: creating device nodes needs root`);
          break;
        }
        await this.removeExisting(rel, false);
        const kind = isFifo ? ['p'] : [entry.type === 'chardev' ? 'c' : 'b', String(entry.devmajor), String(entry.devminor)];
        await run('mknod', ['-m', (entry.mode & 0o7777).toString(8), '--', path, ...kind], { purpose: `create ${entry.path} from layer ${this.layerName}` });
        await this.setOwner(path, entry);
        // mknod's -m is applied before the chown, which may clear setuid bits.
        if (this.asRoot) await chmod(path, entry.mode);
        await lutimes(path, entry.mtime, entry.mtime);
        if (isFifo) this.stats.fifos++;
        else this.stats.devices++;
        break;
      }
      case 'unsupported':
        this.stats.skipped++;
        this.warn(`entry ${entry.path} of tar type ${JSON.stringify(entry.typeflag)} is not supported; skipped`);
        return;
    }
    this.markCreated(rel);
  }

  /**
   * Set directory modes and times, deepest first so setting a parent's time
   * is not undone by touching a child. Call once, after the last layer.
   */
  async finish(): Promise<void> {
    const dirs = [...this.dirMetadata.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [rel, meta] of dirs) {
      const path = join(this.root, rel);
      const st = await lstat(path).catch(() => undefined);
      // Replaced by a later layer with something else: its metadata went with it.
      if (st === undefined || !st.isDirectory()) continue;
      await chmod(path, meta.mode);
      await utimes(path, meta.mtime, meta.mtime);
    }
    this.dirMetadata.clear();
  }
}
