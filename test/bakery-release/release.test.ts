/**
 * buildRelease end to end against loopback upstreams (the recipe fixtures behind --mirror): a
 * previous release to carry from, the files a release consists of read back as sha256sum and
 * systemd-sysupdate read them, failures that keep what was made, reruns that make only what is
 * missing, and --discover through the mirror.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { InputError } from '../../src/errors.js';
import { buildRelease, ReleaseBuildError, type BuildReleaseOptions, type VersionEntry } from '../../src/bakery-release/index.js';
import { run } from '../../src/util/exec.js';
import type { Reporter } from '../../src/util/report.js';
import { silentProgress } from '../../src/net/progress.js';
import { FIXTURES, type Expectation } from '../recipes/fixtures.js';
import { elf, sha256, Upstream } from '../recipes/upstream.js';
import { verifyImage } from '../recipes/verify.js';
import { githubRelease } from './discover-fixtures.js';
import { matching, parseIni } from './helpers.js';
import { schemaErrors } from '../helpers/schemas.js';
import { COMMAND_SCHEMA_VERSION } from '../../src/cli/json-output.js';

const ARCHES = ['x86-64', 'arm64'] as const;
const BASE_URL = 'https://sysexts.example/releases/latest/download/';
/** Where the previous release is "published"; the mirror serves it from the upstream tree. */
const PREVIOUS_URL = 'https://bakery.example/releases/previous/';

let work: string;
let upstream: Upstream;
let server: StaticServer;
let kubernetes: Record<string, Expectation>;
let wasmtimeVersion: string;
let kubernetesVersion: string;
let previousDir: string;

const entry = (recipe: string, version: string): VersionEntry => ({ recipe, version, origin: 'test' });

function recorder(): Reporter & { steps: string[]; warnings: string[] } {
  const steps: string[] = [];
  const warnings: string[] = [];
  return { steps, warnings, step: (stage, text) => steps.push(`${stage}: ${text}`), warn: (text) => warnings.push(text), result: () => undefined, progress: silentProgress };
}

let dirs = 0;
const fresh = (what: string) => path.join(work, `${what}-${++dirs}`);

function options(extra: Partial<BuildReleaseOptions> & Pick<BuildReleaseOptions, 'outputDir' | 'cache'>): BuildReleaseOptions {
  return { mirror: server.url, report: recorder(), retries: 0, jobs: 2, sourceDateEpoch: 0, baseUrl: BASE_URL, arches: [...ARCHES], ...extra };
}

const requestsSince = (mark: number) => server.requests.slice(mark);
const listing = async (dir: string) => (await readdir(dir)).sort();

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** `sha256sum -c` over the release, as a consumer checks it; returns the names it verified. */
async function sha256sumCheck(dir: string): Promise<string[]> {
  const { stdout } = await run('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dir });
  const lines = stdout.trim().split('\n');
  for (const line of lines) expect(line).toMatch(/: OK$/);
  return lines.map((l) => l.replace(/: OK$/, '')).sort();
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-release-'));
  upstream = new Upstream(path.join(work, 'mirror'));
  kubernetes = {};
  for (const arch of ARCHES) {
    kubernetes[arch] = await FIXTURES.kubernetes!.publish(upstream, arch);
    wasmtimeVersion = (await FIXTURES.wasmtime!.publish(upstream, arch)).version;
  }
  kubernetesVersion = kubernetes['x86-64']!.version;
  server = await serveStatic(upstream.root);

  // The previous release: wasmtime only, built by the code under test, then "published".
  previousDir = path.join(work, 'previous');
  const previous = await buildRelease(options({ versions: [entry('wasmtime', wasmtimeVersion)], outputDir: previousDir, cache: new Cache(path.join(work, 'cache-previous')) }));
  expect(previous.built.map((b) => b.name)).toEqual([`wasmtime-${wasmtimeVersion}-arm64.raw`, `wasmtime-${wasmtimeVersion}-x86-64.raw`]);
  await cp(previousDir, upstream.pathOf(PREVIOUS_URL), { recursive: true });
});

