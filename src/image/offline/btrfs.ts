/**
 * btrfs edited without mounting it. btrfs-progs cannot change a filesystem
 * in place, so the partition is copied out, its files restored into a
 * staging tree (btrfs restore), the tree edited, and on commit a new
 * filesystem with the same label, UUID, node/sector size, checksum, features
 * and profiles is made from the tree (mkfs.btrfs --rootdir) into a file of
 * exactly the partition's size, checked, and written back over the range.
 */
import { chmod, copyFile, lstat, lutimes, mkdir, readdir, readFile, readlink, rm, stat, symlink as fsSymlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandError, DiskFormatError, InputError } from '../../errors.js';
import { mkfsNeededBytes, mkfsOptionsFor, parseChunkProfiles, parseDumpSuper, parseSubvolumeIds, type BtrfsProfiles, type BtrfsSuper, type TreeUsage } from './btrfs-facts.js';

const MiB = 1024 * 1024;
const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;
import { run } from '../../util/exec.js';
import { ownedTempDir } from '../../util/owner.js';
import {
  checkEpoch,
  checkMode,
  checkSymlinkTarget,
  joinComponents,
  nowEpoch,
  PartitionFullError,
  splitPartitionPath,
  statType,
  walkPartitionPath,
  type EditablePartition,
  type EntryInfo,
  type PartitionEditor,
  type PartitionRange,
  type PartitionSpace,
} from '../../backend/editor.js';
import { detectOwnershipMode, openOwnershipSession, type OwnershipMode, type OwnershipSession } from './ownership.js';
import { checkRange, extractRange, writeRangeBack } from './range.js';


interface Walked {
  existing: number;
  last?: Stats;
}

class BtrfsEditor implements PartitionEditor {
  private closed = false;
  private dirty = false;
  private minDevBytes: number | undefined;

  constructor(
    readonly partition: EditablePartition,
    private readonly image: string,
    private readonly range: PartitionRange,
    private readonly workDir: string,
    private readonly tree: string,
    private readonly sb: BtrfsSuper,
    private readonly profiles: BtrfsProfiles,
    private readonly owners: OwnershipSession,
  ) {}

  private assertOpen(): void {
    if (this.closed) throw new Error(`internal: the ${this.partition} editor is closed`);
  }

  private host(parts: readonly string[]): string {
    return path.join(this.tree, ...parts);
  }

  private walk(parts: readonly string[], what: string): Promise<Walked> {
    const lookup = (i: number) =>
      lstat(this.host(parts.slice(0, i + 1))).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
    return walkPartitionPath(parts, this.partition, what, lookup, statType);
  }

