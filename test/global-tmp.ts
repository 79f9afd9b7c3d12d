/**
 * Vitest global setup: the whole run gets a temp dir of its own as TMPDIR (the test workers and
 * every flatbake they start inherit it), removed at the end, so nothing a test leaves, or a run
 * killed half-way (a timeout, Ctrl-C) leaves, stays in the machine's $TMPDIR. The dir carries
 * its owner (util/owner.ts): the next run removes those of runs that are gone. What tests left in it is
 * named at the end, so leaks are found, not just swept away.
 */
import { chmod, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { reapDead } from '../src/util/leftovers.js';
import { ownedTempDir } from '../src/util/owner.js';
import { BOOT_PARTS_DIR } from './helpers/boot-parts.js';

const PREFIX = 'flatbake-test-run-';

export default async function setup(): Promise<() => Promise<void>> {
  const parent = os.tmpdir();
  await reapDead(parent, PREFIX);
  const dir = await ownedTempDir(parent, PREFIX);
  // mkdtemp makes it 0700; tests that run flatbake as an unprivileged user (nobody) need a
  // TMPDIR they can write, as the machine's /tmp is: world-writable with the sticky bit.
  await chmod(dir, 0o1777);
  process.env.TMPDIR = dir;
  return async () => {
    // The boot tests' parts are shared by the run's files on purpose (test/helpers/boot-parts.ts).
    const left = (await readdir(dir).catch(() => [] as string[])).filter((name) => name !== BOOT_PARTS_DIR);
    if (left.length) process.stderr.write(`test run: tests left these in $TMPDIR (removed now): ${left.join(', ')}\n`);
    await rm(dir, { recursive: true, force: true });
  };
}
