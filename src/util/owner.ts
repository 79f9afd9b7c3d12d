import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';

/**
 * Which flatbake run owns a scratch thing, told by its name: `<prefix><pid>-<start>-<rest>`, where
 * START is the process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot). A run
 * killed with SIGKILL cannot clean up; the next run removes what it left (util/leftovers.ts),
 * and must never take a live run's things for a dead one's. The pid alone does not tell: the
 * kernel hands a freed pid to a new process, which would pass for the dead owner (and keep its
 * garbage forever). The pid with its start time names one process for as long as the machine runs.
 * (Runs in other pid namespaces sharing a directory are not told apart; see the README.)
 */
export interface Owner {
  pid: number;
  /** Start time in clock ticks; undefined for names from before the start time was recorded. */
  start?: string;
}

/** Field 22 of /proc/PID/stat, or undefined when no such process is visible. */
export function startTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

let self: string | undefined;
/** `<pid>-<start>` of this process; read once, as it never changes. */
export function ownerTag(): string {
  self ??= `${process.pid}-${startTime(process.pid) ?? '0'}`;
  return self;
}

/** `<prefix><pid>-<start>-`, the start of a name this run owns; the caller completes it. */
export const ownedPrefix = (prefix: string): string => `${prefix}${ownerTag()}-`;

/** `<dir>/<prefix><pid>-<start>-XXXXXX`, a fresh directory only this run writes. */
export function ownedTempDir(dir: string, prefix: string): Promise<string> {
  return mkdtemp(path.join(dir, ownedPrefix(prefix)));
}

/** The owner in `<prefix><pid>-<start>-...` (or an older `<prefix><pid>-...`), else undefined. */
export function ownerOf(name: string, prefix: string): Owner | undefined {
  const m = name.startsWith(prefix) ? /^(\d+)-(?:(\d+)-)?/.exec(name.slice(prefix.length)) : null;
  return m ? { pid: Number(m[1]), start: m[2] } : undefined;
}

/**
 * Whether OWNER still runs: its pid exists and started when the name says. A pid we may not
 * signal (another user's) or whose start we cannot read counts as alive: a wrong guess only keeps
 * garbage, never deletes live work. A start of 0 is unknown (no /proc when it was made).
 */
export function isAlive(owner: Owner): boolean {
  const { pid, start } = owner;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return start === undefined || ownerTag() === `${pid}-${start}`;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as { code?: string }).code === 'ESRCH') return false;
  }
  if (start === undefined || start === '0') return true;
  const now = startTime(pid);
  return now === undefined || now === start;
}