  private async usage(dir = this.tree): Promise<TreeUsage> {
    let inodes = 1;
    let dataBytes = 0;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        const sub = await this.usage(full);
        inodes += sub.inodes;
        dataBytes += sub.dataBytes;
      } else {
        inodes += 1;
        if (entry.isFile()) dataBytes += roundUp((await lstat(full)).size, this.sb.sectorSize);
      }
    }
    return { inodes, dataBytes };
  }

  /** What an empty tree needs, measured: mkfs grows a 1-byte target file to exactly that. */
  private async measureMinDev(): Promise<number> {
    if (this.minDevBytes !== undefined) return this.minDevBytes;
    const empty = path.join(this.workDir, 'empty-tree');
    const probe = path.join(this.workDir, 'probe.img');
    await mkdir(empty, { recursive: true });
    await writeFile(probe, '');
    await truncate(probe, MiB);
    try {
      await run('mkfs.btrfs', [...mkfsOptionsFor(this.sb, this.profiles), '--rootdir', empty, probe], { purpose: 'measure an empty btrfs' });
      this.minDevBytes = (await stat(probe)).size;
    } catch {
      // Some profile combinations cannot be made that small; assume a generous floor.
      this.minDevBytes = 128 * MiB;
    } finally {
      await rm(probe, { force: true });
    }
    return this.minDevBytes;
  }

  private async needed(usage: TreeUsage): Promise<number> {
    return mkfsNeededBytes(usage, this.sb.sectorSize, this.profiles, await this.measureMinDev());
  }

  async lstat(p: string): Promise<EntryInfo | undefined> {
    this.assertOpen();
    const parts = splitPartitionPath(p, this.partition);
    const { existing, last } = parts.length === 0 ? { existing: 0, last: await lstat(this.tree) } : await this.walk(parts, 'look');
    if (existing < parts.length || !last) return undefined;
    const file = this.host(parts);
    const type = statType(last);
    const owner = await this.owners.owner(file);
    const info: EntryInfo = { type, size: last.size, mode: last.mode & 0o7777, uid: owner.uid, gid: owner.gid };
    if (type === 'symlink') info.target = await readlink(file, 'utf8');
    return info;
  }

  async mkdirp(p: string, mode = 0o755): Promise<void> {
    this.assertOpen();
    checkMode(mode, p);
    const parts = splitPartitionPath(p, this.partition);
    const { existing, last } = await this.walk(parts, 'create a directory');
    if (existing === parts.length) {
      if (last && !last.isDirectory()) throw new DiskFormatError(`cannot create the directory ${p} on ${this.partition}: something else is in the way`);
      return;
    }
    const created: string[] = [];
    for (let i = existing; i < parts.length; i++) {
      const dir = this.host(parts.slice(0, i + 1));
      await mkdir(dir);
      // mkdir's mode passes through the umask; chmod sets it exactly.
      await chmod(dir, mode);
      created.push(dir);
    }
    this.dirty = true;
    await this.owners.chownRoot(created);
  }

  private async prepareEntry(parts: readonly string[], what: string): Promise<Stats | undefined> {
    if (parts.length === 0) throw new InputError(`cannot ${what} at / on ${this.partition}`);
    const { existing, last } = await this.walk(parts, what);
    if (existing < parts.length - 1) {
      throw new DiskFormatError(`cannot ${what}: ${joinComponents(parts.slice(0, -1))} does not exist on ${this.partition}`, 'create it with mkdirp first');
    }
    if (last?.isDirectory()) throw new DiskFormatError(`cannot ${what}: ${joinComponents(parts)} on ${this.partition} is a directory`);
    if (last && !last.isFile() && !last.isSymbolicLink()) throw new DiskFormatError(`cannot ${what}: ${joinComponents(parts)} on ${this.partition} is a special file`);
    return last;
  }

  async writeFile(p: string, hostFile: string, options: { mode?: number; mtime?: number } = {}): Promise<void> {
    this.assertOpen();
    const mode = checkMode(options.mode ?? 0o644, p);
    const epoch = checkEpoch(options.mtime ?? nowEpoch(), p);
    const parts = splitPartitionPath(p, this.partition);
    let source: Stats;
    try {
      source = await stat(hostFile);
    } catch (err) {
      throw new InputError(`cannot read ${hostFile}: ${(err as Error).message}`, undefined, { cause: err });
    }
    if (!source.isFile()) throw new InputError(`${hostFile} is not a regular file`);
    const existing = await this.prepareEntry(parts, 'write a file');
    const before = await this.usage();
    const after: TreeUsage = {
      inodes: before.inodes + (existing ? 0 : 1),
      dataBytes: before.dataBytes + roundUp(source.size, this.sb.sectorSize) - (existing?.isFile() ? roundUp(existing.size, this.sb.sectorSize) : 0),
    };
    const need = await this.needed(after);
    if (need > this.range.size) {
      throw new PartitionFullError(
        `not enough space on ${this.partition} for ${p}: the rebuilt filesystem would need ${need} bytes, the partition has ${this.range.size}`,
        `${await this.freeBytes()} bytes are free for new files; install fewer or smaller files, or choose another partition`,
      );
    }
    const dest = this.host(parts);
    if (existing) await unlink(dest);
    await copyFile(hostFile, dest);
    await chmod(dest, mode);
    await utimes(dest, epoch, epoch);
    this.dirty = true;
    await this.owners.chownRoot([dest]);
  }

  async symlink(p: string, target: string): Promise<void> {
    this.assertOpen();
    checkSymlinkTarget(target, p);
    const parts = splitPartitionPath(p, this.partition);
    const existing = await this.prepareEntry(parts, 'create a symlink');
    const dest = this.host(parts);
    if (existing) await unlink(dest);
    await fsSymlink(target, dest);
    const now = nowEpoch();
    await lutimes(dest, now, now);
    this.dirty = true;
    await this.owners.chownRoot([dest]);
  }

  async readFile(p: string): Promise<Buffer> {
    this.assertOpen();
    const parts = splitPartitionPath(p, this.partition);
    const { existing, last } = await this.walk(parts, 'read a file');
    if (existing < parts.length || !last) throw new InputError(`${p} does not exist on ${this.partition}`);
    if (!last.isFile()) throw new InputError(`${p} on ${this.partition} is not a regular file`);
    return readFile(this.host(parts));
  }

  async list(dir: string): Promise<string[]> {
    this.assertOpen();
    const parts = splitPartitionPath(dir, this.partition);
    if (parts.length > 0) {
      const { existing, last } = await this.walk(parts, 'list a directory');
      if (existing < parts.length || !last) throw new InputError(`${dir} does not exist on ${this.partition}`);
      if (!last.isDirectory()) throw new InputError(`${dir} on ${this.partition} is not a directory`);
    }
    return (await readdir(this.host(parts))).sort();
  }

  /** btrfs makes inodes on demand; the partition is rebuilt to its own size, never grown. */
  async space(): Promise<PartitionSpace> {
    return { freeBytes: await this.freeBytes(), blockSize: this.sb.sectorSize, freeInodes: Infinity, growthYield: 0 };
  }

  /** The largest new file that still fits (by mkfs.btrfs' own sizing rule). */
  async freeBytes(): Promise<number> {
    this.assertOpen();
    const base = await this.usage();
    const fits = async (extra: number) => (await this.needed({ inodes: base.inodes + 1, dataBytes: base.dataBytes + extra })) <= this.range.size;
    if (!(await fits(0))) return 0;
    const step = this.sb.sectorSize;
    let low = 0;
    let high = Math.ceil(this.range.size / step);
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (await fits(mid * step)) low = mid;
      else high = mid - 1;
    }
    return low * step;
  }

  async commit(): Promise<void> {
    this.assertOpen();
    if (!this.dirty) return;
    const out = path.join(this.workDir, 'rebuilt.img');
    await rm(out, { force: true });
    try {
      await writeFile(out, '');
      await truncate(out, this.range.size);
      await this.owners.flush();
      try {
        await this.owners.run('mkfs.btrfs', [...mkfsOptionsFor(this.sb, this.profiles), '--rootdir', this.tree, out], { purpose: `rebuild the ${this.partition} btrfs` });
      } catch (err) {
        if (err instanceof CommandError) {
          // mkfs.btrfs keeps the UUID only if no attached device (a loop device of another copy of
          // this image, say) already carries it.
          const hint = /non-unique UUID/.test(err.message)
            ? `the image was not changed; another attached device carries the same btrfs UUID (${this.sb.fsid}): detach it (losetup -D) or use --backend mount`
            : 'the image was not changed';
          throw new DiskFormatError(`could not rebuild the ${this.partition} btrfs: ${err.message}`, hint, { cause: err });
        }
        throw err;
      }
      // mkfs.btrfs grows a target file that is too small for the tree instead of failing.
      const made = (await stat(out)).size;
      const sb = parseDumpSuper((await run('btrfs', ['inspect-internal', 'dump-super', out], { purpose: 'read the rebuilt superblock' })).stdout);
      if (made > this.range.size || sb.totalBytes > this.range.size) {
        throw new PartitionFullError(
          `the files for ${this.partition} do not fit: the rebuilt filesystem needs ${Math.max(made, sb.totalBytes)} bytes, the partition has ${this.range.size}`,
          'the image was not changed; install fewer or smaller files',
        );
      }
      if (sb.fsid !== this.sb.fsid || sb.label !== this.sb.label) {
        throw new DiskFormatError(`internal: the rebuilt ${this.partition} btrfs has UUID ${sb.fsid} label ${sb.label}`);
      }
      await run('btrfs', ['check', '--readonly', out], { purpose: `check the rebuilt ${this.partition} btrfs`, hint: 'the image was not changed' });
      await writeRangeBack(out, this.image, this.range);
      this.dirty = false;
    } finally {
      await rm(out, { force: true });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await removeTree(this.workDir);
  }
}