afterAll(async () => {
  await server?.close();
  await upstream?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a release with a previous one to carry from', () => {
  it('carries the previous images (from its URL, through the mirror), builds the rest, and indexes them all', async () => {
    const versionsFile = path.join(work, 'versions.txt');
    await writeFile(versionsFile, `# what the release ships\nwasmtime-${wasmtimeVersion}\n\nkubernetes-${kubernetesVersion}  # newest minor\n`);
    const out = fresh('out');
    const report = recorder();
    const mark = server.requests.length;
    const result = await buildRelease(options({ versionsFile, outputDir: out, previous: PREVIOUS_URL, cache: new Cache(fresh('cache')), report }));

    const k8s = (arch: string) => `kubernetes-${kubernetesVersion}-${arch}.raw`;
    const wasm = (arch: string) => `wasmtime-${wasmtimeVersion}-${arch}.raw`;
    expect(result.built.map((b) => [b.name, b.cached])).toEqual([[k8s('arm64'), false], [k8s('x86-64'), false]]);
    // What `flatbake release --json` prints: this result with its schemaVersion.
    expect(schemaErrors('release', { schemaVersion: COMMAND_SCHEMA_VERSION, ...result })).toEqual([]);
    expect(result.carried.map((c) => [c.name, c.from])).toEqual([[wasm('arm64'), `${PREVIOUS_URL}${wasm('arm64')}`], [wasm('x86-64'), `${PREVIOUS_URL}${wasm('x86-64')}`]]);

    // Exactly the release's files: no temporary names, nothing else.
    const expected = ['Release.md', 'SHA256SUMS', k8s('arm64'), k8s('x86-64'), 'kubernetes-v1.31.conf', 'kubernetes.conf', 'noop.conf', wasm('arm64'), wasm('x86-64'), 'wasmtime.conf'].sort();
    expect(await listing(out)).toEqual(expected);
    expect(result.files).toEqual(expected);

    // SHA256SUMS covers every image, and the real sha256sum agrees with it.
    expect(await sha256sumCheck(out)).toEqual([k8s('arm64'), k8s('x86-64'), wasm('arm64'), wasm('x86-64')].sort());

    // Carried images are the previous release's bytes; the wasmtime upstream was not asked for anything.
    for (const arch of ARCHES) expect((await readFile(path.join(out, wasm(arch)))).equals(await readFile(path.join(previousDir, wasm(arch))))).toBe(true);
    const asked = requestsSince(mark).map((r) => r.path);
    expect(asked.filter((p) => p.includes('bytecodealliance'))).toEqual([]);
    expect(asked.filter((p) => p.startsWith('/bakery.example/')).sort()).toEqual(['SHA256SUMS', wasm('arm64'), wasm('x86-64')].map((f) => `/bakery.example/releases/previous/${f}`).sort());
    for (const arch of ARCHES) expect(asked).toContain(`/dl.k8s.io/${kubernetesVersion}/bin/linux/${arch === 'x86-64' ? 'amd64' : 'arm64'}/kubelet`);

    // The built images are real sysexts with the recipe's content.
    for (const arch of ARCHES) await verifyImage(path.join(out, k8s(arch)), 'kubernetes', arch, kubernetes[arch]!);

    // Every transfer, read back: the keys the bakery writes, and patterns selecting the right images.
    const images = expected.filter((f) => f.endsWith('.raw'));
    const selects: Record<string, Record<string, string[]>> = {};
    for (const conf of expected.filter((f) => f.endsWith('.conf') && f !== 'noop.conf')) {
      const ini = parseIni(await readFile(path.join(out, conf), 'utf8'));
      const recipe = conf.startsWith('kubernetes') ? 'kubernetes' : 'wasmtime';
      expect(ini).toEqual({
        Transfer: { Verify: 'false' },
        Source: { Type: 'url-file', Path: BASE_URL, MatchPattern: ini['Source']!['MatchPattern'] },
        Target: { InstancesMax: '3', Type: 'regular-file', Path: `/opt/extensions/${recipe}`, CurrentSymlink: `/etc/extensions/${recipe}.raw`, MatchPattern: ini['Source']!['MatchPattern'] },
      });
      selects[conf] = Object.fromEntries(ARCHES.map((arch) => [arch, matching(ini['Source']!['MatchPattern']!, arch, images)]));
    }
    expect(selects).toEqual({
      'kubernetes.conf': { 'x86-64': [k8s('x86-64')], arm64: [k8s('arm64')] },
      'kubernetes-v1.31.conf': { 'x86-64': [k8s('x86-64')], arm64: [k8s('arm64')] },
      'wasmtime.conf': { 'x86-64': [wasm('x86-64')], arm64: [wasm('arm64')] },
    });
    const noop = parseIni(await readFile(path.join(out, 'noop.conf'), 'utf8'));
    for (const arch of ARCHES) expect(matching(noop['Source']!['MatchPattern']!, arch, images)).toEqual([]);

    // Release.md: what was built, what was carried, and from where.
    const notes = await readFile(path.join(out, 'Release.md'), 'utf8');
    const section = (title: string) => notes.split(`## ${title}\n`)[1]!.split('\n## ')[0]!;
    for (const arch of ARCHES) {
      expect(section('Built')).toContain(`\`${k8s(arch)}\``);
      expect(section('Carried over')).toContain(`\`${wasm(arch)}\``);
    }
    expect(section('Built')).not.toContain('wasmtime');
    expect(section('Carried over')).not.toContain('kubernetes');
    expect(notes).toContain(PREVIOUS_URL);

    // Progress: one numbered line per image.
    expect(report.steps.filter((s) => /^release: \[\d\/4\] (built|carried over) /.test(s))).toHaveLength(4);
  });

  it('carries from a directory, refuses a damaged image there by name, and a rerun completes the release', async () => {
    const damaged = fresh('previous-copy');
    await cp(previousDir, damaged, { recursive: true });
    const victim = path.join(damaged, `wasmtime-${wasmtimeVersion}-arm64.raw`);
    const good = await readFile(victim);
    await writeFile(victim, Buffer.concat([good.subarray(0, 100), Buffer.from('tampered'), good.subarray(108)]));
    const out = fresh('out');
    const request = options({ versions: [entry('wasmtime', wasmtimeVersion)], outputDir: out, previous: damaged, cache: new Cache(undefined) });

    const error = await failureOf(buildRelease(request));
    expect(error).toBeInstanceOf(ReleaseBuildError);
    expect(error.message.split('\n')[0]).toMatch(new RegExp(`^could not carry over wasmtime ${wasmtimeVersion} for arm64: SHA-256 mismatch for ${victim.replace(/[.]/g, '\\.')}: the previous release's SHA256SUMS says [0-9a-f]{64}, the file has [0-9a-f]{64}$`));
    // The good image is there under its name; the bad one, the index files and temporary names are not.
    expect(await listing(out)).toEqual([`wasmtime-${wasmtimeVersion}-x86-64.raw`]);

    await writeFile(victim, good);
    const result = await buildRelease(request);
    expect(result.carried.map((c) => [c.name, c.from])).toEqual(ARCHES.map((a) => `wasmtime-${wasmtimeVersion}-${a}.raw`).sort().map((n) => [n, path.join(damaged, n)]));
    expect(result.built).toEqual([]);
    expect(await sha256sumCheck(out)).toEqual([`wasmtime-${wasmtimeVersion}-arm64.raw`, `wasmtime-${wasmtimeVersion}-x86-64.raw`]);
    expect(await readFile(path.join(out, 'SHA256SUMS'), 'utf8')).toBe(await readFile(path.join(previousDir, 'SHA256SUMS'), 'utf8'));
  });
});

