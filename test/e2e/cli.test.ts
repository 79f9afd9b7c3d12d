import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic } from '../../src/demo/server.js';
import { readJson, runCli, runCliUnprivileged } from '../helpers/cli.js';
import { leftovers, withReadOnlyPartition } from '../helpers/disk.js';
import { copyTree, serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import type { Manifest } from '../../src/bake/manifest.js';

describe('command line basics', () => {
  it('prints the version and help that teaches', async () => {
    const version = await runCli(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await runCli(['bake', '--help']);
    expect(help.exitCode).toBe(0);
    for (const option of ['--fetch', '--vendor', '--arch', '--release', '--install-to', '--output', '--release-server', '--releases-json', '--signing-key', '--bakery-url', '--mirror', '--image', '--cache-dir', '--no-cache', '--json']) {
      expect(help.stdout).toContain(option);
    }
    expect(help.stdout).toContain('Examples:');
    const top = await runCli(['--help']);
    for (const command of ['vendors', 'inspect', 'doctor', 'demo', 'sysext', 'release', 'butane', 'flix', 'flatwrap', 'oci-rootfs', 'convert-torcx']) {
      expect(top.stdout).toContain(command);
    }
  });

  it('exits 2 on an unknown option', async () => {
    const r = await runCli(['--no-such-option', 'x:y.raw']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown option/);
  });

  it('release without --versions or --discover is a usage error', async () => {
    const r = await runCli(['release', '--output', '/nonexistent-flatbake-test']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('flatbake: error: give --versions <file>, --discover, or both');
  });

  it('butane prints YAML by default and Ignition 3.3.0 with --ignition', async () => {
    // A bakery of one image on 127.0.0.1: SHA256SUMS, the image's transfer and noop.conf.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-cli-butane-'));
    const digest = 'd'.repeat(64);
    await writeFile(path.join(dir, 'SHA256SUMS'), `${digest}  wasmtime-24.0.0-x86-64.raw\n`);
    await writeFile(path.join(dir, 'wasmtime.conf'), '[Transfer]\nVerify=false\n');
    await writeFile(path.join(dir, 'noop.conf'), '[Source]\nType=regular-file\n');
    const server = await serveStatic(dir);
    try {
      const yaml = await runCli(['butane', 'wasmtime:wasmtime-24.0.0-x86-64.raw', '--sysupdate', '--base-url', server.url]);
      expect(yaml.exitCode, yaml.stderr).toBe(0);
      expect(yaml.stdout).toMatch(/^variant: flatcar$/m);
      const ign = await runCli(['butane', 'wasmtime:wasmtime-24.0.0-x86-64.raw', '--ignition', '--base-url', server.url]);
      expect(ign.exitCode, ign.stderr).toBe(0);
      const config = JSON.parse(ign.stdout);
      expect(config.ignition.version).toBe('3.3.0');
      expect(config.storage.links).toContainEqual(expect.objectContaining({ path: '/etc/extensions/wasmtime.raw' }));
      expect(config.storage.files[0].contents.verification).toEqual({ hash: `sha256-${digest}` });
      expect((await runCli(['butane', 'a/b:x.raw'])).exitCode).toBe(2);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('doctor names every host tool with its package and purpose', async () => {
    const r = await runCli(['doctor', '--json', '--backend', 'mount']);
    const report = JSON.parse(r.stdout) as { tools: Array<{ command: string; package: string; purpose: string }> };
    const commands = report.tools.map((t) => t.command);
    for (const tool of ['losetup', 'mount', 'gpg', 'lbzip2', 'bzip2', 'mkfs.ext4', 'mkfs.btrfs', 'mkfs.vfat', 'mcopy', 'mksquashfs', 'mkfs.erofs', 'qemu-img', 'sgdisk']) {
      expect(commands).toContain(tool);
    }
    for (const t of report.tools) expect(t.package && t.purpose).toBeTruthy();
    // The default (offline) backend's tools, btrfs-progs' btrfs and fakeroot among them, each listed once.
    for (const tool of ['debugfs', 'e2fsck', 'resize2fs', 'btrfs', 'fakeroot']) expect(commands.filter((c) => c === tool)).toEqual([tool]);
    expect(report.tools.find((t) => t.command === 'btrfs')?.package).toBe('btrfs-progs');
    // losetup is the mount backend's: listed when doctor checks that backend.
    const text = await runCli(['doctor', '--backend', 'mount']);
    expect(text.stdout).toMatch(/found\s+losetup\s+mount/);
  });
});

describe('air-gapped, unverified and unprivileged runs', () => {
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

  it('--mirror alone fetches every default URL as <mirror>/HOST/PATH', async () => {
    const { release } = served;
    const m = path.join(scratch, 'mirror');
    await copyTree(path.join(release.root, release.channel), path.join(m, `${release.channel}.release.flatcar-linux.net`));
    await mkdir(path.join(m, 'www.flatcar.org/releases-json'), { recursive: true });
    await copyTree(release.files.releasesJson, path.join(m, 'www.flatcar.org/releases-json/releases.json'));
    await mkdir(path.join(m, 'www.flatcar.org/security/image-signing-key'), { recursive: true });
    await copyTree(release.keyFile, path.join(m, 'www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc'));
    await copyTree(release.files.extensionsDir, path.join(m, 'extensions.flatcar.org/extensions'));
    const mirror = await serveStatic(m);
    try {
      const output = path.join(scratch, 'mirrored');
      const hello = path.basename(release.sysexts.find((s) => s.name === 'hello')!.file);
      const r = await runCli(['--mirror', `${mirror.url}/`, '--no-cache', '--output', output, '--fetch', `hello:${hello}`]);
      expect(r.exitCode, r.stderr).toBe(0);
      const paths = mirror.requests.map((q) => q.path);
      expect(paths).toContain('/www.flatcar.org/releases-json/releases.json');
      expect(paths).toContain(`/stable.release.flatcar-linux.net/amd64-usr/${release.version}/flatcar_production_image.bin.bz2`);
      expect(paths).toContain('/extensions.flatcar.org/extensions/SHA256SUMS');
      expect(mirror.requests.every((q) => q.status === 200 || q.path.endsWith('.conf'))).toBe(true);
      const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
      // The manifest names the canonical URL; the mirror only served it.
      expect(manifest.base.signature.verified).toBe(true);
    } finally {
      await mirror.close();
    }
  });

  it('--insecure-skip-verify warns loudly and says so in the manifest', async () => {
    const output = path.join(scratch, 'insecure');
    const hello = path.basename(served.release.sysexts[0]!.file);
    const r = await runCli([...served.args({ output }), '--insecure-skip-verify', '--signing-key', '/nonexistent.asc', '--fetch', `hello:${hello}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARNING: --insecure-skip-verify: the image and version.txt are NOT signature-checked/);
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.base.signature).toEqual({ verified: false });
  });

  it('with --backend mount, an unprivileged user without sudo is told what to do and nothing is left', async () => {
    const dir = path.join(scratch, 'nobody');
    await mkdir(dir, { recursive: true });
    await chmod(scratch, 0o755);
    await chmod(dir, 0o777);
    await execa('cp', ['--sparse=always', served.release.imagePath, path.join(dir, 'base.bin')]);
    await execa('cp', [served.release.sysexts[0]!.file, path.join(dir, 'hello.raw')]);
    await chmod(path.join(dir, 'base.bin'), 0o644);
    await chmod(path.join(dir, 'hello.raw'), 0o644);
    const output = path.join(dir, 'out');
    const r = await runCliUnprivileged(['--backend', 'mount', '--image', path.join(dir, 'base.bin'), '--no-cache', '--output', output, `hello:${path.join(dir, 'hello.raw')}`], { PATH: '/usr/bin:/bin', HOME: dir });
    expect(r.exitCode).toBe(1);
    const sudoInstalled = (await execa('sh', ['-c', 'command -v sudo'], { reject: false })).exitCode === 0;
    expect(r.stderr).toMatch(sudoInstalled ? /needs root/ : /needs root \(losetup and mount\), and sudo is not installed/);
    expect(r.stderr).toMatch(/hint: run flatbake as root/);
    // Root is asked for first: the output dir is not even created.
    expect(await readdir(output).catch(() => [])).toEqual([]);
    expect(await leftovers(dir)).toEqual({ loops: [], mounts: [] });
  });

  it('flatbake demo bakes offline and says how to look inside', async () => {
    const output = path.join(scratch, 'demo');
    const r = await runCli(['demo', '--output', output]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('flatbake inspect');
    const image = path.join(output, 'flatcar_production_image.bin');
    await withReadOnlyPartition(image, 9, 'ext4', async (dir) => {
      // The demo bakery's hello.conf looks in /opt/extensions/hello (as the real bakery's do).
      expect(await readlink(path.join(dir, 'etc/extensions/hello.raw'))).toMatch(/^\/opt\/extensions\/hello\/hello-1\.0\.0-x86-64\.raw$/);
    });
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.base.signature.verified).toBe(true);
  });
});
