/**
 * An Alpine repository for the btop recipe, served through --mirror as
 * dl-cdn.alpinelinux.org/alpine/latest-stable/{main,community}/x86_64/... (CI cannot reach
 * Alpine's CDN). Shaped after latest-stable (v3.22) as apk-tools 2.x writes it:
 *  - APKINDEX.tar.gz: a signature gzip stream (`.SIGN.RSA.<key>`, RSA PKCS#1 v1.5 over SHA-1 of
 *    the next stream's compressed bytes, tar without end blocks, as abuild-sign makes it), then
 *    DESCRIPTION and APKINDEX; records with C: (Q1 + base64 SHA-1 of the package's control
 *    stream), P: V: A: S: I: T: U: L: o: D: p: fields. btop sits in community, its libraries in
 *    main, with the D:/p: relations of Alpine's packages (btop: so:libc.musl, so:libgcc_s,
 *    so:libstdc++; provides cmd:btop). Version numbers are illustrative of v3.22 (btop 1.4.4-r0,
 *    musl 1.2.5-r10, gcc 14.2.0-r6), not read from the live index.
 *  - each .apk: signature, control (.PKGINFO with datahash = SHA-256 of the data stream), data.
 * STAND-INS: the signing key is an RSA key made here (trusted through the recipe's keys= option);
 * musl's loader is Debian's musl libc (package musl) at Alpine's path /lib/ld-musl-x86_64.so.1;
 * libgcc_s.so.1, libstdc++.so.6 and btop are small programs/libraries built here with musl-gcc
 * (musl-tools), btop printing what it loaded. htop (community) is listed but never needed.
 */
import { execa } from 'execa';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const TEST_KEY = 'flatbake-tests@flatbake.invalid-5f0c1a2b.rsa.pub';
const ALPINE = 'dl-cdn.alpinelinux.org/alpine/latest-stable';

interface StandIn {
  name: string;
  version: string;
  repo: 'main' | 'community';
  depends: string[];
  provides: string[];
  description: string;
  url: string;
  license: string;
  origin: string;
}

export const BTOP_CLOSURE: StandIn[] = [
  { name: 'btop', version: '1.4.4-r0', repo: 'community', depends: ['so:libc.musl-x86_64.so.1', 'so:libgcc_s.so.1', 'so:libstdc++.so.6'], provides: ['cmd:btop=1.4.4-r0'], description: 'Resource monitor', url: 'https://github.com/aristocratos/btop', license: 'Apache-2.0', origin: 'btop' },
  { name: 'musl', version: '1.2.5-r10', repo: 'main', depends: [], provides: ['so:libc.musl-x86_64.so.1=1'], description: 'the musl c library (libc) implementation', url: 'https://musl.libc.org/', license: 'MIT', origin: 'musl' },
  { name: 'libgcc', version: '14.2.0-r6', repo: 'main', depends: ['musl>=1.2.5-r10', 'so:libc.musl-x86_64.so.1'], provides: ['so:libgcc_s.so.1=1'], description: 'GNU C compiler runtime libraries', url: 'https://gcc.gnu.org', license: 'GPL-2.0-or-later AND LGPL-2.1-or-later', origin: 'gcc' },
  { name: 'libstdc++', version: '14.2.0-r6', repo: 'main', depends: ['so:libc.musl-x86_64.so.1', 'so:libgcc_s.so.1'], provides: ['so:libstdc++.so.6=6.0.33'], description: 'GNU C++ standard runtime library', url: 'https://gcc.gnu.org', license: 'GPL-2.0-or-later AND LGPL-2.1-or-later', origin: 'gcc' },
];
const UNRELATED: StandIn = { name: 'htop', version: '3.4.1-r0', repo: 'community', depends: ['so:libc.musl-x86_64.so.1', 'so:libncursesw.so.6'], provides: ['cmd:htop=3.4.1-r0'], description: 'Interactive process viewer', url: 'https://htop.dev/', license: 'GPL-2.0-only', origin: 'htop' };

const GCC_S_C = 'const char *gcc_s_name(void) { return "libgcc_s.so.1"; }\n';
const STDCXX_C = 'const char *gcc_s_name(void);\nconst char *stdcxx_name(void) { return "libstdc++.so.6"; }\n';
const BTOP_C = `#include <stdio.h>
#include <string.h>
const char *gcc_s_name(void);
const char *stdcxx_name(void);
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) { printf("btop version: 1.4.4 (stand-in, with %s and %s)\\n", stdcxx_name(), gcc_s_name()); return 0; }
  printf("btop stand-in: %d arguments\\n", argc - 1);
  return 0;
}
`;

