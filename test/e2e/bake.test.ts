import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli } from '../helpers/cli.js';
import { coreutilsChunkedSha256, leftovers, rangesEqual, sgdiskPartition, sgdiskVerify, withReadOnlyPartition } from '../helpers/disk.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import type { Manifest } from '../../src/bake/manifest.js';
import { openCache } from '../../src/cache/cache.js';
import { parse as parseYaml } from 'yaml';
import { schemaErrors } from '../helpers/schemas.js';

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('bake end to end against a served synthetic release', () => {
  let served: ServedRelease;
  let scratch: string;

  beforeAll(async () => {
    served = await serveSyntheticRelease();
    // The served release's own scratch dir: close() removes it with everything written there.
    scratch = served.dir;
  });
  afterAll(async () => {
    await served?.close();
  });

  it('fetches, verifies and bakes two sysexts; the result reads back right with other tools', async () => {
    const output = path.join(scratch, 'fetch');
    const cacheDir = path.join(scratch, 'cache');
    const { release } = served;
    const hello = release.sysexts.find((s) => s.name === 'hello')!;
    const wasmtime = release.sysexts.find((s) => s.name === 'wasmtime')!;
    const result = await runCli([
      '--fetch', '--json', '--full-digest',
      ...served.args({ cacheDir, output }),
      `hello:${path.basename(hello.file)}`,
      `wasmtime:${path.basename(wasmtime.file)}`,
    ]);
    expect(result.stderr).toContain('flatbake: verify: signatures of the image and version.txt are good');
    expect(result.exitCode, result.stderr).toBe(0);

    // --json prints the manifest on stdout, and it is the file written
    const manifest = JSON.parse(result.stdout) as Manifest;
    expect(await readJson(path.join(output, 'flatbake-manifest.json'))).toEqual(manifest);
    expect(schemaErrors('manifest', manifest)).toEqual([]);
    expect(manifest.release).toMatchObject({ version: release.version, channel: 'stable', board: 'amd64-usr', arch: 'x86-64' });
    expect(manifest.base.signature).toEqual({ verified: true, fingerprint: release.fingerprint });
    expect(manifest.base.sha256).toBe(await sha256(release.files.imageBz2));
    const image = path.join(output, 'flatcar_production_image.bin');
    expect(manifest.outputs).toEqual([
      // rootSize: ROOT (partition 9) as sgdisk reads it from the written image.
      { vendor: 'generic', file: 'flatcar_production_image.bin', sha256: expect.any(String), chunkedSha256: expect.any(String), size: (await stat(image)).size, rootSize: (await sgdiskPartition(image, 9)).sizeBytes },
    ]);
    // --full-digest adds the plain SHA-256 to the chunked one; both are what coreutils compute.
    const { stdout: digest } = await execa('sha256sum', [image]);
    expect(digest.split(' ')[0]).toBe(manifest.outputs[0]!.sha256);
    expect(await coreutilsChunkedSha256(image)).toBe(manifest.outputs[0]!.chunkedSha256);
    // The cache now knows the base image's piece digests, for the next bake.
    const cachedBase = await openCache({ cacheDir }).lookup('decompressed', `bz2:${manifest.base.sha256}`);
    expect(cachedBase?.pieces?.size).toBeGreaterThan(0);
    expect(manifest.sysexts.map((s) => [s.name, s.sha256])).toEqual([
      ['hello', hello.sha256],
      ['wasmtime', wasmtime.sha256],
    ]);

    // Only the results are left in --output: no work dir, no partial files.
    expect((await readdir(output)).sort()).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);

    // The GPT is valid, and everything but ROOT is byte-identical to the input.
    expect(await sgdiskVerify(image)).toContain('No problems found');
    const root = await sgdiskPartition(image, 9);
    expect(root.name).toBe('ROOT');
    const input = release.imagePath;
    const size = (await stat(input)).size;
    expect((await stat(image)).size).toBe(size);
    expect(await rangesEqual(input, image, 0, root.startByte)).toBe(true);
    expect(await rangesEqual(input, image, root.startByte + root.sizeBytes, size - root.startByte - root.sizeBytes)).toBe(true);

    // Sparse: allocated size close to the base image's, far below the apparent size.
    const allocated = (await stat(image)).blocks * 512;
    const baseAllocated = (await stat(input)).blocks * 512;
    expect(allocated).toBeLessThan(baseAllocated * 1.05 + 4 * 1024 * 1024);
    expect(allocated).toBeLessThan(size / 4);

    // Files and symlinks on ROOT, read back through a read-only mount (as root) or debugfs.
    await withReadOnlyPartition(image, 9, 'ext4', async (dir, owner) => {
      for (const s of [hello, wasmtime]) {
        const file = path.basename(s.file);
        // Where the bakery's NAME.conf [Target] looks (Path=/opt/extensions/NAME), not --install-to.
        expect(await readlink(path.join(dir, `etc/extensions/${s.name}.raw`))).toBe(`/opt/extensions/${s.name}/${file}`);
        expect(await sha256(path.join(dir, 'opt/extensions', s.name, file))).toBe(s.sha256);
        expect(await owner(path.join('opt/extensions', s.name, file))).toEqual({ uid: 0, gid: 0, mode: 0o644 });
        expect(await readFile(path.join(dir, `etc/sysupdate.${s.name}.d/${s.name}.conf`), 'utf8')).toBe(await readFile(s.conf, 'utf8'));
      }
    });
    expect(await execa('e2fsck', ['-fn', `${image}?offset=${root.startByte}`], { reject: false }).then((r) => r.exitCode)).toBe(0);
    expect(await leftovers(scratch)).toEqual({ loops: [], mounts: [] });
  });

  it('a second bake of the same release downloads and decompresses nothing', async () => {
    const cacheDir = path.join(scratch, 'cache');
    const output = path.join(scratch, 'warm');
    const before = served.server.requests.length;
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!;
    const result = await runCli(['--fetch', ...served.args({ cacheDir, output }), `hello:${path.basename(hello.file)}`]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('all files from the cache');
    expect(result.stderr).toContain('base image from the cache');
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    // The base's piece digests came from the cache; the result must still be the file's digest.
    expect(manifest.outputs[0]!.sha256).toBeUndefined();
    expect(await coreutilsChunkedSha256(path.join(output, 'flatcar_production_image.bin'))).toBe(manifest.outputs[0]!.chunkedSha256);
    const paths = served.server.requests.slice(before).map((r) => r.path);
    expect(paths.some((p) => p.endsWith('.bz2') || p.endsWith('.raw') || p.endsWith('version.txt'))).toBe(false);
  });

  it('bakes local files onto OEM with NAME.conf next to them, for a pinned version, and warns about flatcar-reset', async () => {
    const output = path.join(scratch, 'local');
    const src = path.join(scratch, 'local-src');
    await execa('mkdir', ['-p', src]);
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!;
    await execa('cp', [hello.file, path.join(src, 'my-hello.raw')]);
    await writeFile(path.join(src, 'greet.conf'), '[Transfer]\nVerify=false\n');
    const result = await runCli([
      ...served.args({ output }),
      '--release', served.release.version,
      '--install-to', 'oem:/sysexts/',
      `greet:${path.join(src, 'my-hello.raw')}`,
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/WARNING: .*flatcar-reset/);
    // An explicit --install-to is kept (greet.conf has no [Target] to disagree with it).
    expect(result.stderr).not.toMatch(/greet\.conf cannot place|--install-to keeps greet/);
    const image = path.join(output, 'flatcar_production_image.bin');
    await withReadOnlyPartition(image, 9, 'ext4', async (dir) => {
      expect(await readlink(path.join(dir, 'etc/extensions/greet.raw'))).toBe('/oem/sysexts/my-hello.raw');
      expect(await readFile(path.join(dir, 'etc/sysupdate.greet.d/greet.conf'), 'utf8')).toBe('[Transfer]\nVerify=false\n');
      await expect(stat(path.join(dir, 'opt/extensions/my-hello.raw'))).rejects.toThrow();
    });
    await withReadOnlyPartition(image, 6, 'btrfs', async (dir) => {
      expect(await sha256(path.join(dir, 'sysexts/my-hello.raw'))).toBe(hello.sha256);
    });
    // OEM changed, so everything before OEM and between OEM and ROOT must still be identical
    const oem = await sgdiskPartition(image, 6);
    expect(await rangesEqual(served.release.imagePath, image, 0, oem.startByte)).toBe(true);
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    // OEM changed too: its pieces must be digested again, not taken from the base.
    expect(await coreutilsChunkedSha256(image)).toBe(manifest.outputs[0]!.chunkedSha256);
    expect(manifest.sysexts[0]).toMatchObject({ name: 'greet', installedTo: 'oem:/sysexts/my-hello.raw', bootedPath: '/oem/sysexts/my-hello.raw', source: path.join(src, 'my-hello.raw') });
    expect(manifest.release.version).toBe(served.release.version);
  });

  it('bakes into a local --image and inspect shows partitions, release and sysexts', async () => {
    const output = path.join(scratch, 'image');
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!;
    const result = await runCli(['--image', served.release.imagePath, '--no-cache', '--output', output, `hello:${hello.file}`]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('not signature-checked');
    const image = path.join(output, 'flatcar_production_image.bin');
    const inspected = await runCli(['inspect', '--json', image]);
    expect(inspected.exitCode, inspected.stderr).toBe(0);
    const report = JSON.parse(inspected.stdout);
    expect(schemaErrors('inspect', report)).toEqual([]);
    expect(report).toMatchObject({ format: 'raw', size: (await stat(image)).size, unlinkedFiles: [], oemSysexts: [] });
    expect(report.partitions.map((p: { number: number; label: string; filesystem: string }) => [p.number, p.label, p.filesystem])).toEqual([
      [1, 'EFI-SYSTEM', 'vfat'],
      [2, 'BIOS-BOOT', 'none'],
      [3, 'USR-A', 'btrfs'],
      [4, 'USR-B', 'none'],
      [6, 'OEM', 'btrfs'],
      [7, 'OEM-CONFIG', 'none'],
      [9, 'ROOT', 'ext4'],
    ]);
    expect(report.release).toMatchObject({ ID: 'flatcar', VERSION_ID: served.release.version, SYSEXT_LEVEL: '1.0' });
    expect(report.sysexts).toEqual([
      expect.objectContaining({ name: 'hello', symlink: '/etc/extensions/hello.raw', target: `/opt/extensions/hello/${path.basename(hello.file)}`, present: true, sysupdateConf: '/etc/sysupdate.hello.d/hello.conf' }),
    ]);
    const text = await runCli(['inspect', image]);
    expect(text.stdout).toContain('sysext hello: /etc/extensions/hello.raw ->');
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.base.signature.verified).toBe(false);
    // From the image's os-release: the build is the version's first number, the channel its middle one.
    const [major] = served.release.version.split('.');
    expect(manifest.release).toMatchObject({ version: served.release.version, build: major, channel: 'stable' });
    expect(schemaErrors('manifest', manifest)).toEqual([]);
  });

  it('--sysupdate wires updates into the image, the manifest records it, and butane --for-image repeats it for an existing image', async () => {
    const output = path.join(scratch, 'sysupdate');
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!;
    const result = await runCli(['--fetch', '--sysupdate', '--json', ...served.args({ output, cacheDir: path.join(scratch, 'cache') }), `hello:${path.basename(hello.file)}`]);
    expect(result.exitCode, result.stderr).toBe(0);
    const manifest = JSON.parse(result.stdout) as Manifest;
    expect(schemaErrors('manifest', manifest)).toEqual([]);
    const dropinDir = '/etc/systemd/system/systemd-sysupdate.service.d';
    expect(manifest.sysupdate).toEqual({
      sysexts: ['hello'],
      timer: '/etc/systemd/system/timers.target.wants/systemd-sysupdate.timer -> /usr/lib/systemd/system/systemd-sysupdate.timer',
      files: ['/etc/sysupdate.d/noop.conf', `${dropinDir}/hello.conf`, `${dropinDir}/sysext.conf`],
    });
    const image = path.join(output, 'flatcar_production_image.bin');
    await withReadOnlyPartition(image, 9, 'ext4', async (dir, owner) => {
      expect(await readlink(path.join(dir, 'etc/systemd/system/timers.target.wants/systemd-sysupdate.timer'))).toBe('/usr/lib/systemd/system/systemd-sysupdate.timer');
      // The bakery's noop.conf (its Source part, as the bakery's release script wrote it in 897d56f).
      expect(await readFile(path.join(dir, 'etc/sysupdate.d/noop.conf'), 'utf8')).toMatch(/^\[Source\]\nType=regular-file\nPath=\/\nMatchPattern=invalid@v\.raw\n/);
      const dropin = await readFile(path.join(dir, dropinDir.slice(1), 'hello.conf'), 'utf8');
      expect(dropin).toContain('ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C hello update\n');
      expect(await readFile(path.join(dir, dropinDir.slice(1), 'sysext.conf'), 'utf8')).toBe('[Service]\nExecStartPost=systemctl restart systemd-sysext\n');
      for (const file of ['etc/sysupdate.d/noop.conf', `${dropinDir.slice(1)}/hello.conf`]) {
        expect(await owner(file)).toEqual({ uid: 0, gid: 0, mode: 0o644 });
      }
    });
    // The same wiring as Ignition for the image, from its manifest: the same drop-in text.
    const butane = await runCli(['butane', '--for-image', path.join(output, 'flatbake-manifest.json')]);
    expect(butane.exitCode, butane.stderr).toBe(0);
    const config = parseYaml(butane.stdout) as { systemd: { units: Array<{ name: string; dropins?: Array<{ name: string; contents: string }> }> } };
    await withReadOnlyPartition(image, 9, 'ext4', async (dir) => {
      const dropins = config.systemd.units.find((u) => u.name === 'systemd-sysupdate.service')!.dropins!;
      for (const d of dropins) expect(await readFile(path.join(dir, dropinDir.slice(1), d.name), 'utf8')).toBe(d.contents);
    });
  });

  it('--sysupdate refuses a sysext without NAME.conf and writes nothing', async () => {
    const output = path.join(scratch, 'sysupdate-noconf');
    const src = path.join(scratch, 'noconf-src');
    await execa('mkdir', ['-p', src]);
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!;
    await execa('cp', [hello.file, path.join(src, 'hello-1.0.0-x86-64.raw')]);
    const result = await runCli([...served.args({ output, cacheDir: path.join(scratch, 'cache') }), '--sysupdate', `hello:${path.join(src, 'hello-1.0.0-x86-64.raw')}`]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/flatbake: error: --sysupdate: no sysupdate transfer \(NAME\.conf\) for hello\nflatbake: hint: /);
    expect(await readdir(output)).toEqual([]);
  });
});