describe('parallel builds', () => {
  it('builds versions of one recipe that share downloads one after the other until the first is done, then fetch the shared file once', async () => {
    // A second Kubernetes minor: its own binaries, the same CNI plugins tarball as v1.31.1.
    const older = 'v1.30.5';
    for (const bin of ['kubectl', 'kubeadm', 'kubelet']) {
      const url = `https://dl.k8s.io/${older}/bin/linux/amd64/${bin}`;
      await upstream.file(`${url}.sha256`, sha256(await upstream.file(url, elf('x86-64', `${bin} ${older}`))));
    }
    const out = fresh('out');
    const report = recorder();
    const mark = server.requests.length;
    const result = await buildRelease(options({ versions: [entry('kubernetes', kubernetesVersion), entry('kubernetes', older)], arches: ['x86-64'], jobs: 4, outputDir: out, cache: new Cache(fresh('cache')), report }));
    expect(result.built.map((b) => b.name)).toEqual([`kubernetes-${older}-x86-64.raw`, `kubernetes-${kubernetesVersion}-x86-64.raw`]);
    const order = report.steps.filter((s) => /^release: (building|\[\d\/2\] built) /.test(s)).map((s) => s.replace(/ \(.*$/, ''));
    expect(order).toEqual([
      `release: building kubernetes-${kubernetesVersion}-x86-64.raw`,
      `release: [1/2] built kubernetes-${kubernetesVersion}-x86-64.raw`,
      `release: building kubernetes-${older}-x86-64.raw`,
      `release: [2/2] built kubernetes-${older}-x86-64.raw`,
    ]);
    expect(requestsSince(mark).filter((r) => r.path.endsWith('/cni-plugins-linux-amd64-v1.5.1.tgz')).map((r) => r.status)).toEqual([200]);
    expect(result.files.filter((f) => f.endsWith('.conf'))).toEqual(['kubernetes-v1.30.conf', 'kubernetes-v1.31.conf', 'kubernetes.conf', 'noop.conf']);
    expect(await sha256sumCheck(out)).toHaveLength(2);
  });
});

describe('failures and reruns', () => {
  it('a failed build fails the release naming it, keeps the rest, and the rerun builds only the missing image', async () => {
    const out = fresh('out');
    const cache = new Cache(fresh('cache'));
    const kubelet = `/dl.k8s.io/${kubernetesVersion}/bin/linux/arm64/kubelet`;
    const request = options({ versions: [entry('wasmtime', wasmtimeVersion), entry('kubernetes', kubernetesVersion)], outputDir: out, cache });
    server.setFault(kubelet, { kind: 'status', status: 404 });
    let error: Error;
    try {
      error = await failureOf(buildRelease(request));
    } finally {
      server.clearFault(kubelet);
    }
    expect(error).toBeInstanceOf(ReleaseBuildError);
    expect(error.message).toBe(`could not build kubernetes ${kubernetesVersion} for arm64: not found: ${server.url}${kubelet}`);
    expect((error as ReleaseBuildError).failures.map((f) => f.name)).toEqual([`kubernetes-${kubernetesVersion}-arm64.raw`]);
    expect((error as ReleaseBuildError).hint).toContain('only the missing images are made');
    // What was built stays; no transfers, no SHA256SUMS, no Release.md, no temporary names.
    expect(await listing(out)).toEqual([`kubernetes-${kubernetesVersion}-x86-64.raw`, `wasmtime-${wasmtimeVersion}-arm64.raw`, `wasmtime-${wasmtimeVersion}-x86-64.raw`]);
    const before = new Map(await Promise.all((await listing(out)).map(async (f) => [f, (await stat(path.join(out, f))).size] as const)));

    const mark = server.requests.length;
    const result = await buildRelease(request);
    expect(result.built.map((b) => [b.name, b.cached])).toEqual([
      [`kubernetes-${kubernetesVersion}-arm64.raw`, false],
      [`kubernetes-${kubernetesVersion}-x86-64.raw`, true],
      [`wasmtime-${wasmtimeVersion}-arm64.raw`, true],
      [`wasmtime-${wasmtimeVersion}-x86-64.raw`, true],
    ]);
    for (const b of result.built.filter((b) => b.cached)) expect(b.size).toBe(before.get(b.name));
    const asked = requestsSince(mark).map((r) => r.path);
    // Nothing of the images made before was fetched again; the missing one was.
    expect(asked.filter((p) => p.includes('bytecodealliance') || p.includes('/linux/amd64/'))).toEqual([]);
    expect(requestsSince(mark).filter((r) => r.path === kubelet).map((r) => r.status)).toEqual([200]);
    expect(await sha256sumCheck(out)).toHaveLength(4);
    expect(await listing(out)).toContain('Release.md');
  });

  it('a carried image whose download is cut fails the release; the rerun resumes that download', async () => {
    // Carrying does not look inside an image, and a cut needs a body bigger than one TCP write to
    // leave bytes behind: a 1 MiB stand-in under an image's name, in a release of its own.
    const name = `wasmtime-${wasmtimeVersion}-x86-64.raw`;
    const big = randomBytes(1 << 20);
    const releaseUrl = 'https://bakery.example/releases/big/';
    await upstream.file(`${releaseUrl}${name}`, big);
    await upstream.file(`${releaseUrl}SHA256SUMS`, `${sha256(big)}  ${name}\n`);
    const urlPath = `/bakery.example/releases/big/${name}`;
    const out = fresh('out');
    const request = options({ versions: [entry('wasmtime', wasmtimeVersion)], arches: ['x86-64'], outputDir: out, previous: releaseUrl, cache: new Cache(fresh('cache')) });
    server.setFault(urlPath, { kind: 'truncate', bytes: 512 * 1024, times: 1 });
    const error = await failureOf(buildRelease(request));
    expect(error).toBeInstanceOf(ReleaseBuildError);
    expect(error.message).toMatch(new RegExp(`^could not carry over wasmtime ${wasmtimeVersion} for x86-64: truncated download of ${server.url}${urlPath.replace(/[.]/g, '\\.')}`));
    // Neither the image nor its partial download is in the output.
    expect(await listing(out)).toEqual([]);

    const mark = server.requests.length;
    const result = await buildRelease(request);
    expect(result.carried.map((c) => c.name)).toEqual([name]);
    const resumed = requestsSince(mark).filter((r) => r.path === urlPath);
    expect(resumed).toEqual([expect.objectContaining({ status: 206 })]);
    expect(Number(/^bytes=(\d+)-$/.exec(resumed[0]!.range ?? '')?.[1])).toBeGreaterThan(0);
    expect((await readFile(path.join(out, name))).equals(big)).toBe(true);
  });

  it('refuses a bad versions file before doing anything', async () => {
    const versionsFile = path.join(work, 'bad-versions.txt');
    await writeFile(versionsFile, 'wasmtime-25.0.1\npodman-5.0.0\nkubernetes-1.31.1\n');
    const out = fresh('out');
    const mark = server.requests.length;
    const error = await failureOf(buildRelease(options({ versionsFile, outputDir: out, cache: new Cache(undefined) })));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toBe(`${versionsFile} line 2: unknown recipe "podman" in "podman-5.0.0"\n${versionsFile} line 3: "1.31.1" is not a kubernetes version (e.g. kubernetes-v1.31.1)`);
    expect(server.requests.length).toBe(mark);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });
});

describe('--discover', () => {
  it('finds the newest release of each supported minor through the mirror and builds them', async () => {
    const schedule = `schedules:
- endOfLifeDate: "2025-10-28"
  next:
    release: 1.31.2
    targetDate: "2024-10-22"
  previousPatches:
  - release: 1.31.1
    targetDate: "2024-09-11"
  - release: 1.31.0
    targetDate: "2024-08-13"
  release: "1.31"
- endOfLifeDate: "2024-10-28"
  previousPatches:
  - release: 1.28.15
  release: "1.28"
`;
    await upstream.file('https://raw.githubusercontent.com/kubernetes/website/main/data/releases/schedule.yaml', schedule);
    const releases = (repo: string, tags: Array<[string, boolean?]>) => upstream.file(`https://api.github.com/repos/${repo}/releases`, JSON.stringify(tags.map(([t, pre]) => githubRelease(repo, t, { prerelease: pre ?? false }))));
    await releases('k3s-io/k3s', [['v1.31.2-rc1+k3s1', true], ['v1.31.1+k3s1'], ['v1.28.15+k3s1'], ['v1.31.0+k3s1']]);
    await releases('cri-o/cri-o', [['v1.31.1'], ['v1.28.9']]);
    await releases('rancher/rke2', [['v1.31.1+rke2r1'], ['v1.31.1-rc1+rke2r1', true]]);
    const versions: Record<string, string> = { kubernetes: kubernetesVersion };
    for (const recipe of ['crio', 'k3s', 'rke2']) versions[recipe] = (await FIXTURES[recipe]!.publish(upstream, 'x86-64')).version;

    const out = fresh('out');
    const mark = server.requests.length;
    const result = await buildRelease(options({ discover: true, now: new Date('2024-11-05T00:00:00Z'), arches: ['amd64'], outputDir: out, cache: new Cache(undefined) }));

    expect(result.versions.map((v) => [v.recipe, v.version])).toEqual([
      ['kubernetes', versions['kubernetes']],
      ['k3s', versions['k3s']],
      ['crio', versions['crio']],
      ['rke2', versions['rke2']],
    ]);
    expect(result.versions.every((v) => v.origin.startsWith('discovered ('))).toBe(true);
    const images = result.built.map((b) => b.name);
    expect(images).toEqual([`crio-${versions['crio']}-x86-64.raw`, `k3s-${versions['k3s']}-x86-64.raw`, `kubernetes-${versions['kubernetes']}-x86-64.raw`, `rke2-${versions['rke2']}-x86-64.raw`]);
    expect(await sha256sumCheck(out)).toEqual(images);

    // A per-minor stream for each distribution, selecting its image.
    const minorStreams = result.files.filter((f) => /-v?1\.31\.conf$/.test(f));
    expect(minorStreams).toEqual(['crio-1.31.conf', 'k3s-v1.31.conf', 'kubernetes-v1.31.conf', 'rke2-v1.31.conf']);
    for (const conf of minorStreams) {
      const ini = parseIni(await readFile(path.join(out, conf), 'utf8'));
      const recipe = conf.replace(/-v?1\.31\.conf$/, '');
      expect(matching(ini['Source']!['MatchPattern']!, 'x86-64', images), conf).toEqual([images.find((i) => i.startsWith(`${recipe}-`))]);
    }

    // Everything came through the mirror: the schedule and one page of each project's releases.
    const asked = requestsSince(mark).map((r) => r.path);
    expect(asked).toContain('/raw.githubusercontent.com/kubernetes/website/main/data/releases/schedule.yaml');
    for (const repo of ['k3s-io/k3s', 'cri-o/cri-o', 'rancher/rke2']) expect(asked).toContain(`/api.github.com/repos/${repo}/releases`);
  });
});
