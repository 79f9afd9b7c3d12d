/** The one factory of backends. */
import { MissingToolError } from '../errors.js';
import { detectOwnershipMode } from '../image/offline/ownership.js';
import { acquirePrivileges } from '../privileged/privileged.js';
import { which } from '../util/exec.js';
import type { Backend, BackendChoice, BackendName } from './index.js';
import { MountBackend } from './mount.js';
import { OfflineBackend } from './offline.js';
import { offlineToolsNeeded } from './tools.js';

/**
 * `auto` is offline when its tools are here (and, for btrfs rebuilds as non-root, a way to keep
 * files root-owned), the mount backend otherwise. `offline` without its tools is an error naming them.
 */
export async function chooseBackend(choice: BackendChoice, needs: { btrfs: boolean }): Promise<BackendName> {
  if (choice === 'mount') return 'mount';
  const missing = [];
  for (const tool of offlineToolsNeeded(needs.btrfs)) if (!(await which(tool))) missing.push(tool);
  let ownershipProblem: Error | undefined;
  if (missing.length === 0 && needs.btrfs) {
    await detectOwnershipMode().catch((error: Error) => (ownershipProblem = error));
  }
  if (missing.length === 0 && !ownershipProblem) return 'offline';
  if (choice === 'auto') return 'mount';
  if (ownershipProblem) throw ownershipProblem;
  throw new MissingToolError(`the offline backend needs ${missing.join(', ')}`, 'install e2fsprogs and btrfs-progs (scripts/setup.sh), or use --backend mount');
}

/** The one factory: the backend named; the mount backend gets root now (`purpose` says why). */
export async function createBackend(name: BackendName, purpose: string): Promise<Backend> {
  return name === 'mount' ? new MountBackend(await acquirePrivileges(purpose)) : new OfflineBackend();
}

/** chooseBackend, then createBackend. */
export async function openBackend(choice: BackendChoice, needs: { btrfs: boolean }, purpose: string): Promise<Backend> {
  return createBackend(await chooseBackend(choice, needs), purpose);
}
