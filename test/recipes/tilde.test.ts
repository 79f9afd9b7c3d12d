/**
 * tilde from Debian bookworm: the Debian repository reader against this machine's real bookworm
 * index (InRelease signed by Debian, checked with Debian's archive keyring), and the recipe built
 * end to end from a signed 127.0.0.1 repository (see debian-repo.ts for what it mirrors and what
 * is stand-in), its flixed tilde run with the image's /usr as the only /usr.
 */
import { execa } from 'execa';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { InputError, VerificationError } from '../../src/errors.js';
import { DEBIAN_ARCHIVE_KEYRING, dependencyClosure, parsePackages, parseRelations, parseReleaseHashes, parseStanzas, upstreamVersion, verifyInRelease } from '../../src/packages/debian.js';
import { buildRecipe } from '../../src/recipes/index.js';
import { quietReporter } from '../../src/util/report.js';
import { bwrapProblem, runInUsrOnlySandbox, unsquash } from '../wrap/fixtures.js';
import { BOOKWORM_TILDE_CLOSURE, buildDebianRepo, type DebianRepo } from './debian-repo.js';
import { sha256 } from './upstream.js';
import { verifyImage } from './verify.js';

const LISTS = '/var/lib/apt/lists';

/** This machine's bookworm InRelease and main/amd64 Packages (as apt stored them), or why not. */
async function hostIndex(): Promise<{ inRelease: string; packages: string } | string> {
  const names = await readdir(LISTS).catch(() => [] as string[]);
  const inRelease = names.find((n) => n.endsWith('_dists_bookworm_InRelease'));
  const packages = names.find((n) => /_dists_bookworm_main_binary-amd64_Packages(\.lz4|\.gz|\.xz)?$/.test(n));
  if (!inRelease || !packages) return `no bookworm InRelease and main amd64 Packages in ${LISTS} (run apt-get update on a Debian 12 host)`;
  const ext = path.extname(packages);
  const tool = { '.lz4': 'lz4', '.gz': 'gzip', '.xz': 'xz' }[ext];
  if (tool && (await execa(tool, ['--version'], { reject: false })).exitCode !== 0) return `${tool} is needed to read ${packages}`;
  if ((await access(DEBIAN_ARCHIVE_KEYRING).then(() => true, () => false)) === false) return `${DEBIAN_ARCHIVE_KEYRING} is missing (debian-archive-keyring)`;
  return { inRelease: path.join(LISTS, inRelease), packages: path.join(LISTS, packages) };
}

const host = await hostIndex();
const hostSkip = typeof host === 'string' ? host : undefined;
const bwrapSkip = await bwrapProblem();
const EXPECTED_CLOSURE = BOOKWORM_TILDE_CLOSURE.map((p) => p.name).sort();

describe('Debian control data', () => {
  it('parses relations: versions, architecture qualifiers and alternatives', () => {
    expect(parseRelations('libc6 (>= 2.34), libgcc-s1 | libgcc1 (>= 1:3.0), perl:any, foo [amd64]')).toEqual([['libc6'], ['libgcc-s1', 'libgcc1'], ['perl'], ['foo']]);
    expect(upstreamVersion('1:2.5.1-4')).toBe('2.5.1');
    expect(upstreamVersion('1.1.2-1')).toBe('1.1.2');
  });

  it('names the package whose dependency nothing satisfies', () => {
    const index = parsePackages('Package: a\nVersion: 1\nDepends: b | c\nFilename: a.deb\nSHA256: 00\n');
    expect(() => dependencyClosure(index, ['a'])).toThrow(/a 1 depends on b \| c, which no package/);
    expect(dependencyClosure(index, ['a'], new Set(['c'])).map((p) => p.name)).toEqual(['a']);
  });
});

