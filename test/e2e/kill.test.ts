/**
 * SIGKILL, which flatbake cannot catch: its children must die with it (setpriv --pdeathsig KILL
 * in the one command runner), not go on writing into the dead run's files, and the next run
 * removes what it left (files, loop devices, mounts), but never what a run still alive holds.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerTag } from '../../src/util/owner.js';
import { CLI, isRoot, ROOT_SKIP_REASON, runCli } from '../helpers/cli.js';
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

  it('leaves its work dir and lock, which the next bake into that --output removes', async () => {
    const output = path.join(scratch, 'out');
    const left = await readdir(output);
    expect(left.filter((f) => f.startsWith('.flatbake-work-'))).toHaveLength(1);
    expect(left).toContain('.flatbake-lock');
    // Scratch of other runs in the temp dir and the cache: one dead, one alive (this test's pid).
    const tmp = path.join(scratch, 'tmp');
    const cache = path.join(scratch, 'cache');
    await mkdir(path.join(cache, 'downloads'), { recursive: true });
    await mkdir(tmp, { recursive: true });
    const gone = execa('true');
    const dead = `${gone.pid!}-1`; // pid-start of a process that is gone
    await gone;
    const mine = ownerTag();
    for (const name of [`flatbake-ext4-${dead}-aaaaaa`, `flatbake-ext4-${dead}-bbbbbb`, `flatbake-ext4-${mine}-cccccc`]) await mkdir(path.join(tmp, name));
    await writeFile(path.join(cache, 'downloads', `decompress-${dead}-0123456789ab.bin`), 'half');
    await writeFile(path.join(cache, 'downloads', `decompress-${mine}-0123456789ab.bin`), 'in use');

    const hello = served.release.sysexts.find((s) => s.name === 'hello')!.file;
    const r = await runCli(['--image', served.release.imagePath, '--cache-dir', cache, '--output', output, `hello:${hello}`], { env: { TMPDIR: tmp } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed what killed runs left: .*\.flatbake-work-/);
    expect((await readdir(output)).sort()).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);
    expect(await readdir(tmp)).toEqual([`flatbake-ext4-${mine}-cccccc`]);
    expect((await readdir(path.join(cache, 'downloads'))).filter((f) => f.startsWith('decompress-'))).toEqual([`decompress-${mine}-0123456789ab.bin`]);
  });

  it('a second bake into an --output a live run holds is refused, naming its pid, and changes nothing', async () => {
    const output = path.join(scratch, 'busy');
    await mkdir(output, { recursive: true });
    const holder = execa('sleep', ['60'], { reject: false });
    try {
      await writeFile(path.join(output, '.flatbake-lock'), `${JSON.stringify({ pid: holder.pid, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z' })}\n`);
      const hello = served.release.sysexts.find((s) => s.name === 'hello')!.file;
      const r = await runCli(['--image', served.release.imagePath, '--no-cache', '--output', output, `hello:${hello}`]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^flatbake: error: --output ${output} is in use by another flatbake run \\(pid ${holder.pid}, `, 'm'));
      expect(r.stderr).toMatch(/^flatbake: hint: /m);
      expect(await readdir(output)).toEqual(['.flatbake-lock']);
    } finally {
      holder.kill();
      await holder;
    }
  });
});

/** Loop devices whose backing file lies under DIR, from the kernel (/sys, what `losetup -a` reads). */
async function loopsUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir('/sys/block')) {
    const file = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => undefined);
    if (file?.startsWith(dir)) found.push(`/dev/${name} ${file.trim()}`);
  }
  return found;
}

/** Mount points under DIR, from /proc/mounts. */
const mountsUnder = async (dir: string) => (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.split(' ')[1]?.startsWith(dir));

describe.skipIf(!isRoot)(`a --backend mount bake killed with SIGKILL while a partition is mounted${ROOT_SKIP_REASON}`, () => {
  let served: ServedRelease;
  beforeAll(async () => {
    served = await serveSyntheticRelease({ sysexts: [{ name: 'hello', version: '1.0.0', arch: 'x86-64' }] });
  });
  afterAll(async () => {
    await served?.close();
  });

  it('leaves its loop device and mount, which the next bake detaches and unmounts', async () => {
    const scratch = served.dir;
    const output = path.join(scratch, 'mount-out');
    const tmp = path.join(scratch, 'mount-tmp');
    await mkdir(tmp, { recursive: true });
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!.file;
    const args = ['--image', served.release.imagePath, '--no-cache', '--backend', 'mount', '--output', output, `hello:${hello}`];
    const bake = execa(process.execPath, [CLI, ...args], { reject: false, stdin: 'ignore', env: { TMPDIR: tmp } });
    let ended = false;
    void bake.then(() => (ended = true));
    // Killed the moment a partition (USR-A for os-release, or ROOT) is mounted: its loop device
    // and mount are then held by the kernel.
    while (!ended && (await mountsUnder(tmp)).length === 0) await sleep(1);
    expect(ended, "no partition was ever seen mounted").toBe(false);
    bake.kill('SIGKILL');
    expect((await bake).signal).toBe('SIGKILL');
    const workDir = path.join(output, (await readdir(output)).find((f) => f.startsWith('.flatbake-work-'))!);
    expect(await mountsUnder(tmp)).not.toEqual([]);
    expect(await loopsUnder(workDir)).not.toEqual([]);
    expect((await readdir(tmp)).filter((f) => f.startsWith('flatbake-attached-'))).toHaveLength(1);

    const r = await runCli(args, { env: { TMPDIR: tmp } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed what killed runs left: .*\/dev\/loop\d+/);
    // What losetup -a and /proc/mounts list: nothing of the killed run, nothing of this one.
    expect(await mountsUnder(tmp)).toEqual([]);
    expect(await loopsUnder(output)).toEqual([]);
    const { stdout } = await execa('losetup', ['-a']);
    expect(stdout).not.toContain(output);
    expect(await readdir(tmp)).toEqual([]);
    expect((await readdir(output)).sort()).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);
  });
});
