/**
 * The backend seam: how partitions inside an image file are read and written. Two backends
 * implement it: `offline` (e2fsprogs and btrfs-progs on the image file, no root) and `mount`
 * (loop devices and mounts, as root). A third goes beside them, implements `Backend`, and is
 * named in `openBackend` (open.ts); nothing else in flatbake asks which backend runs.
 */
import { UsageError } from '../errors.js';
import type { GptTable } from '../gpt/types.js';
import type { PartitionEditor } from './editor.js';

export type BackendName = 'mount' | 'offline';
export type BackendChoice = BackendName | 'auto';

/** Which partitions to open. ROOT is ext4, OEM btrfs (Flatcar's layout). */
export interface EditorRequest {
  root?: boolean;
  oem?: boolean;
  /** Nothing is written (inspect): read-only mounts. */
  readOnly?: boolean;
}

/** The editors `wanted` asks for: there when asked with `true`, perhaps there when with a boolean. */
export interface EditorsFor<W extends EditorRequest> {
  root: W['root'] extends true ? PartitionEditor : PartitionEditor | undefined;
  oem: W['oem'] extends true ? PartitionEditor : PartitionEditor | undefined;
}

export type SquashExtras = (usrRoot: string) => Promise<{ args: string[]; cwd: string }>;

/** ROOT before and after its partition grew (it keeps its start). */
export interface GrowRoot {
  offset: number;
  oldSize: number;
  newSize: number;
}

export interface Backend {
  readonly name: BackendName;
  /**
   * Opens the requested partitions of `image` (at `table`'s offsets), runs `fn`, and releases
   * them (unmount, close) whatever happens. Writes land in the image once `fn` commits them.
   */
  withEditors<const W extends EditorRequest, T>(image: string, table: GptTable, wanted: W, fn: (editors: EditorsFor<W>) => Promise<T>): Promise<T>;
  /** Grows the ext4 on ROOT to fill the partition's new size (the GPT already says so). */
  growRootFilesystem(image: string, root: GrowRoot): Promise<void>;
  /** A regular file of USR-A (`rel` below /usr, no symlinks followed); undefined when it is not there. */
  readUsrFile(image: string, table: GptTable, rel: string, scratchDir: string): Promise<string | undefined>;
  /** /usr/lib/os-release of USR-A, read inside the image (symlinks followed inside it only). */
  readUsrOsRelease(image: string, table: GptTable, scratchDir: string): Promise<Record<string, string>>;
  /**
   * A squashfs of USR-A's files (owners and modes kept), for the netboot initramfs. `extras` is
   * asked, with the directory holding USR-A's files, for more mksquashfs arguments and the
   * directory to run it in.
   */
  squashUsr(image: string, table: GptTable, squashfs: string, scratchDir: string, extras?: SquashExtras): Promise<void>;
}

export function parseBackend(value: string): BackendChoice {
  if (value === 'auto' || value === 'mount' || value === 'offline') return value;
  throw new UsageError(`unknown --backend '${value}'`, 'use auto, mount or offline');
}