export interface AlpineRepo {
  root: string;
  /** A directory holding the test key, for the recipe's keys= option. */
  keysDir: string;
  /** A directory holding another key (signatures by the test key must fail against it). */
  otherKeysDir: string;
  pathOf(rel: string): string;
  cleanup(): Promise<void>;
}

const sha1b64 = (b: Buffer) => createHash('sha1').update(b).digest('base64');

/** A tar of NAMES in DIR (GNU tar, root-owned), optionally cut before its end blocks as abuild-tar --cut does. */
async function tarOf(dir: string, names: string[], cut: boolean): Promise<Buffer> {
  const { stdout } = await execa('tar', ['--format=ustar', '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '-C', dir, ...names], { encoding: 'buffer', stripFinalNewline: false });
  let buf = Buffer.from(stdout);
  if (cut) while (buf.length >= 512 && buf.subarray(buf.length - 512).every((b) => b === 0)) buf = buf.subarray(0, buf.length - 512);
  return buf;
}

async function signatureStream(scratch: string, signed: Buffer, privateKey: string): Promise<Buffer> {
  const dir = await mkdtemp(path.join(scratch, 'sig-'));
  const name = `.SIGN.RSA.${TEST_KEY}`;
  await writeFile(path.join(dir, name), sign('sha1', signed, privateKey));
  return gzipSync(await tarOf(dir, [name], true));
}

async function stageContent(pkg: string, stage: string, build: string): Promise<void> {
  const cc = (args: string[]) => execa('musl-gcc', args, { cwd: build });
  const put = async (from: string, to: string, mode: number) => {
    await mkdir(path.dirname(path.join(stage, to)), { recursive: true });
    await copyFile(from, path.join(stage, to));
    await chmod(path.join(stage, to), mode);
  };
  switch (pkg) {
    case 'musl':
      await put('/usr/lib/x86_64-linux-musl/libc.so', 'lib/ld-musl-x86_64.so.1', 0o755);
      await symlink('ld-musl-x86_64.so.1', path.join(stage, 'lib/libc.musl-x86_64.so.1'));
      return;
    case 'libgcc':
      await writeFile(path.join(build, 'gcc_s.c'), GCC_S_C);
      await cc(['-shared', '-fPIC', '-Wl,-soname,libgcc_s.so.1', '-o', 'libgcc_s.so.1', 'gcc_s.c']);
      return put(path.join(build, 'libgcc_s.so.1'), 'usr/lib/libgcc_s.so.1', 0o644);
    case 'libstdc++':
      await writeFile(path.join(build, 'stdcxx.c'), STDCXX_C);
      await cc(['-shared', '-fPIC', '-Wl,-soname,libstdc++.so.6', '-o', 'libstdc++.so.6', 'stdcxx.c']);
      await put(path.join(build, 'libstdc++.so.6'), 'usr/lib/libstdc++.so.6.0.33', 0o755);
      await symlink('libstdc++.so.6.0.33', path.join(stage, 'usr/lib/libstdc++.so.6'));
      return;
    case 'btop':
      await writeFile(path.join(build, 'btop.c'), BTOP_C);
      await cc(['-o', 'btop', 'btop.c', '-L.', '-l:libstdc++.so.6', '-l:libgcc_s.so.1']);
      await put(path.join(build, 'btop'), 'usr/bin/btop', 0o755);
      await mkdir(path.join(stage, 'usr/share/btop/themes'), { recursive: true });
      await writeFile(path.join(stage, 'usr/share/btop/themes/stand-in.theme'), 'theme[main_bg]=""\n');
      return;
    default:
      await mkdir(path.join(stage, 'usr/share/licenses', pkg), { recursive: true });
      await writeFile(path.join(stage, 'usr/share/licenses', pkg, 'COPYING'), `stand-in for ${pkg}\n`);
  }
}

/** One .apk: signature, control, data streams; returns its bytes and C: field. */
async function apk(scratch: string, pkg: StandIn, stage: string, privateKey: string): Promise<{ bytes: Buffer; checksum: string; installedSize: number }> {
  const entries = (await execa('find', ['.', '-mindepth', '1', '-maxdepth', '1', '-printf', '%P\n'], { cwd: stage })).stdout.split('\n').filter((l) => l !== '').sort();
  const data = gzipSync(await tarOf(stage, entries, false));
  const control = await mkdtemp(path.join(scratch, 'control-'));
  const installedSize = Number((await execa('du', ['-sb', stage])).stdout.split('\t')[0]);
  const pkginfo = [
    '# Generated by abuild 3.15.0', `pkgname = ${pkg.name}`, `pkgver = ${pkg.version}`, `pkgdesc = ${pkg.description}`, `url = ${pkg.url}`,
    'builddate = 1750000000', 'packager = Buildozer <alpine-devel@lists.alpinelinux.org>', `size = ${installedSize}`, 'arch = x86_64',
    `origin = ${pkg.origin}`, `license = ${pkg.license}`, ...pkg.depends.map((d) => `depend = ${d}`), ...pkg.provides.map((p) => `provides = ${p}`),
    `datahash = ${createHash('sha256').update(data).digest('hex')}`,
  ];
  await writeFile(path.join(control, '.PKGINFO'), `${pkginfo.join('\n')}\n`);
  const controlGz = gzipSync(await tarOf(control, ['.PKGINFO'], true));
  const bytes = Buffer.concat([await signatureStream(scratch, controlGz, privateKey), controlGz, data]);
  return { bytes, checksum: `Q1${sha1b64(controlGz)}`, installedSize };
}

export async function buildAlpineRepo(): Promise<AlpineRepo> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-alpine-repo-'));
  const root = path.join(scratch, 'mirror');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const keysDir = path.join(scratch, 'keys');
  await mkdir(keysDir);
  await writeFile(path.join(keysDir, TEST_KEY), publicKey);
  const otherKeysDir = path.join(scratch, 'other-keys');
  await mkdir(otherKeysDir);
  // The same name, another key: a signature check that only compared names would pass.
  await writeFile(path.join(otherKeysDir, TEST_KEY), generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).publicKey);

  const build = path.join(scratch, 'build');
  await mkdir(build);
  // Libraries first: btop links against them.
  const order = ['musl', 'libgcc', 'libstdc++', 'btop', 'htop'];
  const records = new Map<string, string[]>([['main', []], ['community', []]]);
  for (const pkg of [...BTOP_CLOSURE, UNRELATED].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))) {
    const stage = path.join(scratch, 'stage', pkg.name);
    await mkdir(stage, { recursive: true });
    await stageContent(pkg.name, stage, build);
    const made = await apk(scratch, pkg, stage, privateKey);
    const file = path.join(root, ALPINE, pkg.repo, 'x86_64', `${pkg.name}-${pkg.version}.apk`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, made.bytes);
    records.get(pkg.repo)!.push([
      `C:${made.checksum}`, `P:${pkg.name}`, `V:${pkg.version}`, 'A:x86_64', `S:${made.bytes.length}`, `I:${made.installedSize}`,
      `T:${pkg.description}`, `U:${pkg.url}`, `L:${pkg.license}`, `o:${pkg.origin}`, 'm:Natanael Copa <ncopa@alpinelinux.org>', 't:1750000000',
      'c:0123456789abcdef0123456789abcdef01234567', ...(pkg.depends.length ? [`D:${pkg.depends.join(' ')}`] : []), ...(pkg.provides.length ? [`p:${pkg.provides.join(' ')}`] : []),
    ].join('\n'));
  }
  for (const [repo, lines] of records) {
    const dir = await mkdtemp(path.join(scratch, 'index-'));
    await writeFile(path.join(dir, 'DESCRIPTION'), `v3.22.1-0-g0123456789a [/home/buildozer/aports/${repo}]`);
    await writeFile(path.join(dir, 'APKINDEX'), `${lines.join('\n\n')}\n\n`);
    const index = gzipSync(await tarOf(dir, ['DESCRIPTION', 'APKINDEX'], true));
    const file = path.join(root, ALPINE, repo, 'x86_64', 'APKINDEX.tar.gz');
    await writeFile(file, Buffer.concat([await signatureStream(scratch, index, privateKey), index]));
  }
  return {
    root,
    keysDir,
    otherKeysDir,
    pathOf: (rel) => path.join(root, ALPINE, rel),
    cleanup: () => rm(scratch, { recursive: true, force: true }),
  };
}

/** Read a mirror file (for tampering tests). */
export const readMirrorFile = (file: string) => readFile(file);
