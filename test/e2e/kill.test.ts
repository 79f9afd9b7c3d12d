/**
 * SIGKILL, which flatbake cannot catch: its children must die with it (setpriv --pdeathsig KILL
 * in the one command runner), not go on writing into the dead run's files.
 */
import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

/** Pids of the processes whose parent is PID and whose command name is NAME, from /proc. */
async function childrenNamed(pid: number, name: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (comm === name && ppid === pid) found.push(Number(entry));
  }
  return found;
}

const alive = async (pid: number) => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // A zombie (state Z) has died; only its parent's wait() is missing.
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a bake killed with SIGKILL', () => {
  let scratch: string;
  let served: ServedRelease;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-kill-'));
    // 48 MiB of incompressible bytes on USR-A: the compressed qcow2 of qemu_uefi takes a moment.
    served = await serveSyntheticRelease({ sysexts: [{ name: 'hello', version: '1.0.0', arch: 'x86-64' }], oemIds: ['qemu'], usrPayloadBytes: 48 << 20 });
  });
  afterAll(async () => {
    await served?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('takes its qemu-img convert with it', async () => {
    const hello = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
    const output = path.join(scratch, 'out');
    const bake = execa(process.execPath, [CLI, ...served.args({ output }), '--fetch', '--vendor', 'qemu_uefi', `hello:${hello}`], {
      reject: false,
      stdin: 'ignore',
      env: { NO_PROXY: '127.0.0.1' },
    });
    let ended = false;
    void bake.then(() => (ended = true));
    let converters: number[] = [];
    while (converters.length === 0 && !ended && bake.pid !== undefined) {
      converters = await childrenNamed(bake.pid, 'qemu-img');
      if (converters.length === 0) await sleep(10);
    }
    expect(converters.length, `qemu-img convert was never seen running: ${ended ? (await bake).stderr : ''}`).toBeGreaterThan(0);
    bake.kill('SIGKILL');
    const result = await bake;
    expect(result.signal).toBe('SIGKILL');
    // The kernel delivers the parent-death signal as the parent exits; give the scheduler a moment.
    for (let i = 0; i < 100 && (await Promise.all(converters.map(alive))).some(Boolean); i++) await sleep(50);
    expect(await Promise.all(converters.map(alive))).toEqual(converters.map(() => false));
  });
});
