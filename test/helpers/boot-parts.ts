import os from 'node:os';
import path from 'node:path';

/**
 * Where the boot tests keep the bootable parts (Debian kernel, systemd /usr, initramfs), so one
 * run builds them once for every file that boots. test/global-tmp.ts points it into the run's
 * TMPDIR, removed with it; set FLATBAKE_TEST_BOOT_CACHE to a dir of your own to keep the parts
 * across runs (they take a minute and a Debian download to build).
 */
export function bootPartsCache(): string {
  return process.env.FLATBAKE_TEST_BOOT_CACHE ?? path.join(os.tmpdir(), BOOT_PARTS_DIR);
}

/** The parts dir's name in the run's TMPDIR: shared on purpose, so not reported as left behind. */
export const BOOT_PARTS_DIR = 'flatbake-test-bootable-cache';
