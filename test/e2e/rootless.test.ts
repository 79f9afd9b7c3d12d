import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, needsRoot, readJson, runCli, runCliUnprivileged } from '../helpers/cli.js';
import { coreutilsChunkedSha256, withReadOnlyPartition, type OwnerOf } from '../helpers/disk.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import type { Manifest } from '../../src/bake/manifest.js';

/** Every entry below dir: type, mode, owner, size, link target and content digest (not times). */
async function describeTree(dir: string, owner: OwnerOf): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const r = path.join(rel, name);
      const st = await lstat(path.join(dir, r));
      const kind = st.isSymbolicLink() ? `link:${await readlink(path.join(dir, r))}` : st.isDirectory() ? 'dir' : st.isFile() ? `file:${createHash('sha256').update(await readFile(path.join(dir, r))).digest('hex')}` : 'other';
      const o = await owner(r);
      out[r] = `${kind} ${o.mode.toString(8)} ${o.uid}:${o.gid}`;
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

// As root the bakes below run as nobody; as any other user, as that user.
describe('rootless bake: an ordinary user, no sudo, no loop device, no mount', () => {
  let served: ServedRelease;
  let scratch: string;
  let hello: string;
  /** The generic image the first bake wrote, and inspect's report of it as nobody. */
  let inspected: { image: string; report: { backend: string; release: unknown; sysexts: unknown; partitions: unknown } } | undefined;
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
    return runCliUnprivileged(args, { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: scratch });
  }

  it('bakes the generic image and qemu_uefi, gce, vmware_ova, pxe and iso as an ordinary user (nobody when run as root) with the offline backend, touching only files', async () => {
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
    await withReadOnlyPartition(image, 9, 'ext4', async (dir, owner) => {
      expect(await readlink(path.join(dir, 'etc/extensions/hello.raw'))).toBe(`/oem/sysexts/${hello}`);
      expect(await owner('etc/extensions/hello.raw')).toMatchObject({ uid: 0, gid: 0 });
    });
    await withReadOnlyPartition(image, 6, 'btrfs', async (_dir, owner) => {
      expect(await owner(path.join('sysexts', hello))).toEqual({ uid: 0, gid: 0, mode: 0o644 });
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
    await withReadOnlyPartition(raw, 6, 'btrfs', async (dir, owner) => {
      const files = (await readdir(path.join(dir, 'sysext'))).sort();
      expect(files).toEqual(['active-oem-qemu', `oem-qemu-${served.release.version}.raw`]);
      expect(await readFile(path.join(dir, 'grub.cfg'), 'utf8')).toMatch(/oem_id="qemu"/);
      expect(await readFile(path.join(dir, 'oem-release'), 'utf8')).toMatch(/^ID=qemu$/m);
      expect(await owner('grub.cfg')).toMatchObject({ uid: 0, gid: 0 });
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

    // inspect reads the image as nobody too.
    const offline = await asNobody(['inspect', '--json', image]);
    expect(offline.exitCode, String(offline.stderr)).toBe(0);
    inspected = { image, report: JSON.parse(String(offline.stdout)) };
    expect(inspected.report.backend).toBe('offline');
    expect(inspected.report.release).toMatchObject({ ID: 'flatcar', VERSION_ID: served.release.version });
    expect(inspected.report.sysexts).toEqual([expect.objectContaining({ name: 'hello', target: `/oem/sysexts/${hello}`, partition: 'oem', present: true })]);
  });

  it.skipIf(!isRoot)(`inspect as nobody sees what read-only mounts show root${needsRoot('for the mount backend')}`, async () => {
    expect(inspected, 'the bake above must have run').toBeDefined();
    const mounted = await runCli(['inspect', '--json', '--backend', 'mount', inspected!.image]);
    expect(mounted.exitCode, mounted.stderr).toBe(0);
    const [a, b] = [inspected!.report, JSON.parse(mounted.stdout)];
    expect(a.sysexts).toEqual(b.sysexts);
    expect(a.release).toEqual(b.release);
    expect(a.partitions).toEqual(b.partitions);
  });

  it.skipIf(!isRoot)(`the offline backend writes the same files, modes, owners and links as the mount backend${needsRoot('for the mount backend')}`, async () => {
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
