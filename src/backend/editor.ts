/**
 * Editing a filesystem inside a disk image, whichever backend does it: the offline editors
 * (src/image/offline: ext4 in place with debugfs, btrfs rebuilt with mkfs.btrfs) and the
 * mount backend's (a mounted partition written as root) implement the same interface and
 * follow the same path rules, declared here once.
 */
import { DiskFormatError, InputError } from '../errors.js';

export type EditablePartition = 'ROOT' | 'OEM';

export interface EntryInfo {
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** Bytes (file length, symlink target length; directories as the filesystem reports them). */
  size: number;
  /** Permission bits only (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Symlinks only. */
  target?: string;
}

export interface PartitionEditor {
  readonly partition: EditablePartition;
  /** Kind of what is at an absolute in-partition path, not following a final symlink. */
  lstat(path: string): Promise<EntryInfo | undefined>;
  /** mkdir -p; new dirs root:root with this mode. Refuses to go through a symlink component. */
  mkdirp(path: string, mode?: number): Promise<void>;
  /** Copy a host file in (replacing an existing file), root:root, mode, mtime = now or a given epoch. */
  writeFile(path: string, hostFile: string, options?: { mode?: number; mtime?: number }): Promise<void>;
  /** Create or replace a symlink (never follows an existing one). */
  symlink(path: string, target: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  list(dir: string): Promise<string[]>;
  freeBytes(): Promise<number>;
  /** Free bytes, block size and inodes, for checking a batch of writes before the first one. */
  space(): Promise<PartitionSpace>;
  /** Make every change land in the image file (ext4: nothing left to do; btrfs: rebuild). Idempotent. */
  commit(): Promise<void>;
  /** Release temp files without committing. */
  close(): Promise<void>;
}

/** What new files may still use on a partition. */
export interface PartitionSpace {
  /** As statfs' f_bavail: the blocks reserved for the booted system's root do not count. */
  freeBytes: number;
  blockSize: number;
  /** Infinity where the filesystem makes inodes on demand (btrfs). */
  freeInodes: number;
  /**
   * Of each byte the partition grows by, the part new files could use: ext4 spends the rest
   * on the new block groups' inode tables and bitmaps and on the reserve, which resize2fs
   * scales with the filesystem.
   */
  growthYield: number;
}

/** One block group's bitmaps and descriptor, per 32768 blocks (128 MiB of 4 KiB blocks). */
const GROUP_OVERHEAD_PER_BLOCK = 3 / 32768;

/** growthYield of an ext4 from its superblock counts. Pure. */
export function ext4GrowthYield(fs: { blockCount: number; blockSize: number; inodeCount: number; inodeSize: number; reservedBlocks: number }): number {
  const inodeTables = (fs.inodeCount * fs.inodeSize) / (fs.blockCount * fs.blockSize);
  return Math.max(0, 1 - inodeTables - fs.reservedBlocks / fs.blockCount - GROUP_OVERHEAD_PER_BLOCK);
}

/** Where the partition lives inside the image file. */
export interface PartitionRange {
  offset: number;
  size: number;
}

/** A write that does not fit: the image is left as it was. */
export class PartitionFullError extends InputError {}

/**
 * The components of an absolute in-partition path. `.` and `..` are refused
 * rather than resolved: a caller that builds a path from a sysext name must
 * never climb out of the directory it meant.
 */
export function splitPartitionPath(p: string, partition: EditablePartition): string[] {
  if (typeof p !== 'string' || !p.startsWith('/')) {
    throw new InputError(`${JSON.stringify(p)} is not an absolute path on ${partition}`, 'paths inside a partition start with /');
  }
  const parts = p.split('/').filter((c) => c !== '');
  for (const part of parts) {
    if (part === '.' || part === '..') {
      throw new InputError(`refusing the path ${JSON.stringify(p)} on ${partition}: it contains '${part}'`, 'use a plain absolute path');
    }
    // Control characters would break the line-based output of the tools we drive.
    if (/[\x00-\x1f\x7f]/.test(part)) {
      throw new InputError(`refusing the path ${JSON.stringify(p)} on ${partition}: it contains a control character`);
    }
    if (Buffer.byteLength(part) > 255) throw new InputError(`a name in ${JSON.stringify(p)} is longer than 255 bytes`);
  }
  return parts;
}

export function joinComponents(parts: readonly string[]): string {
  return '/' + parts.join('/');
}

/** The refusal of a path that goes through a symlink inside the image (one message for every editor). */
export function symlinkRefusal(what: string, shown: string, partition: EditablePartition): DiskFormatError {
  return new DiskFormatError(`refusing to ${what} through the symlink ${shown} on ${partition}`, 'the image has a symlink where a directory is expected');
}

/**
 * The rule every editor follows on the way to a path: each existing component above the last
 * must be a real directory, never a symlink, which could point anywhere (through an absolute
 * `etc -> /etc` a mounted partition would be written on the host). `lookup(i)` tells what is at
 * the first i+1 components (undefined: nothing); the walk stops at the first missing one.
 * Returns how many leading components exist and what the last one is.
 */
export async function walkPartitionPath<T>(
  parts: readonly string[],
  partition: EditablePartition,
  what: string,
  lookup: (i: number) => Promise<T | undefined>,
  typeOf: (entry: T) => EntryInfo['type'],
): Promise<{ existing: number; last?: T }> {
  for (let i = 0; i < parts.length; i++) {
    const entry = await lookup(i);
    if (entry === undefined) return { existing: i };
    if (i === parts.length - 1) return { existing: parts.length, last: entry };
    const shown = joinComponents(parts.slice(0, i + 1));
    const type = typeOf(entry);
    if (type === 'symlink') throw symlinkRefusal(what, shown, partition);
    if (type !== 'dir') throw new DiskFormatError(`cannot ${what}: ${shown} on ${partition} is not a directory`);
  }
  return { existing: parts.length };
}

/** The entry type of an lstat() result. */
export function statType(info: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryInfo['type'] {
  return info.isFile() ? 'file' : info.isDirectory() ? 'dir' : info.isSymbolicLink() ? 'symlink' : 'other';
}

export function checkMode(mode: number, what: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new InputError(`invalid mode ${String(mode)} for ${what}`, 'use permission bits such as 0o644');
  return mode;
}

export function checkEpoch(epoch: number, what: string): number {
  // ext4 without extra timestamp bits and btrfs both hold this range; beyond 2106 nothing does.
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new InputError(`invalid mtime ${String(epoch)} for ${what}`, 'pass whole seconds since 1970');
  return epoch;
}

export function checkSymlinkTarget(target: string, path: string): void {
  if (typeof target !== 'string' || target.length === 0 || /[\x00\n\r]/.test(target) || Buffer.byteLength(target) >= 4096) {
    throw new InputError(`invalid symlink target ${JSON.stringify(target)} for ${path}`);
  }
}

/** Now, in whole seconds. */
export function nowEpoch(): number {
  return Math.floor(Date.now() / 1000);
}
