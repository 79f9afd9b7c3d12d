import { mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { readJson, runCli } from '../helpers/cli.js';
import { withReadOnlyPartition } from '../helpers/disk.js';
import { copyTree, serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import { FIXTURES } from '../recipes/fixtures.js';
import { elf, sha256, Upstream } from '../recipes/upstream.js';
import { schemaErrors } from '../helpers/schemas.js';
import type { Manifest } from '../../src/bake/manifest.js';

describe('bake builds a recipe sysext it is asked for', () => {
  let served: ServedRelease;
  let scratch: string;
  let mirror: StaticServer;
  let upstream: Upstream;
  let version: string;

  beforeAll(async () => {
    served = await serveSyntheticRelease({ sysexts: [] });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-recipe-dep-'));
    // One air-gapped mirror plays Flatcar's servers and wasmtime's upstream.
    const m = path.join(scratch, 'mirror');
    const { release } = served;
    await copyTree(path.join(release.root, release.channel), path.join(m, `${release.channel}.release.flatcar-linux.net`));
    await mkdir(path.join(m, 'www.flatcar.org/releases-json'), { recursive: true });
    await copyTree(release.files.releasesJson, path.join(m, 'www.flatcar.org/releases-json/releases.json'));
    await mkdir(path.join(m, 'www.flatcar.org/security/image-signing-key'), { recursive: true });
    await copyTree(release.keyFile, path.join(m, 'www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc'));
    upstream = new Upstream(m);
    version = (await FIXTURES.wasmtime!.publish(upstream, 'x86-64')).version;
    mirror = await serveStatic(m);
  });
  afterAll(async () => {
    await mirror?.close();
    await upstream?.cleanup();
    await served?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('builds wasmtime-<version>-x86-64.raw first, says so, bakes it, and reuses the build next time', async () => {
    const fileName = `wasmtime-${version}-x86-64.raw`;
    const cacheDir = path.join(scratch, 'cache');
    const output = path.join(scratch, 'out');
    const r = await runCli(['--mirror', mirror.url, '--cache-dir', cacheDir, '--output', output, `wasmtime:${path.join(scratch, fileName)}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${fileName} does not exist: building it from the wasmtime recipe`);
    const image = path.join(output, 'flatcar_production_image.bin');
    await withReadOnlyPartition(image, 9, 'ext4', async (dir) => {
      expect(await readlink(path.join(dir, 'etc/extensions/wasmtime.raw'))).toBe(`/opt/extensions/${fileName}`);
    });
    const listing = await import('execa').then(({ execa }) =>
      withReadOnlyPartition(image, 9, 'ext4', (dir) => execa('unsquashfs', ['-lln', path.join(dir, 'opt/extensions', fileName)])),
    );
    expect(listing.stdout).toMatch(/usr\/bin\/wasmtime/);
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.sysexts[0]).toMatchObject({ name: 'wasmtime', fileName });

    const before = mirror.requests.length;
    const again = await runCli(['--mirror', mirror.url, '--cache-dir', cacheDir, '--output', path.join(scratch, 'out2'), `wasmtime:${path.join(scratch, fileName)}`]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain(`${fileName}: from the cache`);
    expect(mirror.requests.slice(before).some((q) => q.path.includes('bytecodealliance'))).toBe(false);
  });

  it('refuses a recipe build for another architecture before touching anything', async () => {
    const r = await runCli(['--mirror', mirror.url, '--no-cache', '--output', path.join(scratch, 'out3'), `w:${path.join(scratch, `wasmtime-${version}-arm64.raw`)}`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/is built for arm64, but the image is x86-64/);
  });

  it('--replay builds the recipe sysext again from the recorded inputs, and refuses a changed upstream file', async () => {
    const fileName = `wasmtime-${version}-x86-64.raw`;
    const asked = path.join(scratch, 'replay', fileName);
    const first = path.join(scratch, 'replay-first');
    const r = await runCli(['--mirror', mirror.url, '--no-cache', '--output', first, `wasmtime:${asked}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const recorded = path.join(first, 'flatbake-manifest.json');
    const manifest = await readJson<Manifest>(recorded);
    expect(schemaErrors('manifest', manifest)).toEqual([]);
    // The tarball the fixture published (test/recipes/fixtures.ts wasmtimeRelease), as served.
    const tarballUrl = `https://github.com/bytecodealliance/wasmtime/releases/download/${version}/wasmtime-${version}-x86_64-linux.tar.xz`;
    const tarball = path.join(upstream.root, 'github.com/bytecodealliance/wasmtime/releases/download', version, `wasmtime-${version}-x86_64-linux.tar.xz`);
    expect(manifest.sysexts[0]).toMatchObject({
      name: 'wasmtime',
      fileName,
      source: asked,
      recipe: { name: 'wasmtime', version, arch: 'x86-64', inputs: [{ url: tarballUrl, sha256: sha256(await readFile(tarball)) }] },
    });

    // The recorded settings carry --mirror: only the manifest, the output and --no-cache are given.
    const again = await runCli(['--replay', recorded, '--output', path.join(scratch, 'replay-again'), '--no-cache']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain(`${fileName}: building it again from the wasmtime recipe (--replay)`);
    const replayed = await readJson<Manifest>(path.join(scratch, 'replay-again', 'flatbake-manifest.json'));
    expect(schemaErrors('manifest', replayed)).toEqual([]);
    expect(replayed.sysexts[0]!.recipe).toEqual(manifest.sysexts[0]!.recipe);
    // Same inputs, and create.ts pins every timestamp: the same image, said and recorded (the
    // other case, a build that differs, is test/bake/replay.test.ts's).
    expect(replayed.sysexts[0]!.sha256).toBe(manifest.sysexts[0]!.sha256);
    expect(again.stderr).toContain(`${fileName} rebuilt from the same inputs: the same image (sha256 ${manifest.sysexts[0]!.sha256})`);

    // Upstream republishes the tarball with another binary (wasmtime publishes no checksum file).
    const changed = await upstream.tar(tarballUrl, 'xz', { [`wasmtime-${version}-x86_64-linux/wasmtime`]: elf('x86-64', 'rebuilt upstream') });
    const refusedDir = path.join(scratch, 'replay-refused');
    const refused = await runCli(['--replay', recorded, '--output', refusedDir, '--no-cache']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trimEnd().split('\n').slice(-2)).toEqual([
      `flatbake: error: --replay: ${tarballUrl}, which the wasmtime recipe fetched for the sysext wasmtime, differs from ${recorded}: sha256 ${sha256(changed)}, the manifest recorded ${manifest.sysexts[0]!.recipe!.inputs[0]!.sha256}`,
      expect.stringMatching(/^flatbake: hint: that input changed since the recorded bake; nothing was written/),
    ]);
    expect(refused.stderr).not.toContain('installing wasmtime');
    expect(await readdir(refusedDir).catch(() => [])).toEqual([]);
  });
});