describe.skipIf(hostSkip !== undefined)(`this machine's real bookworm index${hostSkip ? ` (skipped: ${hostSkip})` : ''}`, () => {
  it('InRelease is good by Debian\'s archive keyring; Packages matches its SHA256; tilde\'s closure is the 15 packages the fixture mirrors', async () => {
    const { inRelease, packages } = host as { inRelease: string; packages: string };
    const work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-debian-index-'));
    try {
      await execa('cp', [inRelease, path.join(work, 'InRelease')]);
      const release = parseStanzas(await verifyInRelease(path.join(work, 'InRelease'), DEBIAN_ARCHIVE_KEYRING, 'bookworm InRelease'))[0]!;
      expect(release.Codename).toBe('bookworm');
      const tool = { '.lz4': ['lz4', '-dc'], '.gz': ['gzip', '-dc'], '.xz': ['xz', '-dc'] }[path.extname(packages)] ?? ['cat'];
      const text = (await execa(tool[0]!, [...tool.slice(1), packages], { maxBuffer: 512 * 1024 * 1024 })).stdout + '\n';
      const listed = parseReleaseHashes(release).get('main/binary-amd64/Packages');
      expect(listed?.sha256).toBe(sha256(text));
      const index = parsePackages(text);
      const closure = dependencyClosure(index, ['tilde']);
      expect(closure.map((p) => p.name).sort()).toEqual(EXPECTED_CLOSURE);
      // The fixture's stanzas are the real ones (dependencies, file names, versions).
      for (const f of BOOKWORM_TILDE_CLOSURE) {
        const real = index.get(f.name)!;
        expect([real.version, real.filename], f.name).toEqual([f.version, f.filename]);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('a tampered InRelease fails the check', async () => {
    const { inRelease } = host as { inRelease: string };
    const work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-debian-index-'));
    try {
      const text = (await readFile(inRelease, 'utf8')).replace('Codename: bookworm', 'Codename: bookwurm');
      await writeFile(path.join(work, 'InRelease'), text);
      await expect(verifyInRelease(path.join(work, 'InRelease'), DEBIAN_ARCHIVE_KEYRING, 'InRelease')).rejects.toThrow(/BADSIG/);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('the tilde recipe from a signed Debian repository', () => {
  let repo: DebianRepo;
  let server: StaticServer;
  let out: string;
  beforeAll(async () => {
    repo = await buildDebianRepo();
    server = await serveStatic(repo.root);
    out = await mkdtemp(path.join(os.tmpdir(), 'flatbake-tilde-out-'));
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await repo?.cleanup();
    if (out) await rm(out, { recursive: true, force: true });
  });
  const build = (version: string, options: Record<string, string> = { keyring: repo.keyring }) =>
    buildRecipe({ recipe: 'tilde', version, arch: 'x86-64', options, mirror: server.url, cache: new Cache(undefined), report: quietReporter, outputDir: out, sourceDateEpoch: 0, retries: 0 });

  it('fetches the closure (each .deb checked), flixes tilde with its module folders, and the result runs on its own /usr', async () => {
    const result = await build('1.1.2');
    expect(result.inputs.map((i) => i.url).sort()).toEqual(BOOKWORM_TILDE_CLOSURE.map((p) => `https://deb.debian.org/debian/${p.filename}`).sort());
    expect(result.inputs.every((i) => i.verified)).toBe(true);
    await verifyImage(result.path, 'tilde', 'x86-64', {
      version: '1.1.2', os: '_any', reload: false,
      files: {
        'usr/bin/tilde': 0o755,
        'usr/lib/flix-tilde/ld-linux-x86-64.so.2': 0o755,
        'usr/lib/flix-tilde/libt3widget.so.2': 0o644,
        'usr/lib/flix-tilde/libtranscript.so.1': 0o644,
        'usr/lib/flix-tilde/libc.so.6': 0o755,
        'usr/lib/x86_64-linux-gnu/transcript1/libtranscript_iso8859.so': 0o644,
        'usr/lib/x86_64-linux-gnu/libt3widget/libt3widget-x11.so': 0o644,
      },
      absent: ['usr/sbin', 'usr/share/doc'],
    });
    // Read back with readelf (binutils), not the project's ELF parser.
    const tree = await unsquash(result.path, path.join(out, 'tree'));
    const dyn = (await execa('readelf', ['-d', '-l', path.join(tree, 'usr/bin/tilde')])).stdout;
    expect(dyn).toContain('[Requesting program interpreter: /usr/lib/flix-tilde/ld-linux-x86-64.so.2]');
    expect(dyn).toMatch(/\(RPATH\)\s+Library rpath: \[\/usr\/lib\/flix-tilde\]/);
    if (bwrapSkip) return console.warn(`tilde run skipped: ${bwrapSkip}`);
    expect((await runInUsrOnlySandbox(tree, ['/usr/bin/tilde'])).trim()).toBe('tilde stand-in via libt3widget.so.2 and transcript1');
  }, 120_000);

  it('refuses a version the repository does not serve, naming the one it has', async () => {
    const err = await build('1.0.0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe('Debian bookworm has tilde 1.1.2-1, not 1.0.0');
  });

  it('refuses a keyring that does not exist, with one clear error', async () => {
    await expect(build('1.1.2', { keyring: '/nonexistent/keyring.gpg' })).rejects.toThrow('the keyring /nonexistent/keyring.gpg does not exist');
  });

  it('refuses an InRelease not signed by the keyring (here: the real Debian keyring)', async () => {
    const err = await build('1.1.2', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).message).toMatch(/bookworm's InRelease failed its signature check: .*no public key/);
  });

  it('refuses a .deb that does not match its Packages SHA256, and an index missing a dependency', async () => {
    const deb = repo.pathOf('pool/main/libt/libt3key/libt3key1_0.2.10-1_amd64.deb');
    const original = await readFile(deb);
    try {
      await writeFile(deb, Buffer.concat([original, Buffer.from('x')]));
      await expect(build('1.1.2')).rejects.toThrow(/SHA-256 mismatch for libt3key1_0\.2\.10-1_amd64\.deb/);
    } finally {
      await writeFile(deb, original);
    }
    await repo.publish({ omit: ['libtinfo6'] });
    try {
      await expect(build('1.1.2')).rejects.toThrow(/depends on libtinfo6, which no package of the index provides/);
    } finally {
      await repo.publish();
    }
  }, 60_000);
});
