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

/** The host tools the offline backend runs; btrfs ones only when OEM or USR-A must be touched. */
function offlineTools(btrfs: boolean): string[] {
  return ['debugfs', 'e2fsck', 'resize2fs', ...(btrfs ? ['btrfs', 'mkfs.btrfs'] : [])];
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
