import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, needsRoot, runCli, type CliResult } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

/**
 * Every failure a user can provoke ends in one `flatbake: error:` line and a `hint:` line, exit
 * status 1, and leaves nothing behind: no work dir in --output, no decompression in the cache.
 * Each case is one that ended in Node's own uncaught-exception dump (or exit status 13) before.
 */

/** Everything under `dir`, relative, recursively (empty when it does not exist). */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.map(String).sort();
}

function expectCleanError(r: CliResult, message: RegExp): void {
  const lines = r.stderr.split('\n');
  const errors = lines.filter((l) => l.startsWith('flatbake: error:'));
  expect(errors, r.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  expect(lines.some((l) => l.startsWith('flatbake: hint:')), r.stderr).toBe(true);
  // Neither Node's uncaught-exception dump nor the "report the stack trace" fallback.
  expect(r.stderr).not.toMatch(/Node\.js v\d|^\s+at |this is unexpected/m);
  expect(r.exitCode).toBe(1);
}

describe('clean failures: one error line, a hint, nothing left behind', () => {
  let served: ServedRelease;
  let scratch: string;
  let sysext: string;
  let n = 0;
  const fresh = () => path.join(scratch, `run-${++n}`);
  const releaseDir = () => path.relative(served.release.root, served.release.releaseDir).split(path.sep).join('/');

  beforeAll(async () => {
    served = await serveSyntheticRelease();
    // The served release's own scratch dir: close() removes it with everything written there.
    scratch = served.dir;
    sysext = served.release.sysexts.find((s) => s.name === 'hello')!.file;
  });
  afterEach(() => served.server.clearFaults());
  afterAll(async () => {
    await served?.close();
  });

  /** Bakes with a cache and an output of its own; both must hold nothing of the failed run. */
  async function failingBake(extra: string[], message: RegExp): Promise<CliResult> {
    const dir = fresh();
    const output = path.join(dir, 'out');
    const cache = path.join(dir, 'cache');
    const r = await runCli([...served.args({ output, cacheDir: cache }), '--retries', '0', ...extra, `hello:${sysext}`]);
    expectCleanError(r, message);
    expect(await tree(output)).toEqual([]);
    expect((await tree(cache)).filter((f) => /decompress-|\.flatbake-work-|\.tmp-/.test(f))).toEqual([]);
    return r;
  }

  it('a release version the server does not have: says which versions exist, downloads nothing', async () => {
    const r = await failingBake(['--release', '4230.2.9'], /release 4230\.2\.9 .*not (in|listed)/);
    expect(r.stderr).toContain(served.release.version);
    expect(served.server.requests.filter((q) => q.path.endsWith('.bz2'))).toEqual([]);
  });

  it('a 404 on the image signature', async () => {
    served.server.setFault(`/${releaseDir()}/flatcar_production_image.bin.bz2.sig`, { kind: 'status', status: 404 });
    await failingBake([], /not found: .*flatcar_production_image\.bin\.bz2\.sig/);
  });

  it('a 404 on version.txt', async () => {
    served.server.setFault(`/${releaseDir()}/version.txt`, { kind: 'status', status: 404 });
    await failingBake([], /not found: .*version\.txt/);
  });

  it('a 403 on the image', async () => {
    served.server.setFault(`/${releaseDir()}/flatcar_production_image.bin.bz2`, { kind: 'status', status: 403 });
    await failingBake([], /HTTP 403 for .*flatcar_production_image\.bin\.bz2/);
  });

  it('a redirect loop on the image', async () => {
    const p = `/${releaseDir()}/flatcar_production_image.bin.bz2`;
    served.server.setFault(p, { kind: 'redirect', location: `${served.server.url}${p}` });
    await failingBake([], /flatcar_production_image\.bin\.bz2.*redirect/i);
  });

  it('a redirect to file:///etc/passwd', async () => {
    served.server.setFault(`/${releaseDir()}/flatcar_production_image.bin.bz2`, { kind: 'redirect', location: 'file:///etc/passwd' });
    await failingBake([], /flatcar_production_image\.bin\.bz2/);
  });

  it('a releases.json whose newest stable does not exist on the server', async () => {
    const index = JSON.parse(await readFile(served.release.files.releasesJson, 'utf8')) as Record<string, unknown>;
    index['99999999999999999999.2.0'] = { ...(index[served.release.version] as object) };
    await writeFile(path.join(served.release.root, 'releases-huge.json'), JSON.stringify(index));
    await failingBake(['--releases-json', `${served.server.url}/releases-huge.json`], /99999999999999999999\.2\.0/);
  });

  it('a corrupt .bz2 (signed as it is): bzip2 error, exit 1, every time', async () => {
    const dir = fresh();
    await mkdir(dir, { recursive: true });
    const bz2 = path.join(dir, 'flatcar_production_image.bin.bz2');
    const good = await readFile(served.release.files.imageBz2);
    // Keep the stream header, damage a block in the middle.
    const bad = Buffer.from(good);
    for (let i = 2000; i < 2400; i++) bad[i] = bad[i]! ^ 0x5a;
    await writeFile(bz2, bad);
    for (let i = 0; i < 3; i++) {
      const output = path.join(dir, `out-${i}`);
      const r = await runCli([...served.args({ output }), '--image', bz2, `hello:${sysext}`]);
      expectCleanError(r, /bz|decompress/i);
      expect(await tree(output)).toEqual([]);
    }
  });

  it('a sysext built for another OS or architecture is refused, naming the field', async () => {
    const dir = fresh();
    for (const [name, release] of [['fed', 'ID=fedora\nVERSION_ID=41\n'], ['arm', 'ID=_any\nARCHITECTURE=arm64\n']] as const) {
      const tree = path.join(dir, name);
      await mkdir(path.join(tree, 'usr/lib/extension-release.d'), { recursive: true });
      await writeFile(path.join(tree, `usr/lib/extension-release.d/extension-release.${name}`), release);
      await execa('mksquashfs', [tree, path.join(dir, `${name}.raw`), '-noappend', '-quiet', '-no-progress', '-all-root']);
    }
    const output = path.join(dir, 'out');
    const fed = await runCli([...served.args({ output }), `fed:${path.join(dir, 'fed.raw')}`]);
    expectCleanError(fed, /sysext 'fed' does not fit this image: .*ID=fedora, but the image is ID=flatcar/);
    const arm = await runCli([...served.args({ output }), `arm:${path.join(dir, 'arm.raw')}`]);
    expectCleanError(arm, /sysext 'arm' does not fit this image: .*ARCHITECTURE=arm64, but the image is x86-64/);
    expect(await tree(output)).toEqual([]);
  });

  it('--output naming a file', async () => {
    const dir = fresh();
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'hostname');
    await writeFile(file, 'host\n');
    const r = await runCli([...served.args({ output: file }), `hello:${sysext}`]);
    expectCleanError(r, /--output .*hostname is not a directory/);
    expect(await readFile(file, 'utf8')).toBe('host\n');
  });

  it.skipIf(!isRoot)(`ENOSPC while downloading: names the directory and the cause${needsRoot('to mount a small tmpfs')}`, async () => {
    const dir = fresh();
    const cache = path.join(dir, 'cache');
    await mkdir(cache, { recursive: true });
    // Room for the small files, not for the image.
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'flatbake-test-full', cache]);
    try {
      const output = path.join(dir, 'out');
      const r = await runCli([...served.args({ output, cacheDir: cache }), '--retries', '0', `hello:${sysext}`]);
      expectCleanError(r, /no space left on device/i);
      expect(await tree(output)).toEqual([]);
    } finally {
      await execa('umount', [cache]);
    }
  });

  it('a read-only cache costs only caching: warns and bakes', async () => {
    const dir = fresh();
    const cache = path.join(dir, 'cache');
    await mkdir(cache, { recursive: true });
    // Root ignores mode bits: make the cache a read-only bind mount then.
    if (isRoot) {
      await execa('mount', ['--bind', cache, cache]);
      await execa('mount', ['-o', 'remount,bind,ro', cache]);
    } else {
      await chmod(cache, 0o555);
    }
    try {
      const output = path.join(dir, 'out');
      const r = await runCli([...served.args({ output, cacheDir: cache }), `hello:${sysext}`]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warning: .*cache .*cannot be written/i);
      expect(await tree(output)).toEqual(['flatbake-manifest.json', 'flatcar_production_image.bin']);
      expect(await tree(cache)).toEqual([]);
    } finally {
      if (isRoot) await execa('umount', [cache]);
      else await chmod(cache, 0o755);
    }
  });
});
