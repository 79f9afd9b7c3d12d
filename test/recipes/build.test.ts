/**
 * buildRecipe end to end: variants, caches, resumed downloads, and the ways a build fails
 * (each leaves nothing under the output name).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { InputError, NetworkError, VerificationError } from '../../src/errors.js';
import { buildRecipe, getRecipe, type Recipe } from '../../src/recipes/index.js';
import { quietReporter } from '../../src/util/report.js';
import { FIXTURES, type Expectation } from './fixtures.js';
import { elf, Upstream } from './upstream.js';
import { verifyImage } from './verify.js';

let work: string;
let upstream: Upstream;
let server: StaticServer;
let dockerX86: Expectation;
let containerdX86: Expectation;
let kubernetesX86: Expectation;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-recipe-build-'));
  upstream = new Upstream(path.join(work, 'mirror'));
  dockerX86 = await FIXTURES.docker!.publish(upstream, 'x86-64');
  containerdX86 = await FIXTURES.containerd!.publish(upstream, 'x86-64');
  kubernetesX86 = await FIXTURES.kubernetes!.publish(upstream, 'x86-64');
  await FIXTURES.wasmtime!.publish(upstream, 'x86-64');
  server = await serveStatic(upstream.root);
});

afterAll(async () => {
  await server?.close();
  await upstream?.cleanup();
  await rm(work, { recursive: true, force: true });
});

let outputs = 0;
const freshOutput = () => path.join(work, 'out', String(++outputs));
const base = () => ({ mirror: server.url, report: quietReporter, sourceDateEpoch: 0, retries: 1 });
const requestsFor = (part: string) => server.requests.filter((r) => r.path.includes(part));

describe('docker variants', () => {
  it('only-docker ships docker without containerd and runc, and no containerd unit', async () => {
    const out = freshOutput();
    const result = await buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: out, cache: new Cache(undefined), variant: 'only-docker' });
    await verifyImage(result.path, 'docker', 'x86-64', {
      ...dockerX86,
      files: { 'usr/bin/docker': 0o755, 'usr/bin/dockerd': 0o755, 'usr/bin/docker-init': 0o755, 'usr/bin/docker-proxy': 0o755, 'usr/lib/systemd/system/docker.service': 0o644, 'usr/lib/systemd/system/docker.socket': 0o644 },
      absent: ['usr/bin/containerd', 'usr/bin/runc', 'usr/bin/ctr', 'usr/bin/containerd-shim-runc-v2', 'usr/lib/systemd/system/containerd.service', 'usr/share/containerd'],
      lines: { 'usr/lib/systemd/system/docker.socket': ['ListenStream=/run/docker.sock'] },
      upholds: [['sockets.target', 'docker.socket']],
    });
  });

  it('only-containerd ships containerd and runc without docker', async () => {
    const out = freshOutput();
    const result = await buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: out, cache: new Cache(undefined), variant: 'only-containerd' });
    await verifyImage(result.path, 'docker', 'x86-64', {
      ...dockerX86,
      files: { 'usr/bin/containerd': 0o755, 'usr/bin/runc': 0o755, 'usr/bin/ctr': 0o755, 'usr/lib/systemd/system/containerd.service': 0o644, 'usr/share/containerd/config.toml': 0o644 },
      contents: {},
      lines: { 'usr/lib/systemd/system/containerd.service': ['LimitNOFILE=1048576'] },
      absent: ['usr/bin/docker', 'usr/bin/dockerd', 'usr/lib/systemd/system/docker.service', 'usr/lib/systemd/system/docker.socket'],
      upholds: [['multi-user.target', 'containerd.service']],
    });
  });
});

describe('caching', () => {
  it('serves a rebuild from the image cache without any request, and a variant from the download cache', async () => {
    const cache = new Cache(path.join(work, 'cache-1'));
    const first = await buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: freshOutput(), cache });
    expect(first.cached).toBe(false);
    const before = server.requests.length;
    const again = await buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: freshOutput(), cache });
    expect(again).toMatchObject({ cached: true, sha256: first.sha256, size: first.size });
    // What the image was made from survives the cache (the bake's manifest records it).
    expect(again.inputs).toEqual(first.inputs);
    expect(again.inputs.length).toBeGreaterThan(0);
    expect(server.requests.length).toBe(before);
    // A rebuild (bake --replay) skips the image cache to fetch what it checks, and is told the inputs first.
    let told: unknown;
    const rebuilt = await buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: freshOutput(), cache, rebuild: true, checkInputs: (i) => (told = i) });
    expect(rebuilt.cached).toBe(false);
    expect(told).toEqual(rebuilt.inputs);
    expect(rebuilt.sha256).toBe(first.sha256);
    await expect(
      buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: freshOutput(), cache, rebuild: true, checkInputs: () => { throw new Error('refused'); } }),
    ).rejects.toThrow('refused');
    // The output is a copy: changing it must not change what the cache hands out next time.
    await writeFile(again.path, 'scribbled');
    const third = await buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: freshOutput(), cache });
    expect(third.sha256).toBe(first.sha256);
    await verifyImage(third.path, 'docker', 'x86-64', dockerX86);

    // Another variant is another image, but the same upstream tarball (same URL, no new download).
    const variant = await buildRecipe({ ...base(), recipe: 'docker', version: '27.3.1', arch: 'x86-64', outputDir: freshOutput(), cache, variant: 'only-docker' });
    expect(variant.cached).toBe(false);
    expect(variant.sha256).not.toBe(first.sha256);
    expect(server.requests.length).toBe(before);
  });

  it('keys images by the resolved "latest" dependency too: a new CNI release is a new image', async () => {
    const cache = new Cache(path.join(work, 'cache-5'));
    const latest = 'https://api.github.com/repos/containernetworking/plugins/releases/latest';
    const first = await buildRecipe({ ...base(), recipe: 'kubernetes', version: 'v1.31.1', arch: 'x86-64', outputDir: freshOutput(), cache });
    expect((await buildRecipe({ ...base(), recipe: 'kubernetes', version: 'v1.31.1', arch: 'x86-64', outputDir: freshOutput(), cache })).cached).toBe(true);
    const cni = 'https://github.com/containernetworking/plugins/releases/download/v1.6.0/cni-plugins-linux-amd64-v1.6.0.tgz';
    const tgz = await upstream.tar(cni, 'gz', { bridge: elf('x86-64', 'bridge 1.6') }, ['.']);
    await upstream.sums(`${cni}.sha256`, { 'cni-plugins-linux-amd64-v1.6.0.tgz': tgz });
    const previous = await readFile(upstream.pathOf(latest));
    await upstream.file(latest, JSON.stringify({ tag_name: 'v1.6.0' }));
    try {
      const next = await buildRecipe({ ...base(), recipe: 'kubernetes', version: 'v1.31.1', arch: 'x86-64', outputDir: freshOutput(), cache });
      expect(next.cached).toBe(false);
      expect(next.sha256).not.toBe(first.sha256);
      expect(next.inputs.map((i) => i.url)).toContain(cni);
    } finally {
      await upstream.file(latest, previous);
    }
  });

  it('reuses a verified download (same URL, same published digest) for another image', async () => {
    const cache = new Cache(path.join(work, 'cache-2'));
    const first = await buildRecipe({ ...base(), recipe: 'containerd', version: '1.7.23', arch: 'x86-64', outputDir: freshOutput(), cache, options: { 'runc-version': 'v1.1.14' } });
    expect(first.inputs.every((i) => i.verified)).toBe(true);
    const runcRequests = requestsFor('/runc.amd64').length;
    // Another option value: a new image, but runc (same URL, same published digest) comes from the cache.
    await buildRecipe({ ...base(), recipe: 'containerd', version: '1.7.23', arch: 'x86-64', outputDir: freshOutput(), cache });
    expect(requestsFor('/runc.amd64').length).toBe(runcRequests);
  });
});

describe('downloads', () => {
  it('resumes, in the next run, a download an earlier run lost midway (its .part is kept in the cache dir)', async () => {
    const version = '25.0.4';
    const url = `https://github.com/bytecodealliance/wasmtime/releases/download/v${version}/wasmtime-v${version}-x86_64-linux.tar.xz`;
    // Incompressible payload, so the archive is large enough to be cut in the middle.
    await upstream.tar(url, 'xz', { [`wasmtime-v${version}-x86_64-linux/wasmtime`]: Buffer.concat([elf('x86-64', 'w'), randomBytes(1 << 20)]) });
    const urlPath = `/${new URL(url).host}${new URL(url).pathname}`;
    const cache = new Cache(path.join(work, 'cache-3'));
    server.setFault(urlPath, { kind: 'drop-after', bytes: 512 * 1024, times: 1 });
    const lost = await buildRecipe({ ...base(), retries: 0, recipe: 'wasmtime', version, arch: 'x86-64', outputDir: freshOutput(), cache }).then(() => undefined, (e: unknown) => e);
    expect(lost).toBeInstanceOf(NetworkError);
    const result = await buildRecipe({ ...base(), recipe: 'wasmtime', version, arch: 'x86-64', outputDir: freshOutput(), cache });
    expect(result.cached).toBe(false);
    const resumed = requestsFor(urlPath).filter((r) => r.range !== undefined);
    expect(resumed.length).toBe(1);
    expect(resumed[0]).toMatchObject({ status: 206 });
    expect(Number(/^bytes=(\d+)-$/.exec(resumed[0]!.range!)?.[1])).toBeGreaterThan(0);
  });
});

describe('failures', () => {
  async function failure(promise: Promise<unknown>): Promise<Error> {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }

  it('an unknown recipe is an InputError listing the known ones', async () => {
    const out = freshOutput();
    const error = await failure(buildRecipe({ ...base(), recipe: 'podman', version: '5.0.0', arch: 'x86-64', outputDir: out, cache: new Cache(undefined) }));
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).hint).toContain('docker-compose');
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });

  it('an architecture the recipe does not offer is an InputError', async () => {
    const x86Only: Recipe = { ...getRecipe('wasmtime'), arches: { 'x86-64': 'x86_64' } };
    const out = freshOutput();
    const error = await failure(buildRecipe({ ...base(), recipe: x86Only, version: '25.0.1', arch: 'aarch64', outputDir: out, cache: new Cache(undefined) }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toBe('recipe wasmtime does not offer arm64');
    expect(server.requests.some((r) => r.path.includes('aarch64'))).toBe(false);
  });

  it('a version the upstream does not have is a NetworkError naming the URL', async () => {
    const out = freshOutput();
    const error = await failure(buildRecipe({ ...base(), recipe: 'kubernetes', version: 'v1.99.0', arch: 'x86-64', outputDir: out, cache: new Cache(undefined) }));
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.message).toMatch(/^not found: http:\/\/127\.0\.0\.1:\d+\/dl\.k8s\.io\/v1\.99\.0\/bin\/linux\/amd64\/kube\w+\.sha256$/);
    expect(await readdir(out)).toEqual([]);
  });

  it('a file that does not match its published checksum is a VerificationError, and is not cached', async () => {
    const url = 'https://dl.k8s.io/v1.31.1/bin/linux/amd64/kubelet';
    const good = await readFile(upstream.pathOf(url));
    await writeFile(upstream.pathOf(url), elf('x86-64', 'tampered kubelet'));
    const cache = new Cache(path.join(work, 'cache-4'));
    const out = freshOutput();
    try {
      const error = await failure(buildRecipe({ ...base(), recipe: 'kubernetes', version: 'v1.31.1', arch: 'x86-64', outputDir: out, cache }));
      expect(error).toBeInstanceOf(VerificationError);
      expect(error.message).toContain('SHA-256 mismatch for kubelet');
      expect(await readdir(out)).toEqual([]);
    } finally {
      await writeFile(upstream.pathOf(url), good);
    }
    // With the right file back, the build works: nothing wrong was kept.
    const result = await buildRecipe({ ...base(), recipe: 'kubernetes', version: 'v1.31.1', arch: 'x86-64', outputDir: out, cache });
    await verifyImage(result.path, 'kubernetes', 'x86-64', kubernetesX86);
  });

  it('a checksum file without the entry is a VerificationError naming it', async () => {
    const sums = 'https://github.com/containerd/containerd/releases/download/v1.7.23/containerd-static-1.7.23-linux-amd64.tar.gz.sha256sum';
    const good = await readFile(upstream.pathOf(sums));
    await writeFile(upstream.pathOf(sums), `${'0'.repeat(64)}  containerd-static-1.7.23-linux-arm64.tar.gz\n`);
    try {
      const error = await failure(buildRecipe({ ...base(), recipe: 'containerd', version: '1.7.23', arch: 'x86-64', outputDir: freshOutput(), cache: new Cache(undefined) }));
      expect(error).toBeInstanceOf(VerificationError);
      expect(error.message).toContain('lists no SHA-256 for containerd-static-1.7.23-linux-amd64.tar.gz');
    } finally {
      await writeFile(upstream.pathOf(sums), good);
    }
  });

  it('an archive without the expected layout names the missing path', async () => {
    const url = 'https://github.com/bytecodealliance/wasmtime/releases/download/v25.0.2/wasmtime-v25.0.2-x86_64-linux.tar.xz';
    await upstream.tar(url, 'xz', { 'renamed-dir/wasmtime': elf('x86-64', 'w') });
    const error = await failure(buildRecipe({ ...base(), recipe: 'wasmtime', version: '25.0.2', arch: 'x86-64', outputDir: freshOutput(), cache: new Cache(undefined) }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toContain('has no wasmtime-v25.0.2-x86_64-linux/wasmtime');
  });

  it('binaries of the wrong architecture fail the image check and leave no output', async () => {
    const url = 'https://github.com/bytecodealliance/wasmtime/releases/download/v25.0.3/wasmtime-v25.0.3-aarch64-linux.tar.xz';
    await upstream.tar(url, 'xz', { 'wasmtime-v25.0.3-aarch64-linux/wasmtime': elf('x86-64', 'wrong arch') });
    const out = freshOutput();
    const error = await failure(buildRecipe({ ...base(), recipe: 'wasmtime', version: '25.0.3', arch: 'arm64', outputDir: out, cache: new Cache(undefined) }));
    expect(error.message).toMatch(/elf-arch .*ELF binary for x86-64, but ARCHITECTURE=arm64/);
    expect(await readdir(out)).toEqual([]);
  });
});