/** rm -rf that also gets through directories restored without write permission. */
async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch {
    /* fall through: open up the directories, then try again */
  }
  const openUp = async (d: string): Promise<void> => {
    await chmod(d, 0o700).catch(() => undefined);
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await openUp(path.join(d, e.name));
  };
  await openUp(dir);
  await rm(dir, { recursive: true, force: true });
}

export interface OpenBtrfsOptions {
  /** Which partition this is (default OEM). */
  partition?: EditablePartition;
  /** How files become root-owned in the rebuilt filesystem (default: the best available). */
  ownership?: OwnershipMode;
}

/** Opens the btrfs at `range` inside `image`: copies it out and restores its files into a private staging tree. */
export async function openBtrfsEditor(image: string, range: PartitionRange, options: OpenBtrfsOptions = {}): Promise<PartitionEditor> {
  const partition = options.partition ?? 'OEM';
  await checkRange(image, range, partition);
  const mode = options.ownership ?? (await detectOwnershipMode());
  // Named for its owner: the next bake removes it if we are killed (util/owner.ts).
  const workDir = await ownedTempDir(os.tmpdir(), 'flatbake-btrfs-');
  try {
    const copy = path.join(workDir, 'partition.img');
    await extractRange(image, range, copy);
    let sb: BtrfsSuper;
    try {
      sb = parseDumpSuper((await run('btrfs', ['inspect-internal', 'dump-super', copy], { purpose: `read the ${partition} superblock` })).stdout);
    } catch (err) {
      // dump-super exits non-zero, or prints a bad magic, when there is no btrfs there.
      if (err instanceof CommandError || err instanceof DiskFormatError) {
        throw new DiskFormatError(`no btrfs filesystem found for ${partition} at byte ${range.offset} of ${image}`, 'is this a Flatcar image?', { cause: err });
      }
      throw err;
    }
    if (sb.totalBytes > range.size) throw new DiskFormatError(`the btrfs of ${partition} (${sb.totalBytes} bytes) is larger than its partition (${range.size} bytes)`);
    const profiles = parseChunkProfiles((await run('btrfs', ['inspect-internal', 'dump-tree', '-t', 'chunk', copy], { purpose: `read the ${partition} chunk tree` })).stdout);
    mkfsOptionsFor(sb, profiles); // refuses what a rebuild could not reproduce, before any work
    const subvolumes = parseSubvolumeIds((await run('btrfs', ['restore', '-l', copy], { purpose: `list the ${partition} trees` })).stdout);
    if (subvolumes.length > 0) {
      throw new DiskFormatError(`the ${partition} btrfs has subvolumes (${subvolumes.join(', ')}), which a rebuild would flatten`, 'use the mount path (flatbake as root) for this image');
    }
    const owners = await openOwnershipSession(mode, workDir);
    const tree = path.join(workDir, 'tree');
    await mkdir(tree, { mode: 0o755 });
    // -x xattrs, -m owners/modes/times, -S symlinks (skipped without it)
    await owners.run(
      'btrfs',
      ['restore', '-x', '-m', '-S', copy, tree],
      {
        purpose: `copy the files out of ${partition}`,
        hint:
        mode === 'userns'
          ? 'files owned by users other than root cannot be staged in a user namespace: install fakeroot'
          : 'if it says it "could not check mount status": btrfs-progs looks at the backing file of every mounted loop device, and one of them lies where this user cannot look; unmount it, run as root, or use --backend mount',
      },
      true,
    );
    await rm(copy);
    return new BtrfsEditor(partition, image, range, workDir, tree, sb, profiles, owners);
  } catch (err) {
    await removeTree(workDir);
    throw err;
  }
}
