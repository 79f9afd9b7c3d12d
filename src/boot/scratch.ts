/**
 * The boot's private temp dir, `$TMPDIR/flatbake-boot-<pid>-<start>-XXXXXX`, named for the flatbake
 * process that made it (util/owner.ts: pid and start time, so a reused pid is not mistaken for the
 * owner). A run killed with SIGKILL cannot remove its dir (its QEMU dies with it: pdeathsig); the
 * next `flatbake boot` removes every such dir whose owner is gone, and never a live run's.
 */
import os from 'node:os';
import path from 'node:path';
import { reapDead } from '../util/leftovers.js';
import { ownedTempDir } from '../util/owner.js';

export const BOOT_DIR_PREFIX = 'flatbake-boot-';

export function makeBootDir(tmp = os.tmpdir()): Promise<string> {
  return ownedTempDir(tmp, BOOT_DIR_PREFIX);
}

/** Removes the boot dirs of runs that are gone (names without an owner are left alone). */
export async function reapDeadBootDirs(tmp = os.tmpdir()): Promise<string[]> {
  return (await reapDead(tmp, BOOT_DIR_PREFIX)).map((name) => path.join(tmp, name));
}
