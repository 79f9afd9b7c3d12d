/**
 * Editing a filesystem inside a disk image as an ordinary user: no loop
 * device, no mount, no sudo. Each editor works on the image file directly
 * (ext4 in place with debugfs; btrfs by rebuilding it with mkfs.btrfs).
 */
import { stat } from 'node:fs/promises';
import { InputError } from '../../errors.js';

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

/** The range must be whole integers and lie inside a regular image file. */
export async function checkRange(image: string, range: PartitionRange, partition: EditablePartition): Promise<void> {
  const { offset, size } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(size) || size <= 0) {
    throw new InputError(`invalid byte range offset=${offset} size=${size} for ${partition}`);
  }
  let info;
  try {
    info = await stat(image);
  } catch (err) {
    throw new InputError(`cannot open disk image ${image}: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (!info.isFile()) throw new InputError(`${image} is not a regular file`, 'offline editing works on image files; block devices need the mount path');
  if (info.size < offset + size) {
    throw new InputError(`${partition} (bytes ${offset}..${offset + size}) lies beyond the end of ${image} (${info.size} bytes)`);
  }
}

/** Now, in whole seconds. */
export function nowEpoch(): number {
  return Math.floor(Date.now() / 1000);
}
