import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it, vi } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { InputError, NetworkError, VerificationError } from '../../src/errors.js';
import { UnsafeLayerError } from '../../src/oci/apply.js';
import { pullImage } from '../../src/oci/pull.js';
import { COMMAND_SCHEMA_VERSION } from '../../src/cli/json-output.js';
import { schemaErrors } from '../helpers/schemas.js';
import { buildTar } from './helpers/tar-writer.js';
import { blobDataPath, buildIndex, buildManifest, pushImage, registryAvailable, startDockerRegistry, type BuiltIndex, type RunningRegistry } from './helpers/registry.js';
import { recordingReporter } from './helpers/report.js';

const isRoot = process.getuid?.() === 0;

if (!registryAvailable) {
  console.warn('SKIPPED test/oci/registry.test.ts: /usr/bin/docker-registry is missing (apt-get install -y docker-registry)');
}

const base = buildTar([
  { path: 'etc/', type: 'dir' },
  { path: 'etc/os-release', content: 'ID=lower\n' },
  { path: 'etc/alt', type: 'symlink', linkpath: '/usr/bin/tool' },
  { path: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
  { path: 'usr/bin/tool-hard', type: 'hardlink', linkpath: 'usr/bin/tool' },
  { path: 'usr/lib/', type: 'dir' },
  { path: 'lib', type: 'symlink', linkpath: 'usr/lib' },
  { path: 'lib/libold.so', content: 'old lib' },
  { path: 'lib/libkeep.so', content: 'kept lib' },
  { path: 'run/ctl', type: 'fifo', mode: 0o600 },
  { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { path: 'var/cache/old', content: 'stale' },
  { path: 'var/cache/fresh', content: 'fresh' },
  { path: 'gone/deep/file', content: 'x' },
  { path: 'opq/lower', content: 'lower' },
  { path: 'opq/sub/lower', content: 'lower' },
]);
const middle = buildTar([
  { path: 'var/cache/.wh.old', content: '' },
  { path: '.wh.gone', content: '' },
  { path: 'opq/.wh..wh..opq', content: '' },
  { path: 'opq/upper', content: 'upper' },
  { path: 'lib/.wh.libold.so', content: '' },
  { path: 'etc/os-release', content: 'ID=flatbake-test\n' },
]);
const top = buildTar([
  { path: 'usr/share/zstd/hello', content: 'from a zstd layer\n' },
  { path: 'etc/secret', content: 's3cret', mode: 0o600, uid: 1000, gid: 1000 },
]);
const armOnly = buildTar([{ path: 'etc/arch', content: 'arm64\n' }]);

let registry: RunningRegistry;
let multi: BuiltIndex;
let work: string;
let cacheDir: string;

function rootfsDir(name: string): string {
  return join(work, name);
}

/** Nothing but rootfs dirs and the cache in the work dir: the pulls wrote nowhere else. */
function expectOnlyRootfsDirs(allowed: string[]): void {
  expect(readdirSync(work).filter((n) => n !== 'cache').sort()).toEqual([...allowed].sort());
}

describe.skipIf(!registryAvailable)('pulling from a real registry (docker-registry on 127.0.0.1)', () => {
  beforeAll(async () => {
    vi.stubEnv('NO_PROXY', '127.0.0.1,localhost');
    vi.stubEnv('no_proxy', '127.0.0.1,localhost');
    registry = await startDockerRegistry();
    const amd = buildManifest({ arch: 'amd64', layers: [{ tar: base, compression: 'gzip' }, { tar: middle, compression: 'none' }, { tar: top, compression: 'zstd' }] });
    const arm = buildManifest({ arch: 'arm64', layers: [{ tar: armOnly, compression: 'gzip' }] });
    multi = buildIndex([amd, arm], { withAttestation: true });
    await pushImage(registry.base, 'test/multi', '1', multi);
    await pushImage(registry.base, 'library/alpine', '3.20', multi);
    const dockerAmd = buildManifest({ arch: 'amd64', docker: true, layers: [{ tar: base, compression: 'gzip' }, { tar: middle, compression: 'gzip' }] });
    const dockerArm = buildManifest({ arch: 'arm64', docker: true, layers: [{ tar: armOnly, compression: 'none' }] });
    await pushImage(registry.base, 'test/docker', 'list', buildIndex([dockerAmd, dockerArm], { docker: true }));
    await pushImage(registry.base, 'test/docker', 'single', dockerAmd);
    await pushImage(registry.base, 'test/armonly', '1', buildManifest({ arch: 'arm64', layers: [{ tar: armOnly, compression: 'gzip' }] }));
    const hostile = buildTar([
      { path: 'ok', content: 'fine' },
      { path: 'evil', type: 'symlink', linkpath: '../../..' },
      { path: 'evil/escaped', content: 'pwned' },
    ]);
    await pushImage(registry.base, 'test/hostile', '1', buildManifest({ arch: 'amd64', layers: [{ tar: base, compression: 'gzip' }, { tar: hostile, compression: 'gzip' }] }));
    await pushImage(
      registry.base,
      'test/diffid',
      '1',
      buildManifest({ arch: 'amd64', layers: [{ tar: armOnly, compression: 'gzip' }], diffIds: [`sha256:${'0'.repeat(64)}`] }),
    );
    const dotdot = buildTar([{ path: '../escape', content: 'pwned' }]);
    await pushImage(registry.base, 'test/dotdot', '1', buildManifest({ arch: 'amd64', layers: [{ tar: dotdot, compression: 'none' }] }));
    const tamper = buildManifest({ arch: 'amd64', layers: [{ tar: buildTar([{ path: 'tampered', content: 'original content' }]), compression: 'none' }] });
    await pushImage(registry.base, 'test/tamper', '1', tamper);
    // Same size, other bytes: only the digest check can notice.
    const data = blobDataPath(registry.storage, tamper.blobs[1]!.digest);
    const bytes = readFileSync(data);
    bytes[600] = bytes[600]! ^ 0xff;
    writeFileSync(data, bytes);
  });

  afterAll(async () => {
    await registry?.stop();
    vi.unstubAllEnvs();
  });

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'flatbake-pull-'));
    cacheDir = join(work, 'cache');
  });

  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('pulls a multi-arch OCI index for amd64: gzip, tar and zstd layers applied in order', async () => {
    const report = recordingReporter();
    const dir = rootfsDir('amd');
    const result = await pullImage({ ref: `${registry.host}/test/multi:1`, dir, arch: 'x86-64', cache: new Cache(cacheDir), report });

    expect(result.digest).toBe(multi.digest);
    expect(result.manifestDigest).toBe(multi.manifests[0]!.digest);
    expect(result.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(result.layers.map((l) => l.compression)).toEqual(['gzip', 'none', 'zstd']);
    expect(result.layers.map((l) => l.fromCache)).toEqual([false, false, false]);
    expect(result.config.architecture).toBe('amd64');
    // What `flatbake oci-rootfs --json` prints: this result with its schemaVersion.
    expect(schemaErrors('oci-rootfs', { schemaVersion: COMMAND_SCHEMA_VERSION, ...result })).toEqual([]);

    expect(readFileSync(join(dir, 'etc/os-release'), 'utf8')).toBe('ID=flatbake-test\n');
    expect(readFileSync(join(dir, 'usr/share/zstd/hello'), 'utf8')).toBe('from a zstd layer\n');
    // Whiteouts and the opaque directory.
    expect(readdirSync(join(dir, 'var/cache'))).toEqual(['fresh']);
    expect(existsSync(join(dir, 'gone'))).toBe(false);
    expect(readdirSync(join(dir, 'opq'))).toEqual(['upper']);
    expect(readdirSync(join(dir, 'usr/lib')).sort()).toEqual(['libkeep.so']);
    // Links, modes, special files.
    expect(readlinkSync(join(dir, 'lib'))).toBe('usr/lib');
    expect(readlinkSync(join(dir, 'etc/alt'))).toBe('/usr/bin/tool');
    expect(statSync(join(dir, 'usr/bin/tool-hard')).ino).toBe(statSync(join(dir, 'usr/bin/tool')).ino);
    expect(statSync(join(dir, 'usr/bin/tool')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(dir, 'etc/secret')).mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(dir, 'run/ctl')).isFIFO()).toBe(true);
    if (isRoot) {
      expect(lstatSync(join(dir, 'dev/null')).isCharacterDevice()).toBe(true);
      expect(statSync(join(dir, 'etc/secret')).uid).toBe(1000);
    } else {
      expect(report.warnings.some((w) => w.includes('device node dev/null'))).toBe(true);
    }
    expect(report.steps.some((s) => /layer 2\/3 applied: 2 files, .* 3 whiteouts, 1 opaque dirs/.test(s))).toBe(true);
    expectOnlyRootfsDirs(['amd']);
  });

  it('picks arm64/v8 from the same index, and reuses cached layers on a second pull', async () => {
    const cache = new Cache(cacheDir);
    const first = await pullImage({ ref: `${registry.host}/test/multi:1`, dir: rootfsDir('arm'), arch: 'aarch64', cache, report: recordingReporter() });
    expect(first.manifestDigest).toBe(multi.manifests[1]!.digest);
    expect(readdirSync(rootfsDir('arm'))).toEqual(['etc']);
    expect(readFileSync(join(rootfsDir('arm'), 'etc/arch'), 'utf8')).toBe('arm64\n');
    const second = await pullImage({ ref: `${registry.host}/test/multi@${multi.digest}`, dir: rootfsDir('arm2'), arch: 'arm64', cache, report: recordingReporter() });
    expect(second.digest).toBe(multi.digest);
    expect(second.layers.map((l) => l.fromCache)).toEqual([true]);
    expect(readFileSync(join(rootfsDir('arm2'), 'etc/arch'), 'utf8')).toBe('arm64\n');
  });

  it('pulls Docker manifest lists and schema 2 manifests', async () => {
    const list = await pullImage({ ref: `${registry.host}/test/docker:list`, dir: rootfsDir('list'), arch: 'amd64', cache: new Cache(undefined), report: recordingReporter() });
    expect(list.layers.map((l) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);
    expect(readFileSync(join(rootfsDir('list'), 'etc/os-release'), 'utf8')).toBe('ID=flatbake-test\n');
    const armList = await pullImage({ ref: `${registry.host}/test/docker:list`, dir: rootfsDir('list-arm'), arch: 'arm64', cache: new Cache(undefined), report: recordingReporter() });
    expect(armList.layers.map((l) => l.compression)).toEqual(['none']);
    const single = await pullImage({ ref: `${registry.host}/test/docker:single`, dir: rootfsDir('single'), cache: new Cache(undefined), report: recordingReporter() });
    expect(single.digest).toBe(single.manifestDigest);
    expect(readdirSync(rootfsDir('single', )).sort()).toEqual(readdirSync(rootfsDir('list')).sort());
    // Without a cache nothing is left behind but the rootfs dirs.
    expectOnlyRootfsDirs(['list', 'list-arm', 'single']);
  });

  it('--registry takes a Docker Hub name (library/ prefix) to another registry', async () => {
    const result = await pullImage({ ref: 'alpine:3.20', registry: registry.host, dir: rootfsDir('hub'), cache: new Cache(cacheDir), report: recordingReporter() });
    expect(result.image).toBe(`${registry.host}/library/alpine:3.20`);
    expect(readFileSync(join(rootfsDir('hub'), 'etc/os-release'), 'utf8')).toBe('ID=flatbake-test\n');
  });

  it('refuses a blob whose bytes do not match its digest and leaves the directory as it was', async () => {
    mkdirSync(rootfsDir('tampered'));
    const error = await pullImage({ ref: `${registry.host}/test/tamper:1`, dir: rootfsDir('tampered'), cache: new Cache(cacheDir), report: recordingReporter() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerificationError);
    expect((error as Error).message).toMatch(/SHA-256 mismatch for layer 1\/1/);
    expect(readdirSync(rootfsDir('tampered'))).toEqual([]);
  });

  it('refuses a layer that writes through a symlink out of the rootfs; the rootfs is removed', async () => {
    const error = await pullImage({ ref: `${registry.host}/test/hostile:1`, dir: rootfsDir('hostile'), cache: new Cache(cacheDir), report: recordingReporter() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeLayerError);
    expect((error as Error).message).toContain('layer 2/2 sha256:');
    expect((error as Error).message).toContain('entry "evil/escaped"');
    expect(existsSync(rootfsDir('hostile'))).toBe(false);
    expect(existsSync(join(work, 'escaped'))).toBe(false);
    expect(existsSync('/escaped')).toBe(false);
    expectOnlyRootfsDirs([]);
  });

  it('refuses a layer whose uncompressed content does not match the config\'s diff_id', async () => {
    const error = await pullImage({ ref: `${registry.host}/test/diffid:1`, dir: rootfsDir('diffid'), cache: new Cache(undefined), report: recordingReporter() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerificationError);
    expect((error as Error).message).toMatch(/uncompressed content has digest sha256:[0-9a-f]{64}, but the image config says sha256:0{64}/);
    expectOnlyRootfsDirs([]);
  });

  it('stops when the caller aborts, and removes the rootfs', async () => {
    const controller = new AbortController();
    const report = recordingReporter();
    // Abort as soon as the first layer is reported applied.
    const step = report.step;
    report.step = (stage, text) => {
      step(stage, text);
      if (text.startsWith('layer 1/3 applied')) controller.abort(new Error('stop now'));
    };
    await expect(pullImage({ ref: `${registry.host}/test/multi:1`, dir: rootfsDir('aborted'), cache: new Cache(undefined), report, signal: controller.signal })).rejects.toThrow('stop now');
    expectOnlyRootfsDirs([]);
  });

  it('refuses a ../ entry', async () => {
    const error = await pullImage({ ref: `${registry.host}/test/dotdot:1`, dir: rootfsDir('dotdot'), cache: new Cache(cacheDir), report: recordingReporter() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeLayerError);
    expect((error as Error).message).toContain('entry "../escape" contains ".."');
    expectOnlyRootfsDirs([]);
  });

  it('refuses an image built for another architecture, a missing tag, a missing platform and a non-empty directory', async () => {
    const cache = new Cache(undefined);
    const report = recordingReporter();
    await expect(pullImage({ ref: `${registry.host}/test/armonly:1`, dir: rootfsDir('a'), arch: 'x86-64', cache, report })).rejects.toThrow(/is built for linux\/arm64\/v8, not linux\/amd64/);
    await expect(pullImage({ ref: `${registry.host}/test/multi:nope`, dir: rootfsDir('b'), cache, report })).rejects.toThrow(NetworkError);
    await expect(pullImage({ ref: `${registry.host}/test/docker:list`, dir: rootfsDir('b'), arch: 'arm64', cache, report, concurrency: 1 }).then(() => 'ok')).resolves.toBe('ok');
    mkdirSync(rootfsDir('full'));
    writeFileSync(join(rootfsDir('full'), 'x'), '');
    await expect(pullImage({ ref: `${registry.host}/test/multi:1`, dir: rootfsDir('full'), cache, report })).rejects.toThrow(InputError);
    expect(readdirSync(rootfsDir('full'))).toEqual(['x']);
    expectOnlyRootfsDirs(['b', 'full']);
  });
});
