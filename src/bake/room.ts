/**
 * Room for the sysexts: what a batch of them takes on a partition, counted the way ext4
 * spends it, and the ROOT size that would hold them. The check runs before the first write,
 * so a bake it lets through does not stop half-way with ENOSPC.
 */
import { InputError } from '../errors.js';
import type { PartitionSpace } from '../backend/editor.js';
import { formatSizeArg, mib, MiB } from '../util/size.js';

/** One file of the batch: the sysext, and its sysupdate config when it has one. */
export interface FileToPlace {
  size: number;
  confSize?: number;
}

export interface SpaceNeed {
  bytes: number;
  inodes: number;
}

/** Free space in a used filesystem is fragmented: assume extents as short as 8 MiB. */
const FRAGMENT_BYTES = 8 * MiB;
/** A symlink target up to 59 bytes lives in the inode; a longer one takes a block. */
const FAST_SYMLINK_MAX = 59;

/** Blocks one file takes: data, extent-tree blocks for fragmented free space, a new block in its directory. */
function fileBlocks(size: number, blockSize: number): number {
  const data = Math.ceil(size / blockSize);
  const extents = Math.ceil(size / FRAGMENT_BYTES);
  // An inode holds 4 extents; beyond, one index block plus leaves of (blockSize - 12) / 12 extents each.
  const tree = extents > 4 ? Math.ceil(extents / Math.floor((blockSize - 12) / 12)) + 1 : 0;
  return data + tree + 2;
}

/**
 * What installing `files` takes: each file, its /etc/extensions symlink (a block when the
 * target is long), each sysupdate config and its directory, and `newDirs` directories that
 * may have to be made (each a block and an inode, and a block more in its parent). Pure.
 */
export function spaceNeeded(files: readonly FileToPlace[], options: { blockSize: number; longestTarget: number; newDirs: number }): SpaceNeed {
  const bs = options.blockSize;
  let blocks = options.newDirs * 2;
  let inodes = options.newDirs;
  for (const f of files) {
    blocks += fileBlocks(f.size, bs) + (options.longestTarget > FAST_SYMLINK_MAX ? 1 : 0) + 1;
    inodes += 2;
    if (f.confSize !== undefined) {
      blocks += fileBlocks(f.confSize, bs) + 2;
      inodes += 2;
    }
  }
  return { bytes: blocks * bs, inodes };
}

/** The sysexts do not fit on the partition. */
export class NoRoomError extends InputError {
  constructor(
    readonly partition: 'ROOT' | 'OEM',
    readonly need: SpaceNeed,
    readonly space: PartitionSpace,
    hint?: string,
  ) {
    const missing = Math.max(0, need.bytes - space.freeBytes);
    const inodes = need.inodes > space.freeInodes ? ` and ${need.inodes} inodes, ${space.freeInodes} are left` : '';
    super(
      `not enough space on ${partition}: the sysexts need ${mib(need.bytes)} with filesystem overhead, ${mib(space.freeBytes)} are free${missing > 0 ? ` (${mib(missing)} missing)` : ''}${inodes}`,
      hint,
    );
  }

  /** Bytes more than the partition has free. */
  get missingBytes(): number {
    return Math.max(0, this.need.bytes - this.space.freeBytes);
  }

  withHint(hint: string): NoRoomError {
    return new NoRoomError(this.partition, this.need, this.space, hint);
  }
}

/** ROOT sizes are suggested in steps this big: round numbers, and slack for what the estimate misses. */
export const ROOT_STEP = 64 * MiB;

/**
 * The ROOT size (bytes) that holds what is missing, knowing that each byte ROOT grows by yields
 * only `growthYield` bytes for files (inode tables, bitmaps, reserve). Pure.
 */
export function suggestRootBytes(rootBytes: number, error: NoRoomError): number {
  const y = error.space.growthYield;
  // Inodes come with new space too: ext4 makes bytes-per-inode of them per byte of growth.
  const grow = y > 0 ? Math.ceil(error.missingBytes / y) : Infinity;
  const total = rootBytes + grow + ROOT_STEP / 4;
  return Math.ceil(total / ROOT_STEP) * ROOT_STEP;
}

/** The hint of a ROOT that is too small: the --root-size that fits. */
export function rootSizeHint(rootBytes: number, error: NoRoomError): string {
  const suggested = suggestRootBytes(rootBytes, error);
  return `--root-size ${formatSizeArg(suggested)} grows ROOT (now ${mib(rootBytes)}) so that they fit, or bake fewer or smaller sysexts`;
}
