/**
 * The boot's private temp dir, `$TMPDIR/flatbake-boot-XXXXXX`, with an owner file naming the
 * flatbake process that made it (pid and its start time, so a reused pid is not mistaken for the
 * owner). A run killed with SIGKILL cannot remove its dir (its QEMU dies with it: pdeathsig); the
 * next `flatbake boot` removes every such dir whose owner is gone, and never a live run's.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const BOOT_DIR_PREFIX = 'flatbake-boot-';
export const OWNER_FILE = 'owner.pid';

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
async function startTicks(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export async function ownerLine(pid = process.pid): Promise<string> {
  return `${pid} ${(await startTicks(pid)) ?? '?'}\n`;
}

/** Whether the process an owner file names still runs (the same process, not a reused pid). */
export async function ownerAlive(line: string): Promise<boolean> {
  const [pid, ticks] = line.trim().split(/\s+/);
  if (!pid || !/^\d+$/.test(pid)) return false;
  const now = await startTicks(Number(pid));
  return now !== undefined && (ticks === '?' || now === ticks);
}

export async function makeBootDir(tmp = os.tmpdir()): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, BOOT_DIR_PREFIX));
  await writeFile(path.join(dir, OWNER_FILE), await ownerLine());
  return dir;
}

/**
 * Removes the boot dirs of runs that are gone. A dir without an owner file is left alone: it is
 * being made right now, or an older flatbake made it and nothing tells whether that run lives.
 */
export async function reapDeadBootDirs(tmp = os.tmpdir()): Promise<string[]> {
  const reaped: string[] = [];
  for (const entry of await readdir(tmp).catch(() => [])) {
    if (!entry.startsWith(BOOT_DIR_PREFIX)) continue;
    const dir = path.join(tmp, entry);
    const owner = await readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => undefined);
    if (owner === undefined || (await ownerAlive(owner))) continue;
    await rm(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  return reaped;
}
