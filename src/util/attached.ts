import { appendFileSync, rmSync } from 'node:fs';
import { readdir, readFile, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { reapDead } from './leftovers.js';
import { ownedPrefix, type Owner } from './owner.js';

/**
 * The loop devices and mounts of the mount backend, recorded as they are made in the run's
 * marker `$TMPDIR/flatbake-attached-<pid>-<start>-<random>` (one JSON line each, and one when each
 * is released), so that the next run can release what a run killed with SIGKILL left attached:
 * the kernel keeps a loop device and a mount after their process is gone. The marker goes when
 * the process exits normally; a live run's (util/owner.ts) is never read.
 */
export const ATTACHED_PREFIX = 'flatbake-attached-';

export type Attachment =
  /** A loop device on FILE at OFFSET; `device` is unknown when noted just before losetup ran. */
  | { op: 'loop'; file: string; offset: number; device?: string }
  | { op: 'mount'; dir: string; device: string }
  | { op: 'released'; what: string };

let marker: string | undefined;
/** What this run holds now: loop devices and mount points. */
const held = new Set<string>();

/**
 * Appends to this run's marker (made on first use). Synchronous, so a kill right after finds it
 * written. The marker goes at exit when nothing is held any more; else the next run releases it.
 */
export function noteAttachment(entry: Attachment): void {
  if (marker === undefined) {
    marker = path.join(os.tmpdir(), `${ownedPrefix(ATTACHED_PREFIX)}${Math.random().toString(16).slice(2, 10)}`);
    const file = marker;
    process.once('exit', () => {
      if (held.size === 0) rmSync(file, { force: true });
    });
  }
  if (entry.op === 'released') held.delete(entry.what);
  else if (entry.op === 'mount') held.add(entry.dir);
  else if (entry.device) held.add(entry.device);
  appendFileSync(marker, `${JSON.stringify(entry)}\n`);
}

/** The mount points in /proc/mounts with their sources (octal escapes such as \040 undone). */
async function mounts(): Promise<Map<string, string>> {
  const text = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [source, target] = line.split(' ');
    if (source && target) map.set(unescape(target), unescape(source));
  }
  return map;
}

/** What the kernel says loop DEVICE is attached to, or undefined when it is free. */
async function loopBacking(device: string): Promise<{ file: string; offset: number } | undefined> {
  const sys = `/sys/block/${path.basename(device)}/loop`;
  const file = await readFile(`${sys}/backing_file`, 'utf8').catch(() => undefined);
  if (file === undefined) return undefined;
  const offset = Number((await readFile(`${sys}/offset`, 'utf8').catch(() => '-1')).trim());
  return { file: file.trim().replace(/ \(deleted\)$/, ''), offset };
}

/** Every attached loop device with its backing file and offset. */
async function allLoops(): Promise<Array<{ device: string; file: string; offset: number }>> {
  const names = (await readdir('/sys/block').catch(() => [] as string[])).filter((n) => /^loop\d+$/.test(n));
  const found = [];
  for (const name of names) {
    const backing = await loopBacking(`/dev/${name}`);
    if (backing) found.push({ device: `/dev/${name}`, ...backing });
  }
  return found;
}

/**
 * Releases what the dead runs' markers in TMPDIR list and the kernel still holds: unmounts their
 * mounts (lazily if busy) and removes the mount points, then detaches their loop devices, each
 * only while it is still attached to the file and offset recorded (a device number freed and
 * reused since belongs to someone else). `exec` runs umount/losetup. A marker whose entries could
 * not all be released stays for a later run. Returns what was released.
 */
export async function releaseDeadAttachments(tmpDir: string, exec: (file: string, args: string[]) => Promise<unknown>): Promise<string[]> {
  const released: string[] = [];
  await reapDead(tmpDir, ATTACHED_PREFIX, { release: (file, owner) => releaseListed(file, owner, exec, released) });
  return released;
}

/** Releases what marker FILE of dead run OWNER lists; false when something could not be released. */
async function releaseListed(file: string, owner: Owner, exec: (file: string, args: string[]) => Promise<unknown>, released: string[]): Promise<boolean> {
  const entries = (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Attachment];
      } catch {
        return []; // a line cut short by the kill
      }
    });
  const gone = new Set(entries.flatMap((e) => (e.op === 'released' ? [e.what] : [])));
  let failed = false;
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
      released.push(what);
    } catch {
      failed = true;
    }
  };
  const mounted = await mounts();
  for (const e of entries.filter((x) => x.op === 'mount').reverse()) {
    if (e.op !== 'mount' || gone.has(e.dir)) continue;
    if (mounted.has(e.dir)) await attempt(e.dir, () => exec('umount', [e.dir]).catch(() => exec('umount', ['--lazy', e.dir])));
    await rmdir(e.dir).catch(() => undefined);
  }
  const loops = await allLoops();
  const detached = new Set<string>();
  // The dead run's own work dir, as named by its owner (util/owner.ts): `.flatbake-work-<pid>-<start>-`.
  const ownWorkDir = `/.flatbake-work-${owner.pid}-${owner.start === undefined ? '' : `${owner.start}-`}`;
  for (const e of entries) {
    if (e.op !== 'loop' || (e.device && gone.has(e.device))) continue;
    // Noted before losetup answered: any loop on that file and offset, if the file was the dead run's own.
    const candidates = e.device ? loops.filter((l) => l.device === e.device) : e.file.includes(ownWorkDir) ? loops : [];
    for (const loop of candidates) {
      if (loop.file !== e.file || loop.offset !== e.offset || detached.has(loop.device)) continue;
      detached.add(loop.device); // noted twice (before and after losetup), detached once
      await attempt(loop.device, () => exec('losetup', ['--detach', loop.device]));
    }
  }
  return !failed;
}
