import { hostname } from 'node:os';
import { link, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { GPG_HOME_PREFIX, gpgHomeParent } from './gpg-home.js';
import { isAlive, ownerOf, ownerTag, type Owner } from './owner.js';
import { finishPublish } from './publish-set.js';

/**
 * What a run killed with SIGKILL leaves behind, and the one reaper that removes it: every scratch
 * thing is named for its owner by util/owner.ts (pid and start time), and reapDead removes those
 * whose owner is gone. The --output lock (one bake per --output) records the same owner.
 */

/**
 * Removes the entries of DIR named `<prefix><pid>-<start>-...` whose owner is gone (util/owner.ts:
 * the one way a dead run's leftovers are told from a live run's), and returns their names. With
 * `all`, the caller holds a lock that proves no live run writes in DIR under this prefix, so names
 * without an owner go too. RELEASE, when given, frees what an entry stands for first (what it
 * lists, still held by the kernel); an entry it returns false for stays for a later run.
 */
export async function reapDead(
  dir: string,
  prefix: string,
  options: { all?: boolean; release?: (entry: string, owner: Owner) => Promise<boolean> } = {},
): Promise<string[]> {
  const gone: string[] = [];
  // One after another: what RELEASE frees (mounts, loop devices) is not freed twice at once.
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (!name.startsWith(prefix)) continue;
    const owner = ownerOf(name, prefix);
    if (owner === undefined ? !options.all : isAlive(owner)) continue;
    const entry = path.join(dir, name);
    if (owner && options.release && !(await options.release(entry, owner))) continue;
    await rm(entry, { recursive: true, force: true }).catch(() => undefined);
    gone.push(name);
  }
  return gone;
}

export const LOCK_FILE = '.flatbake-lock';

export interface LockRecord {
  pid: number;
  /** The pid's start time (util/owner.ts); absent in locks of older flatbakes. */
  start?: string;
  host: string;
  startedAt: string;
}

async function readLock(file: string): Promise<{ text: string; record?: LockRecord } | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as LockRecord;
    return { text, record: typeof record.pid === 'number' ? record : undefined };
  } catch {
    return { text };
  }
}

/**
 * Takes the lock file FILE for this run, or says which live run holds it. The lock is made by
 * hard-linking a complete file to its name, so no reader sees it half-written; a lock whose run
 * died (or an unreadable one) is taken over. `release` removes only our own lock, never one a
 * later run took over.
 */
export async function tryLock(file: string): Promise<{ release: () => Promise<void> } | { holder: LockRecord }> {
  const mine: LockRecord = { pid: process.pid, start: ownerTag().split('-')[1], host: hostname(), startedAt: new Date().toISOString() };
  const text = `${JSON.stringify(mine)}\n`;
  const tmp = `${file}.${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  await writeFile(tmp, text);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(tmp, file);
        return { release: async () => ((await readLock(file))?.text === text ? rm(file, { force: true }) : undefined) };
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error;
      }
      const held = await readLock(file);
      // A lock from another host cannot be checked: it counts as alive.
      if (held?.record && (held.record.host !== mine.host || isAlive(held.record))) return { holder: held.record };
      if ((await readLock(file))?.text === held?.text) await rm(file, { force: true });
    }
    throw new InputError(`cannot take the lock ${file}: other runs keep taking it`, 'run the bakes one after another');
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Takes DIR for this run (`<dir>/.flatbake-lock`), or refuses naming the live run that holds it. */
export async function lockDirectory(dir: string, what: string): Promise<() => Promise<void>> {
  const file = path.join(dir, LOCK_FILE);
  const lock = await tryLock(file);
  if ('release' in lock) return lock.release;
  const { holder } = lock;
  if (holder.host !== hostname()) {
    throw new InputError(`${what} ${dir} is locked by a flatbake run on ${holder.host} (pid ${holder.pid})`, `if no flatbake runs there any more, remove ${file}`);
  }
  throw new InputError(
    `${what} ${dir} is in use by another flatbake run (pid ${holder.pid}, started ${holder.startedAt})`,
    'wait for that run to finish, or choose another directory',
  );
}

/** The scratch names of dead runs, by where they live (each name is `<prefix><pid>-<start>-...`). */
export const SCRATCH_PREFIXES = {
  output: '.flatbake-work-',
  cacheDownloads: 'decompress-',
  // The offline editors' work dirs; the synthetic release's and sysexts' build dirs (flatbake demo, the bench, the tests).
  // flatbake boot's dirs (boot/scratch.ts) are reaped by boot itself, which says so.
  tmp: ['flatbake-ext4-', 'flatbake-btrfs-', 'flatbake-synth-', 'flatbake-sysext-'],
} as const;

/**
 * Removes what runs killed before they could clean up left: their work dirs in OUTPUT (whose lock
 * this run holds, so every one there is dead; one that had begun to publish is finished first), their half-decompressed images in the cache and
 * their scratch dirs in the temp dir. Returns what went, for a notice.
 */
export async function reapDeadRuns(where: { output?: string; cacheDir?: string; tmpDir: string }): Promise<string[]> {
  // A killed run that had begun to publish (its journal written) is finished first: --output then
  // holds its complete new set, not a mix of old and new (util/publish-set.ts).
  const finished: string[] = [];
  if (where.output) {
    for (const name of await readdir(where.output).catch(() => [] as string[])) {
      if (!name.startsWith(SCRATCH_PREFIXES.output)) continue;
      const files = await finishPublish(path.join(where.output, name)).catch(() => undefined);
      if (files) finished.push(`finished publishing ${files.map((f) => path.basename(f)).join(', ')}`);
    }
  }
  const gone = await Promise.all([
    where.output ? reapDead(where.output, SCRATCH_PREFIXES.output, { all: true }).then((n) => n.map((x) => path.join(where.output!, x))) : [],
    where.cacheDir ? reapDead(path.join(where.cacheDir, 'downloads'), SCRATCH_PREFIXES.cacheDownloads).then((n) => n.map((x) => path.join(where.cacheDir!, 'downloads', x))) : [],
    ...SCRATCH_PREFIXES.tmp.map((p) => reapDead(where.tmpDir, p).then((n) => n.map((x) => path.join(where.tmpDir, x)))),
    // gpg homes (signature checks, the synthetic signer) are where util/gpg-home.ts puts them.
    reapDead(gpgHomeParent(where.tmpDir), GPG_HOME_PREFIX).then((n) => n.map((x) => path.join(gpgHomeParent(where.tmpDir), x))),
  ]);
  return [...finished, ...gone.flat()];
}
