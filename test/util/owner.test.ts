/**
 * The one way a dead run's leftovers are told from a live run's (src/util/owner.ts) and the one
 * reaper (reapDead, tryLock in src/util/leftovers.ts), against real processes and /proc.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapDead, tryLock } from '../../src/util/leftovers.js';
import { isAlive, ownedPrefix, ownedTempDir, ownerOf, ownerTag, startTime } from '../../src/util/owner.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'owner-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs FN with a live process (a sleep) and its start time, and ends that process after. */
async function withLiveProcess(fn: (pid: number, start: string) => Promise<void>): Promise<void> {
  const sleeper = execa('sleep', ['60'], { reject: false });
  try {
    await fn(sleeper.pid!, startTime(sleeper.pid!)!);
  } finally {
    sleeper.kill();
    await sleeper;
  }
}

/** A pid that ran and is gone now (reaped by execa). */
async function deadPid(): Promise<number> {
  const gone = execa('true');
  const pid = gone.pid!;
  await gone;
  return pid;
}

describe('the owner in a name', () => {
  it('is this process: pid and the start time that ps reports for it', async () => {
    const [pid, start] = ownerTag().split('-');
    expect(Number(pid)).toBe(process.pid);
    // procps's view of the same process: started (uptime - etimes) seconds after boot.
    const etimes = Number((await execa('ps', ['-o', 'etimes=', '-p', String(process.pid)])).stdout.trim());
    const uptime = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
    const hz = Number((await execa('getconf', ['CLK_TCK'])).stdout.trim());
    expect(Math.abs(uptime - etimes - Number(start) / hz)).toBeLessThan(2);
    // Field 22 counted from the end of the line (fields 23..52 are 30 more), not from the name.
    const stat = await readFile('/proc/self/stat', 'utf8');
    const fields = stat.trim().split(' ');
    expect(start).toBe(fields[fields.length - 31]);
    const made = await ownedTempDir(dir, 'thing-');
    expect(path.basename(made)).toMatch(new RegExp(`^thing-${process.pid}-${start}-[A-Za-z0-9]{6}$`));
    expect(ownerOf(path.basename(made), 'thing-')).toEqual({ pid: process.pid, start });
    expect(ownerOf('thing-123-x', 'thing-')).toEqual({ pid: 123, start: undefined });
    expect(ownerOf('other-123-456-x', 'thing-')).toBeUndefined();
  });

  it('a reused pid (the same pid, another start time) is not the owner; the real start is', async () => {
    await withLiveProcess(async (pid, start) => {
      expect(start).toMatch(/^\d+$/);
      expect(isAlive({ pid, start })).toBe(true);
      // A name made by an earlier process that had this pid: it started at another time.
      expect(isAlive({ pid, start: String(Number(start) - 1) })).toBe(false);
      expect(isAlive({ pid: process.pid, start: String(Number(ownerTag().split('-')[1]) + 1) })).toBe(false);
      // Names from before start times were recorded: the pid alone decides.
      expect(isAlive({ pid })).toBe(true);
      expect(isAlive({ pid: await deadPid() })).toBe(false);
      // pid_max is at most 2^22: this pid cannot exist.
      expect(isAlive({ pid: 4194305, start: '1' })).toBe(false);
    });
  });
});

describe('reapDead', () => {
  it('removes what dead owners and reused pids left, and keeps a live owner\'s and names without one', async () => {
    const where = path.join(dir, 'reap');
    await mkdir(where);
    await withLiveProcess(async (pid, start) => {
      const live = `${pid}-${start}`;
      const reused = `${pid}-${Number(start) + 7}`;
      const names = [`x-${live}-aaaaaa`, `x-${reused}-bbbbbb`, `x-${await deadPid()}-1-cccccc`, 'x-no-owner', `${ownedPrefix('x-')}mine`, `y-${reused}-other-prefix`];
      for (const name of names) await mkdir(path.join(where, name));
      expect(await reapDead(where, 'x-')).toEqual([names[1], names[2]].sort());
      expect((await readdir(where)).sort()).toEqual([names[0], names[3], names[4], names[5]].sort());
      // With `all` (the caller holds the lock of WHERE) names without an owner go too.
      expect(await reapDead(where, 'x-', { all: true })).toEqual(['x-no-owner']);
    });
  });

  it('keeps an entry whose release fails, for a later run', async () => {
    const where = path.join(dir, 'release');
    await mkdir(where);
    const dead = await deadPid();
    await writeFile(path.join(where, `m-${dead}-5-keep`), 'held');
    await writeFile(path.join(where, `m-${dead}-5-free`), 'freed');
    const seen: string[] = [];
    const gone = await reapDead(where, 'm-', {
      release: async (entry, owner) => {
        seen.push(`${path.basename(entry)} ${owner.pid} ${owner.start}`);
        return (await readFile(entry, 'utf8')) === 'freed';
      },
    });
    expect(gone).toEqual([`m-${dead}-5-free`]);
    expect(seen.sort()).toEqual([`m-${dead}-5-free ${dead} 5`, `m-${dead}-5-keep ${dead} 5`]);
    expect(await readdir(where)).toEqual([`m-${dead}-5-keep`]);
  });
});

describe('a lock', () => {
  it('held by a reused pid is taken over; held by the live process that took it, refused', async () => {
    const file = path.join(dir, 'lock');
    await withLiveProcess(async (pid, start) => {
      const record = (s: string) => `${JSON.stringify({ pid, start: s, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z' })}\n`;
      await writeFile(file, record(start));
      expect(await tryLock(file)).toEqual({ holder: JSON.parse(record(start)) });
      await writeFile(file, record(String(Number(start) + 3)));
      const taken = await tryLock(file);
      expect('release' in taken).toBe(true);
      expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid, start: ownerTag().split('-')[1] });
      if ('release' in taken) await taken.release();
      expect(await readdir(dir)).not.toContain('lock');
    });
  });
});
