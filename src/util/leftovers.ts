import { hostname } from 'node:os';
import { link, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { finishPublish } from './publish-set.js';

/**
 * What a run killed with SIGKILL leaves behind, and how the next run tells it from the files
 * of a run still going. Every scratch name carries its owner's pid (`<prefix><pid>-<random>`);
 * a later run removes those whose owner is gone. A pid that is alive, or that we may not
 * signal, counts as a live owner: a wrong guess only keeps garbage, never deletes live work.
 * (Runs in other pid namespaces sharing a directory are not told apart; see the README.)
 */
export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'ESRCH';
  }
}

/** `<dir>/<prefix><our pid>-XXXXXX`, a fresh directory only this run writes. */
export function ownedTempDir(dir: string, prefix: string): Promise<string> {
  return mkdtemp(path.join(dir, `${prefix}${process.pid}-`));
}

/** `<prefix><our pid>-` for file names the caller completes. */
export const ownedPrefix = (prefix: string) => `${prefix}${process.pid}-`;

/** The owner pid in `<prefix><pid>-...`, or undefined for a name in another form. */
function ownerOf(name: string, prefix: string): number | undefined {
  const m = name.startsWith(prefix) ? /^(\d+)-/.exec(name.slice(prefix.length)) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * Removes the entries of DIR named `<prefix><pid>-...` whose pid is not running, and returns
 * their names. With `all`, the caller holds a lock that proves no live run writes in DIR under
 * this prefix, so older names without a pid go too.
 */
export async function reapDead(dir: string, prefix: string, options: { all?: boolean } = {}): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const dead = names.filter((name) => {
    if (!name.startsWith(prefix)) return false;
    const owner = ownerOf(name, prefix);
    return owner === undefined ? Boolean(options.all) : !isAlive(owner);
  });
  await Promise.all(dead.map((name) => rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined)));
  return dead;
}

export const LOCK_FILE = '.flatbake-lock';

export interface LockRecord {
  pid: number;
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
  const mine: LockRecord = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
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
      if (held?.record && (held.record.host !== mine.host || isAlive(held.record.pid))) return { holder: held.record };
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

/** The scratch names of dead runs, by where they live (each name is `<prefix><pid>-...`). */
export const SCRATCH_PREFIXES = {
  output: '.flatbake-work-',
  cacheDownloads: 'decompress-',
  // flatbake boot's scratch dirs are reaped by boot itself (boot/scratch.ts, an owner file inside).
  // The gpg homes of signature checks; tmp-promise's `<prefix>-<pid>-*` of the synthetic release
  // (flatbake demo, the bench, the tests), whose prefix then ends in two dashes.
  tmp: ['flatbake-ext4-', 'flatbake-gpg-', 'flatbake-gpg--', 'flatbake-synth--', 'flatbake-sysext--'],
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
  ]);
  return [...finished, ...gone.flat()];
}
