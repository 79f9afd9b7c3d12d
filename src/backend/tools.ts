/** The host tools each backend runs: `flatbake doctor` lists them for the backend a bake would use, `--backend auto` checks the offline ones. */
import type { HostTool } from '../doctor/tools.js';

export const MOUNT_TOOLS: readonly HostTool[] = [
  { command: 'losetup', package: 'mount', purpose: 'mount backend: attach loop devices at partition offsets (bake, inspect)', required: true },
  { command: 'mount', package: 'mount', purpose: 'mount backend: mount ROOT/OEM to inject sysexts', required: true },
  { command: 'umount', package: 'mount', purpose: 'mount backend: unmount after injecting', required: true },
  { command: 'install', package: 'coreutils', purpose: 'mount backend: write files into the mounted image as root', required: true },
  { command: 'sudo', package: 'sudo', purpose: 'mount backend: root for losetup/mount when not running as root', required: false },
];

/**
 * A tool of the offline backend. `when` chooseBackend needs it: `always`; `btrfs` only when OEM or
 * USR-A must be touched; `btrfs as non-root` is one of the ways (with root and user namespaces) a
 * non-root rebuild keeps files root-owned (see detectOwnershipMode); `never` is a speed-up only.
 * None is `required` for doctor: without them `--backend auto` takes the mount backend.
 */
export interface OfflineTool extends HostTool {
  when: 'always' | 'btrfs' | 'btrfs as non-root' | 'never';
}

export const OFFLINE_TOOLS: readonly OfflineTool[] = [
  { command: 'debugfs', package: 'e2fsprogs', purpose: 'offline backend: edit ROOT (ext4) in place; read ext4 sysexts', required: false, when: 'always' },
  { command: 'dumpe2fs', package: 'e2fsprogs', purpose: 'offline backend: free space and inodes of ROOT', required: false, when: 'always' },
  { command: 'e2fsck', package: 'e2fsprogs', purpose: 'check ROOT before growing it', required: false, when: 'always' },
  { command: 'resize2fs', package: 'e2fsprogs', purpose: 'grow ROOT (--root-size, vendor layouts)', required: false, when: 'always' },
  { command: 'btrfs', package: 'btrfs-progs', purpose: 'offline backend: read OEM and USR-A (btrfs restore), check a rebuilt btrfs', required: false, when: 'btrfs' },
  { command: 'mkfs.btrfs', package: 'btrfs-progs', purpose: 'offline backend: rebuild OEM with its files; btrfs sysext images', required: false, when: 'btrfs' },
  { command: 'fakeroot', package: 'fakeroot', purpose: 'offline backend as non-root: keep the files of a rebuilt OEM and of usr.squashfs owned by root', required: false, when: 'btrfs as non-root' },
  { command: 'eatmydata', package: 'eatmydata', purpose: 'offline backend: spare debugfs the fsync of the whole work image (faster bakes)', required: false, when: 'never' },
];

/** The tools chooseBackend checks for before it picks the offline backend. */
export function offlineToolsNeeded(btrfs: boolean): string[] {
  return OFFLINE_TOOLS.filter((t) => t.when === 'always' || (btrfs && t.when === 'btrfs')).map((t) => t.command);
}

