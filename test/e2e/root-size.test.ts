/**
 * --root-size and ROOT growth for sysexts that do not fit: the grown image read back with
 * sgdisk, e2fsck and debugfs (not our code), both backends, vendor-only runs.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, readJson, ROOT_SKIP_REASON, runCli } from '../helpers/cli.js';
import { coreutilsChunkedSha256, rangesEqual, sgdiskPartition, sgdiskVerify } from '../helpers/disk.js';
import { buildSyntheticRelease, makeSyntheticSysext, type SyntheticSysext } from '../../src/demo/synthetic-release.js';
import type { Manifest } from '../../src/bake/manifest.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** ROOT of a disk image as e2fsprogs opens it in place (`FILE?offset=N`): a grown ROOT is gigabytes of hole, not worth copying. */
async function rootDevice(image: string): Promise<string> {
  return `${image}?offset=${(await sgdiskPartition(image, 9)).startByte}`;
}

describe('ROOT growth for sysexts bigger than ROOT (synthetic image: ROOT is 64 MiB)', () => {
  let scratch: string;
  let base: string;
  let big: SyntheticSysext;
  let bigBlob: Buffer;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-rootsize-'));
    // The synthetic release has the real partition table of Flatcar's generic image, scaled down.
    const release = await buildSyntheticRelease({ root: path.join(scratch, 'www'), sysexts: [] });
    base = release.imagePath;
    // Random bytes: squashfs cannot compress them, so the sysext really is bigger than ROOT's free space.
    bigBlob = randomBytes(72 * MiB);
    big = await makeSyntheticSysext({ dir: path.join(scratch, 'sysexts'), name: 'big', version: '1.0', files: { 'usr/lib/big/blob': bigBlob } });
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  const bake = (output: string, ...args: string[]) => runCli(['--image', base, '--no-cache', '--output', output, ...args, `big:${big.file}`]);
  let suggested: string;

  it('without --root-size: one error naming what is missing and the --root-size that fits; nothing written', async () => {
    const output = path.join(scratch, 'too-small');
    const r = await bake(output);
    expect(r.exitCode).toBe(1);
    const error = r.stderr.split('\n').filter((l) => l.startsWith('flatbake: error:'));
    expect(error).toEqual([expect.stringMatching(/^flatbake: error: not enough space on ROOT: the sysexts need \d+ MiB with filesystem overhead, \d+ MiB are free \(\d+ MiB missing\)$/)]);
    const hint = /^flatbake: hint: --root-size (\d+[MG]) grows ROOT \(now 64 MiB\) so that they fit, or bake fewer or smaller sysexts$/m.exec(r.stderr);
    expect(hint, r.stderr).not.toBeNull();
    suggested = hint![1]!;
    expect(r.stderr).not.toContain('    at ');
    expect(await readdir(output)).toEqual([]);
  });

  it('offline: the suggested --root-size grows ROOT; sgdisk, e2fsck and debugfs read it back; the rest is untouched and the growth sparse', async () => {
    const output = path.join(scratch, 'offline');
    const r = await bake(output, '--root-size', suggested, '--backend', 'offline', '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const image = path.join(output, 'flatcar_production_image.bin');
    expect(await sgdiskVerify(image)).toContain('No problems found');
    const before = await sgdiskPartition(base, 9);
    const after = await sgdiskPartition(image, 9);
    expect(after.firstLba).toBe(before.firstLba);
    expect(after.sizeBytes).toBe(Number.parseInt(suggested, 10) * (suggested.endsWith('G') ? 1024 : 1) * MiB);
    expect({ ...after, lastLba: 0, sizeBytes: 0 }).toEqual({ ...before, lastLba: 0, sizeBytes: 0 });
    // Every partition before ROOT is byte-identical (only the GPT headers and entries change).
    expect(await rangesEqual(base, image, 34 * 512, before.startByte - 34 * 512)).toBe(true);

    const rootImg = await rootDevice(image);
    const fsck = await execa('e2fsck', ['-fn', rootImg], { reject: false });
    expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
    const { stdout: blockCount } = await execa('dumpe2fs', ['-h', rootImg]);
    expect(Number(/^Block count:\s+(\d+)/m.exec(blockCount)![1]) * 4096).toBe(after.sizeBytes);
    const dumped = path.join(scratch, 'dumped.raw');
    await execa('debugfs', ['-R', `dump /opt/extensions/${path.basename(big.file)} ${dumped}`, rootImg]);
    expect(sha256(await readFile(dumped))).toBe(big.sha256);
    const { stdout: link } = await execa('debugfs', ['-R', 'stat /etc/extensions/big.raw', rootImg]);
    expect(link).toContain(`Fast link dest: "/opt/extensions/${path.basename(big.file)}"`);

    // The grown space is a hole: the image holds the base's data and the sysext, little more.
    const allocated = (await stat(image)).blocks * 512;
    expect(allocated).toBeLessThan((await stat(base)).blocks * 512 + big.size + 8 * MiB);
    // The manifest's chunked digest is what coreutils computes from the grown file.
    const manifest = JSON.parse(r.stdout) as Manifest;
    expect(await coreutilsChunkedSha256(image)).toBe(manifest.outputs[0]!.chunkedSha256);
    // The manifest records the grown ROOT, as sgdisk reads it.
    expect(manifest.outputs[0]!.rootSize).toBe(after.sizeBytes);
    await rm(output, { recursive: true });
  });

  it('refuses a --root-size smaller than ROOT, or not a size, before anything is written', async () => {
    const output = path.join(scratch, 'refused');
    const small = await bake(output, '--root-size', '32M');
    expect(small.exitCode).toBe(2);
    expect(small.stderr).toContain('flatbake: error: --root-size 32M is smaller than the image\'s ROOT (67108864 bytes): ROOT can only grow');
    expect(small.stderr).toContain('flatbake: hint: leave --root-size out, or give at least 64M');
    const bad = await bake(output, '--root-size', '1.5G');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("flatbake: error: --root-size '1.5G' is not a size");
    expect(await readdir(output).catch(() => [])).toEqual([]);
  });

  // A vendor writes and hashes a 6 GiB disk: on a busy 2-core machine that takes minutes.
  it('generic with vendors: ROOT grows as far as the sysexts need, ami grows it on to its layout and is written; generic and a base-layout vendor fail alone with the numbers', { timeout: 600_000 }, async () => {
    const output = path.join(scratch, 'vendors');
    const r = await bake(output, '--vendor', 'generic,ami,xen', '--no-oem-sysext');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/flatbake: grow: the sysexts need \d+ MiB more than ROOT has free: growing it before the vendor layouts/);
    expect(r.stderr).toMatch(/^flatbake: WARNING: generic image failed: not enough space on ROOT: the sysexts need \d+ MiB with filesystem overhead, \d+ MiB are free \(\d+ MiB missing\); --root-size \d+[MG] grows ROOT \(now 64 MiB\) so that they fit/m);
    expect(r.stderr).toMatch(/^flatbake: error: 2 of 3 vendor image\(s\) failed: generic \(not enough space on ROOT: .*\); xen \(its base layout gives ROOT 64 MiB, the sysexts need ROOT grown to about \d+ MiB\)$/m);
    expect(r.stderr).toMatch(/^flatbake: hint: generic: --root-size \d+[MG] grows ROOT \(now 64 MiB\) so that they fit, .*; the others were written: flatcar_production_ami_image\.bin/m);
    expect(r.stderr).not.toContain('    at ');
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.failedVendors?.map((f) => f.vendor)).toEqual(['generic', 'xen']);
    expect(manifest.failedVendors![0]!.error).toMatch(/--root-size \d+[MG]/);
    expect(await readdir(output)).not.toContain('flatcar_production_image.bin');
    const ami = path.join(output, 'flatcar_production_ami_image.bin');
    expect(await sgdiskVerify(ami)).toContain('No problems found');
    // flatcar/scripts build_library/disk_layout.json, layout "vm": ROOT "blocks":"12943360"
    expect((await sgdiskPartition(ami, 9)).sizeBytes).toBe(12943360 * 512);
    expect(manifest.outputs.map((o) => [o.vendor, o.file, o.rootSize])).toEqual([['ami', 'flatcar_production_ami_image.bin', 12943360 * 512]]);
    const rootImg = await rootDevice(ami);
    const fsck = await execa('e2fsck', ['-fn', rootImg], { reject: false });
    expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
    const { stdout } = await execa('debugfs', ['-R', `stat /opt/extensions/${path.basename(big.file)}`, rootImg]);
    expect(stdout).toContain(`Size: ${big.size}`);
    await rm(output, { recursive: true });
  });

  describe.skipIf(!isRoot)(`mount backend${ROOT_SKIP_REASON}`, () => {
    it('--root-size past the disk end: the disk grows, the backup GPT moves to the new end, the sysext reads back through a mount', { timeout: 600_000 }, async () => {
      const output = path.join(scratch, 'mount');
      const r = await bake(output, '--root-size', '1G', '--backend', 'mount');
      expect(r.exitCode, r.stderr).toBe(0);
      const image = path.join(output, 'flatcar_production_image.bin');
      expect((await stat(image)).size).toBeGreaterThan((await stat(base)).size);
      expect(await sgdiskVerify(image)).toContain('No problems found');
      const { stdout } = await execa('sgdisk', ['-p', image]);
      const diskSectors = Number(/Disk .*: (\d+) sectors/.exec(stdout)![1]);
      expect((await stat(image)).size).toBe(diskSectors * 512);
      const root = await sgdiskPartition(image, 9);
      expect(root.sizeBytes).toBe(1024 * MiB);
      const before = await sgdiskPartition(base, 9);
      expect(await rangesEqual(base, image, 34 * 512, before.startByte - 34 * 512)).toBe(true);
      const rootImg = await rootDevice(image);
      const fsck = await execa('e2fsck', ['-fn', rootImg], { reject: false });
      expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
      const dumped = path.join(scratch, 'dumped-mount.raw');
      await execa('debugfs', ['-R', `dump /opt/extensions/${path.basename(big.file)} ${dumped}`, rootImg]);
      expect(sha256(await readFile(dumped))).toBe(big.sha256);
      expect((await stat(image)).blocks * 512).toBeLessThan((await stat(base)).blocks * 512 + big.size + 40 * MiB);
      await rm(output, { recursive: true });
    });
  });
});
