import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, isRoot, readJson, ROOT_SKIP_REASON, runCli } from '../helpers/cli.js';
import { coreutilsChunkedSha256, withReadOnlyPartition } from '../helpers/disk.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import type { Manifest } from '../../src/bake/manifest.js';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];

/** Every entry below dir: type, mode, owner, size, link target and content digest (not times). */
async function describeTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = path.join(rel, name);
      const st = await lstat(path.join(dir, r));
      const kind = st.isSymbolicLink() ? `link:${await readlink(path.join(dir, r))}` : st.isDirectory() ? 'dir' : st.isFile() ? `file:${createHash('sha256').update(await readFile(path.join(dir, r))).digest('hex')}` : 'other';
      out[r] = `${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** Loop devices and mounts of files under `dir` (other test files attach their own meanwhile). */
async function loopsAndMounts(dir: string): Promise<string> {
  const loops = (await execa('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'])).stdout.split('\n').filter((l) => l.includes(dir));
  const devices = loops.map((l) => l.trim().split(/\s+/)[0]!);
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(dir) || devices.some((d) => l.startsWith(`${d} `)));
  return `${loops.join('\n')}\n--\n${mounts.join('\n')}`;
}

describe.skipIf(!isRoot)(`rootless bake: an ordinary user, no sudo, no loop device, no mount${ROOT_SKIP_REASON}`, () => {
  let served: ServedRelease;
  let scratch: string;
  let hello: string;
  beforeAll(async () => {
    served = await serveSyntheticRelease({ oemIds: ['qemu', 'gce', 'vmware'] });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-rootless-'));
    await chmod(scratch, 0o777);
    hello = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
  });
  afterAll(async () => {
    await served?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  async function asNobody(args: string[]) {
    return execa('setpriv', [...NOBODY, process.execPath, CLI, ...args], { reject: false, env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: scratch, NO_PROXY: '127.0.0.1' } });
  }

  it('bakes the generic image and qemu_uefi, gce, vmware_ova, pxe and iso as nobody with the offline backend, touching only files', async () => {
    const before = await loopsAndMounts(scratch);
    const output = path.join(scratch, 'nobody-out');
    const r = await asNobody([...served.args({ output, cacheDir: path.join(scratch, 'cache') }), '--fetch', '--install-to', 'oem:/sysexts', '--vendor', 'generic,qemu_uefi,gce,vmware_ova,pxe,iso', `hello:${hello}`]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(await loopsAndMounts(scratch)).toBe(before);
    expect(before).toBe('\n--\n');
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.backend).toBe('offline');
    expect(manifest.vendors).toEqual(['generic', 'qemu_uefi', 'gce', 'vmware_ova', 'pxe', 'iso']);
    expect(manifest.failedVendors).toBeUndefined();
    const image = path.join(output, 'flatcar_production_image.bin');
    expect((await execa('e2fsck', ['-fn', `${image}?offset=${(await execa('sgdisk', ['-i', '9', image])).stdout.match(/First sector: (\d+)/)![1]! as unknown as number * 512}`], { reject: false })).exitCode).toBe(0);
    await withReadOnlyPartition(image, 9, 'ext4', async (dir) => {
      expect(await readlink(path.join(dir, 'etc/extensions/hello.raw'))).toBe(`/oem/sysexts/${hello}`);
      const st = await lstat(path.join(dir, 'etc/extensions/hello.raw'));
      expect([st.uid, st.gid]).toEqual([0, 0]);
    });
    await withReadOnlyPartition(image, 6, 'btrfs', async (dir) => {
      const st = await lstat(path.join(dir, 'sysexts', hello));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o644]);
    });
    // The qemu disk: OEM holds grub.cfg, the OEM sysext, its marker and oem-release, root-owned.
    const raw = path.join(scratch, 'qemu.raw');
    await execa('qemu-img', ['convert', '-O', 'raw', path.join(output, 'flatcar_production_qemu_uefi_image.img'), raw]);
    // ROOT grown to the vm layout offline: a valid GPT, and ext4 filling the partition, clean.
    expect((await execa('sgdisk', ['-v', raw])).stdout).toContain('No problems found');
    const rootPart = (await execa('sgdisk', ['-i', '9', raw])).stdout;
    const first = Number(/First sector: (\d+)/.exec(rootPart)![1]);
    const sectors = Number(/Partition size: (\d+) sectors/.exec(rootPart)![1]);
    expect(sectors).toBe(12943360);
    const dump = (await execa('dumpe2fs', ['-h', `${raw}?offset=${first * 512}`], { reject: false })).stdout;
    expect(Number(/Block count:\s+(\d+)/.exec(dump)![1]) * Number(/Block size:\s+(\d+)/.exec(dump)![1])).toBe(sectors * 512);
    expect((await execa('e2fsck', ['-fn', `${raw}?offset=${first * 512}`], { reject: false })).exitCode).toBe(0);
    await withReadOnlyPartition(raw, 6, 'btrfs', async (dir) => {
      const files = (await readdir(path.join(dir, 'sysext'))).sort();
      expect(files).toEqual(['active-oem-qemu', `oem-qemu-${served.release.version}.raw`]);
      expect(await readFile(path.join(dir, 'grub.cfg'), 'utf8')).toMatch(/oem_id="qemu"/);
      expect(await readFile(path.join(dir, 'oem-release'), 'utf8')).toMatch(/^ID=qemu$/m);
      const st = await lstat(path.join(dir, 'grub.cfg'));
      expect([st.uid, st.gid]).toEqual([0, 0]);
    });
    await rm(raw);
    expect(await readdir(output)).toEqual(
      expect.arrayContaining([
        'flatcar_production_pxe.vmlinuz',
        'flatcar_production_pxe_image.cpio.gz',
        'flatcar_production_gce.tar.gz',
        'flatcar_production_vmware_ova.ova',
        'flatcar_production_iso_image.iso',
      ]),
    );

    // inspect reads the image as nobody too, and sees what read-only mounts show root.
    const offline = await asNobody(['inspect', '--json', image]);
    expect(offline.exitCode, String(offline.stderr)).toBe(0);
    const mounted = await runCli(['inspect', '--json', '--backend', 'mount', image]);
    expect(mounted.exitCode, mounted.stderr).toBe(0);
    const [a, b] = [JSON.parse(String(offline.stdout)), JSON.parse(mounted.stdout)];
    expect(a.backend).toBe('offline');
    expect(a.sysexts).toEqual(b.sysexts);
    expect(a.release).toEqual(b.release);
    expect(a.partitions).toEqual(b.partitions);
    expect(a.sysexts).toEqual([expect.objectContaining({ name: 'hello', target: `/oem/sysexts/${hello}`, partition: 'oem', present: true })]);
  });

  it('the offline backend writes the same files, modes, owners and links as the mount backend', async () => {
    const run = async (backend: string, user: 'root' | 'nobody') => {
      const output = path.join(scratch, `same-${backend}`);
      await mkdir(output, { recursive: true });
      await chmod(output, 0o777);
      const args = [...served.args({ output }), '--backend', backend, '--fetch', '--install-to', 'oem:/sysexts', `hello:${hello}`, `wasmtime:${path.basename(served.release.sysexts.find((s) => s.name === 'wasmtime')!.file)}`];
      const r = user === 'root' ? await runCli(args) : await asNobody(args);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const image = path.join(output, 'flatcar_production_image.bin');
      // Either way, the manifest's digest is the file's as coreutils computes it.
      const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
      expect(manifest.outputs[0]!.chunkedSha256).toBe(await coreutilsChunkedSha256(image));
      return {
        root: await withReadOnlyPartition(image, 9, 'ext4', describeTree),
        oem: await withReadOnlyPartition(image, 6, 'btrfs', describeTree),
      };
    };
    const mounted = await run('mount', 'root');
    const offline = await run('offline', 'nobody');
    expect(offline.root).toEqual(mounted.root);
    expect(offline.oem).toEqual(mounted.oem);
    expect(Object.keys(offline.oem)).toContain(`sysexts/${hello}`);
  });
});
