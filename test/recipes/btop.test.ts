/**
 * btop from Alpine: the recipe built end to end from a signed 127.0.0.1 repository (see
 * alpine-repo.ts for what it mirrors and what is stand-in), the wrapped btop run through its
 * flatwrap wrapper; Alpine's shipped keys checked against their pinned digests; and each way a
 * signature or checksum can fail.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { InputError, VerificationError } from '../../src/errors.js';
import { ALPINE_KEYS, alpineKeys, keyDigest } from '../../src/packages/alpine-keys.js';
import { apkClosure, parseApkIndex } from '../../src/packages/alpine.js';
import { buildRecipe } from '../../src/recipes/index.js';
import { quietReporter } from '../../src/util/report.js';
import { bwrapProblem, unsquash } from '../wrap/fixtures.js';
import { BTOP_CLOSURE, buildAlpineRepo, type AlpineRepo } from './alpine-repo.js';
import { verifyImage } from './verify.js';

const bwrapSkip = await bwrapProblem();
const muslSkip = (await execa('musl-gcc', ['--version'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0 ? undefined : 'musl-gcc (musl-tools) is not installed';

describe('Alpine\'s keys', () => {
  it('the PEM texts carried in the repository match their pinned digests', () => {
    const carried = Object.values(ALPINE_KEYS).flat().filter((k) => k.pem !== undefined);
    expect(carried.map((k) => k.name).sort()).toEqual(['4a6a0840', '5261cecb', '6165ee59'].map((id) => `alpine-devel@lists.alpinelinux.org-${id}.rsa.pub`));
    for (const k of carried) expect(keyDigest(k.pem!, 'sha256'), k.name).toBe(k.digest);
  });

  it('a key fetched from alpinelinux.org/keys must match its pinned digest', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-alpine-keys-'));
    try {
      const fetched: string[] = [];
      const fetchFile = async (url: string) => {
        fetched.push(url);
        await writeFile(path.join(dir, 'key'), '-----BEGIN PUBLIC KEY-----\nnot the key\n-----END PUBLIC KEY-----\n');
        return path.join(dir, 'key');
      };
      await expect(alpineKeys('aarch64', fetchFile)).rejects.toThrow(/Alpine key alpine-devel@lists\.alpinelinux\.org-58199dcc\.rsa\.pub has digest sha512:\w+, not the pinned sha512:e4f9e314/);
      expect(fetched).toEqual(['https://alpinelinux.org/keys/alpine-devel@lists.alpinelinux.org-58199dcc.rsa.pub']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('APKINDEX dependencies', () => {
  it('follow so: and cmd: provides; a dependency nothing provides names who needs it', () => {
    const index = parseApkIndex('C:Q1x=\nP:a\nV:1-r0\nD:so:libb.so.1 !c cmd:d>=2\n\nC:Q1y=\nP:b\nV:2-r0\np:so:libb.so.1=2\n\nC:Q1z=\nP:d\nV:2-r1\np:cmd:d=2-r1\nD:so:libe.so.1\n', 'main');
    expect(() => apkClosure(index, ['a'])).toThrow('d 2-r1 needs so:libe.so.1, which no package of the index provides');
    expect(apkClosure(index, ['b']).map((p) => p.name)).toEqual(['b']);
  });
});

describe.skipIf(muslSkip !== undefined)(`the btop recipe from a signed Alpine repository${muslSkip ? ` (skipped: ${muslSkip})` : ''}`, () => {
  let repo: AlpineRepo;
  let server: StaticServer;
  let out: string;
  beforeAll(async () => {
    repo = await buildAlpineRepo();
    server = await serveStatic(repo.root);
    out = await mkdtemp(path.join(os.tmpdir(), 'flatbake-btop-out-'));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await repo?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });
  const build = (version: string, options: Record<string, string> = { keys: repo.keysDir }) =>
    buildRecipe({ recipe: 'btop', version, arch: 'x86-64', options, mirror: server.url, cache: new Cache(undefined), report: quietReporter, outputDir: out, sourceDateEpoch: 0, retries: 0 });

  it('fetches btop\'s closure from main and community, checks each .apk, and the wrapped btop runs', async () => {
    const result = await build('1.4.4');
    expect(result.inputs.map((i) => i.url).sort()).toEqual(BTOP_CLOSURE.map((p) => `https://dl-cdn.alpinelinux.org/alpine/latest-stable/${p.repo}/x86_64/${p.name}-${p.version}.apk`).sort());
    await verifyImage(result.path, 'btop', 'x86-64', {
      version: '1.4.4', os: '_any', reload: false,
      files: {
        'usr/bin/btop': 0o755,
        'usr/local/btop/usr/bin/btop': 0o755,
        'usr/local/btop/lib/ld-musl-x86_64.so.1': 0o755,
        'usr/local/btop/usr/lib/libgcc_s.so.1': 0o644,
        'usr/local/btop/usr/share/btop/themes/stand-in.theme': 0o644,
      },
      symlinks: { 'usr/local/btop/lib/libc.musl-x86_64.so.1': 'ld-musl-x86_64.so.1', 'usr/local/btop/usr/lib/libstdc++.so.6': 'libstdc++.so.6.0.33' },
      absent: ['usr/sbin', 'usr/local/btop/usr/bin/htop', 'usr/local/btop/.PKGINFO'],
    });
    const tree = await unsquash(result.path, path.join(out, 'tree'));
    const wrapper = await readFile(path.join(tree, 'usr/bin/btop'), 'utf8');
    // ETCMAP=chroot, as the bakery: the root's own /etc, the host's /var and /home.
    expect(wrapper).toContain('(etc: chroot, var: host, home: host)');
    expect(wrapper).not.toContain('--bind /etc /etc');
    // Dynamically linked against the root's musl loader (readelf, not the project's ELF parser).
    expect((await execa('readelf', ['-l', path.join(tree, 'usr/local/btop/usr/bin/btop')])).stdout).toContain('[Requesting program interpreter: /lib/ld-musl-x86_64.so.1]');
    if (bwrapSkip) return console.warn(`btop run skipped: ${bwrapSkip}`);
    const run = await execa(path.join(tree, 'usr/bin/btop'), ['--version'], { env: { FLATWRAP_ROOT: path.join(tree, 'usr/local/btop'), FLATWRAP_SANDBOX: 'bwrap' } });
    expect(run.stdout.trim()).toBe('btop version: 1.4.4 (stand-in, with libstdc++.so.6 and libgcc_s.so.1)');
  }, 120_000);

  it('refuses a version the repository does not serve, naming the one it has', async () => {
    const err = await build('1.3.2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe('Alpine latest-stable has btop 1.4.4-r0, not 1.3.2');
  });

  it('refuses an index signed by a key it does not trust, or whose signature does not match the trusted key of that name', async () => {
    const untrusted = await build('1.4.4', {}).catch((e: unknown) => e);
    expect(untrusted).toBeInstanceOf(VerificationError);
    expect((untrusted as Error).message).toMatch(/^Alpine latest-stable main\/x86_64 APKINDEX is signed by flatbake-tests@flatbake\.invalid-5f0c1a2b\.rsa\.pub, which is not a trusted key \(trusted: alpine-devel@lists\.alpinelinux\.org-4a6a0840\.rsa\.pub/);
    await expect(build('1.4.4', { keys: repo.otherKeysDir })).rejects.toThrow('Alpine latest-stable main/x86_64 APKINDEX: the signature by flatbake-tests@flatbake.invalid-5f0c1a2b.rsa.pub does not match');
  });

  it('refuses a package whose data or control does not match the signed index', async () => {
    const libgcc = repo.pathOf('main/x86_64/libgcc-14.2.0-r6.apk');
    const original = await readFile(libgcc);
    try {
      // The last byte is in the data stream's gzip trailer (its size): the data no longer matches datahash.
      const changed = Buffer.from(original);
      changed[changed.length - 1] = changed[changed.length - 1]! ^ 1;
      await writeFile(libgcc, changed);
      await expect(build('1.4.4')).rejects.toThrow(/libgcc-14\.2\.0-r6\.apk: (its data segment has SHA-256 \w+, its signed control says \w+|damaged gzip stream)/);
      // Another package's bytes under this name: its control is not the one the index lists.
      await writeFile(libgcc, await readFile(repo.pathOf('main/x86_64/musl-1.2.5-r10.apk')));
      await expect(build('1.4.4')).rejects.toThrow(/libgcc-14\.2\.0-r6\.apk: its control segment has checksum Q1\S+, the signed index says Q1/);
    } finally {
      await writeFile(libgcc, original);
    }
  }, 60_000);
});
