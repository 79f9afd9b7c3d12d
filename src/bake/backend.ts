import type { HostTool } from '../doctor/tools.js';
import { MissingToolError, UsageError } from '../errors.js';
import { detectOwnershipMode } from '../image/offline/ownership.js';
import { which } from '../util/exec.js';

/** How partitions are edited: loop devices and mounts (root), or e2fsprogs/btrfs-progs on the image file. */
export type Backend = 'mount' | 'offline';
export type BackendChoice = Backend | 'auto';

export function parseBackend(value: string): BackendChoice {
  if (value === 'auto' || value === 'mount' || value === 'offline') return value;
  throw new UsageError(`unknown --backend '${value}'`, 'use auto, mount or offline');
}

/**
 * The host tools the offline backend runs, for chooseBackend and `flatbake doctor` alike. `when`:
 * `always`; `btrfs` only when OEM or USR-A must be touched; `btrfs as non-root` is one of the ways
 * (with root and user namespaces) a non-root rebuild keeps files root-owned (see detectOwnershipMode).
 */
export const OFFLINE_BACKEND_TOOLS: ReadonlyArray<HostTool & { when: 'always' | 'btrfs' | 'btrfs as non-root' }> = [
  { command: 'debugfs', package: 'e2fsprogs', purpose: 'offline backend: edit ROOT in the image file; read ext4 sysexts', required: false, when: 'always' },
  { command: 'e2fsck', package: 'e2fsprogs', purpose: 'offline backend: check ROOT before growing it', required: false, when: 'always' },
  { command: 'resize2fs', package: 'e2fsprogs', purpose: 'grow ROOT (vendor layouts, --root-size)', required: false, when: 'always' },
  { command: 'btrfs', package: 'btrfs-progs', purpose: 'offline backend: read OEM and USR-A (os-release), check a rebuilt btrfs', required: false, when: 'btrfs' },
  { command: 'mkfs.btrfs', package: 'btrfs-progs', purpose: 'offline backend: rebuild OEM; btrfs sysexts; the synthetic release', required: false, when: 'btrfs' },
  { command: 'fakeroot', package: 'fakeroot', purpose: 'offline backend as non-root: a rebuilt OEM btrfs stays root-owned', required: false, when: 'btrfs as non-root' },
];

/** The tools chooseBackend checks for before it picks the offline backend. */
function offlineTools(btrfs: boolean): string[] {
  return OFFLINE_BACKEND_TOOLS.filter((t) => t.when === 'always' || (btrfs && t.when === 'btrfs')).map((t) => t.command);
}

/**
 * `auto` is offline when its tools are here (and, for btrfs rebuilds as non-root, a way to keep
 * files root-owned), the mount backend otherwise. `offline` without its tools is an error naming them.
 */
export async function chooseBackend(choice: BackendChoice, needs: { btrfs: boolean }): Promise<Backend> {
  if (choice === 'mount') return 'mount';
  const missing = [];
  for (const tool of offlineTools(needs.btrfs)) if (!(await which(tool))) missing.push(tool);
  let ownershipProblem: Error | undefined;
  if (missing.length === 0 && needs.btrfs) {
    await detectOwnershipMode().catch((error: Error) => (ownershipProblem = error));
  }
  if (missing.length === 0 && !ownershipProblem) return 'offline';
  if (choice === 'auto') return 'mount';
  if (ownershipProblem) throw ownershipProblem;
  throw new MissingToolError(`the offline backend needs ${missing.join(', ')}`, 'install e2fsprogs and btrfs-progs (scripts/setup.sh), or use --backend mount');
}
