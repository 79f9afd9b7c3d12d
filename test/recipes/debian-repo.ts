/**
 * A signed Debian repository for the tilde recipe, served through --mirror as
 * deb.debian.org/debian/... It mirrors Debian 12.15 "bookworm" (InRelease dated 2026-07-11):
 *  - InRelease: the real one's header fields (Origin, Label, Suite: oldstable, Version, Codename,
 *    Architectures, Components, Description), clearsigned with SHA256 by a throwaway ed25519 key
 *    made here (the real one is signed by Debian's archive keys, which no test can sign with);
 *  - main/binary-amd64/Packages.xz: the real stanzas of tilde 1.1.2-1 and its 15 dependencies
 *    (Package, Version, Architecture, Multi-Arch, Provides, Depends, Filename as in bookworm's
 *    index), with Size and SHA256 of the stand-in .debs below;
 *  - the .debs, built with dpkg-deb at the real pool paths. STAND-INS: libc6, libgcc-s1 and
 *    libstdc++6 hold this machine's own files of those packages (same bookworm versions); tilde,
 *    libt3widget2 and libtranscript1 hold small programs/libraries compiled here with the real
 *    SONAMEs and paths (tilde prints what it loaded); the other nine hold only a copyright file.
 */
import { execa } from 'execa';
import { chmod, copyFile, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sha256 } from './upstream.js';
import { makeGpgHome } from '../../src/util/gpg-home.js';

interface FixturePackage {
  name: string;
  version: string;
  multiArch?: string;
  provides?: string;
  depends?: string;
  filename: string;
}

/** The bookworm amd64 stanzas (fields as in the real index, Size/SHA256 added per stand-in). */
export const BOOKWORM_TILDE_CLOSURE: FixturePackage[] = [
  { name: 'tilde', version: '1.1.2-1', multiArch: 'foreign', depends: 'libc6 (>= 2.27), libgcc-s1 (>= 3.0), libstdc++6 (>= 5.2), libt3config0 (>= 1.0.0), libt3highlight2, libt3widget2 (>= 1.2.0), libt3window0 (>= 0.4.0), libtranscript1, libunistring2 (>= 0.9.7)', filename: 'pool/main/t/tilde/tilde_1.1.2-1_amd64.deb' },
  { name: 'libc6', version: '2.36-9+deb12u14', multiArch: 'same', depends: 'libgcc-s1', filename: 'pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb' },
  { name: 'libgcc-s1', version: '12.2.0-14+deb12u1', multiArch: 'same', provides: 'libgcc1 (= 1:12.2.0-14+deb12u1)', depends: 'gcc-12-base (= 12.2.0-14+deb12u1), libc6 (>= 2.35)', filename: 'pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb' },
  { name: 'gcc-12-base', version: '12.2.0-14+deb12u1', multiArch: 'same', filename: 'pool/main/g/gcc-12/gcc-12-base_12.2.0-14+deb12u1_amd64.deb' },
  { name: 'libstdc++6', version: '12.2.0-14+deb12u1', multiArch: 'same', depends: 'gcc-12-base (= 12.2.0-14+deb12u1), libc6 (>= 2.36), libgcc-s1 (>= 4.2)', filename: 'pool/main/g/gcc-12/libstdc++6_12.2.0-14+deb12u1_amd64.deb' },
  { name: 'libt3config0', version: '1.0.0-1', depends: 'libc6 (>= 2.14)', filename: 'pool/main/libt/libt3config/libt3config0_1.0.0-1_amd64.deb' },
  { name: 'libt3highlight2', version: '0.5.0-1', depends: 'libc6 (>= 2.14), libpcre2-8-0 (>= 10.34), libt3config0 (>= 1.0.0)', filename: 'pool/main/libt/libt3highlight/libt3highlight2_0.5.0-1_amd64.deb' },
  { name: 'libt3widget2', version: '1.2.0-1', depends: 'libc6 (>= 2.14), libgcc1 (>= 1:3.0), libgpm2 (>= 1.20.7), libpcre2-8-0 (>= 10.34), libstdc++6 (>= 6), libt3key1, libt3window0 (>= 0.4.0), libtranscript1, libunistring2 (>= 0.9.7)', filename: 'pool/main/libt/libt3widget/libt3widget2_1.2.0-1_amd64.deb' },
  { name: 'libt3window0', version: '0.4.0-1', depends: 'libc6 (>= 2.14), libtinfo6 (>= 6), libtranscript1, libunistring2 (>= 0.9.7)', filename: 'pool/main/libt/libt3window/libt3window0_0.4.0-1_amd64.deb' },
  { name: 'libt3key1', version: '0.2.10-1', depends: 'libc6 (>= 2.4), libt3config0 (>= 1.0.0), libtinfo6 (>= 6)', filename: 'pool/main/libt/libt3key/libt3key1_0.2.10-1_amd64.deb' },
  { name: 'libtranscript1', version: '0.3.3-1+b1', depends: 'libc6 (>= 2.14)', filename: 'pool/main/libt/libtranscript/libtranscript1_0.3.3-1+b1_amd64.deb' },
  { name: 'libunistring2', version: '1.0-2', multiArch: 'same', depends: 'libc6 (>= 2.34)', filename: 'pool/main/libu/libunistring/libunistring2_1.0-2_amd64.deb' },
  { name: 'libpcre2-8-0', version: '10.42-1', multiArch: 'same', depends: 'libc6 (>= 2.34)', filename: 'pool/main/p/pcre2/libpcre2-8-0_10.42-1_amd64.deb' },
  { name: 'libgpm2', version: '1.20.7-10+b1', multiArch: 'same', depends: 'libc6 (>= 2.33)', filename: 'pool/main/g/gpm/libgpm2_1.20.7-10+b1_amd64.deb' },
  { name: 'libtinfo6', version: '6.4-4', multiArch: 'same', depends: 'libc6 (>= 2.34)', filename: 'pool/main/n/ncurses/libtinfo6_6.4-4_amd64.deb' },
];

/** A package of the real index that nothing in the closure needs: must not be fetched. */
const UNRELATED: FixturePackage = { name: 'nano', version: '7.2-1+deb12u1', depends: 'libc6 (>= 2.34), libncursesw6 (>= 6), libtinfo6 (>= 6)', filename: 'pool/main/n/nano/nano_7.2-1+deb12u1_amd64.deb' };

const LIB = 'usr/lib/x86_64-linux-gnu';

const TRANSCRIPT_C = 'const char *transcript_name(void) { return "transcript1"; }\n';
const T3WIDGET_C = 'const char *transcript_name(void);\nconst char *t3widget_name(void) { return transcript_name(); }\n';
const TILDE_C = '#include <stdio.h>\nconst char *t3widget_name(void);\nint main(void) { printf("tilde stand-in via libt3widget.so.2 and %s\\n", t3widget_name()); return 0; }\n';

export interface DebianRepo {
  root: string;
  /** The binary keyring (gpgv) holding the throwaway signing key. */
  keyring: string;
  /** Re-sign InRelease (after editing the tree) and rewrite the Packages files. */
  publish(options?: { omit?: string[] }): Promise<void>;
  cleanup(): Promise<void>;
  /** Path of a file in the mirror tree by its URL path under deb.debian.org/debian/. */
  pathOf(rel: string): string;
}

async function dpkgDeb(stage: string, pkg: FixturePackage, out: string): Promise<void> {
  await mkdir(path.join(stage, 'DEBIAN'), { recursive: true });
  const control = [`Package: ${pkg.name}`, `Version: ${pkg.version}`, 'Architecture: amd64', 'Maintainer: flatbake tests <tests@flatbake.invalid>', ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []), `Description: stand-in for Debian bookworm's ${pkg.name}`];
  await writeFile(path.join(stage, 'DEBIAN/control'), `${control.join('\n')}\n`);
  await mkdir(path.join(stage, 'usr/share/doc', pkg.name), { recursive: true });
  await writeFile(path.join(stage, 'usr/share/doc', pkg.name, 'copyright'), `stand-in for ${pkg.name}\n`);
  await mkdir(path.dirname(out), { recursive: true });
  await execa('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, out]);
}

async function hostFile(stage: string, from: string, to: string): Promise<void> {
  await mkdir(path.dirname(path.join(stage, to)), { recursive: true });
  await copyFile(await realpath(from), path.join(stage, to));
  // Debian ships shared libraries 0644 (Policy 8.1), but libc.so.6 and the loader, which run as programs, 0755.
  if (/\.so[.\d]*$/.test(to) && !/\/(libc\.so\.6|ld-linux[^/]*)$/.test(to)) await chmod(path.join(stage, to), 0o644);
}

/** The stand-in contents of each package (a function filling its staging dir). */
async function stageContent(pkg: string, stage: string, build: string): Promise<void> {
  const cc = (args: string[]) => execa('gcc', args, { cwd: build });
  switch (pkg) {
    case 'libc6':
      // bookworm's libc6 layout: libraries in /lib/<triplet>, the loader reached through /lib64.
      for (const f of ['libc.so.6', 'libm.so.6', 'ld-linux-x86-64.so.2']) await hostFile(stage, `/lib/x86_64-linux-gnu/${f}`, `lib/x86_64-linux-gnu/${f}`);
      await mkdir(path.join(stage, 'lib64'), { recursive: true });
      await symlink('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', path.join(stage, 'lib64/ld-linux-x86-64.so.2'));
      return;
    case 'libgcc-s1':
      return hostFile(stage, '/lib/x86_64-linux-gnu/libgcc_s.so.1', 'lib/x86_64-linux-gnu/libgcc_s.so.1');
    case 'libstdc++6':
      await hostFile(stage, '/usr/lib/x86_64-linux-gnu/libstdc++.so.6', `${LIB}/libstdc++.so.6.0.30`);
      await symlink('libstdc++.so.6.0.30', path.join(stage, LIB, 'libstdc++.so.6'));
      return;
    case 'libtranscript1':
      await writeFile(path.join(build, 'transcript.c'), TRANSCRIPT_C);
      await cc(['-shared', '-fPIC', '-Wl,-soname,libtranscript.so.1', '-o', 'libtranscript.so.1', 'transcript.c']);
      await hostFile(stage, path.join(build, 'libtranscript.so.1'), `${LIB}/libtranscript.so.1.0.3`);
      await symlink('libtranscript.so.1.0.3', path.join(stage, LIB, 'libtranscript.so.1'));
      // The converter modules libtranscript dlopen()s (the recipe ships this folder as is).
      await hostFile(stage, path.join(build, 'libtranscript.so.1'), `${LIB}/transcript1/libtranscript_iso8859.so`);
      return;
    case 'libt3widget2':
      await writeFile(path.join(build, 't3widget.c'), T3WIDGET_C);
      await cc(['-shared', '-fPIC', '-Wl,-soname,libt3widget.so.2', '-o', 'libt3widget.so.2', 't3widget.c', '-L.', '-l:libtranscript.so.1']);
      await hostFile(stage, path.join(build, 'libt3widget.so.2'), `${LIB}/libt3widget.so.2.0.0`);
      await symlink('libt3widget.so.2.0.0', path.join(stage, LIB, 'libt3widget.so.2'));
      await hostFile(stage, path.join(build, 'libt3widget.so.2'), `${LIB}/libt3widget/libt3widget-x11.so`);
      return;
    case 'tilde':
      await writeFile(path.join(build, 'tilde.c'), TILDE_C);
      await cc(['-o', 'tilde', 'tilde.c', '-L.', '-l:libt3widget.so.2', '-l:libtranscript.so.1', '-Wl,--no-as-needed']);
      await hostFile(stage, path.join(build, 'tilde'), 'usr/bin/tilde');
      return;
    default:
      return;
  }
}

/** Build the repository: stand-in .debs, Packages.xz, and a signed InRelease. */
export async function buildDebianRepo(): Promise<DebianRepo> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-debian-repo-'));
  const root = path.join(scratch, 'mirror');
  const archive = path.join(root, 'deb.debian.org/debian');
  // Not inside scratch: gpg-agent's sockets must fit a unix socket path (src/util/gpg-home.ts).
  const gnupg = await makeGpgHome();
  const env = { GNUPGHOME: gnupg };
  const gpg = (args: string[]) => execa('gpg', ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env });
  // The key is named by the fingerprint gpg reports for it (KEY_CREATED) from here on, for export
  // and for signing, so the keyring the tests give gpgv holds exactly the key that signs.
  const made = await gpg(['--status-fd', '1', '--quick-gen-key', 'Synthetic Debian Archive <archive@flatbake.invalid>', 'ed25519', 'sign', 'never']);
  const fingerprint = /^\[GNUPG:\] KEY_CREATED \S+ ([0-9A-F]{40})/m.exec(made.stdout)?.[1];
  if (fingerprint === undefined) throw new Error(`fixture fault: gpg made no key in ${gnupg}:\n${made.stdout}\n${made.stderr}`);
  // gpg writes the keyring itself: captured from stdout, execa's stripFinalNewline (on by default,
  // for bytes too) cut the last byte off every export that ends in 0x0a (13 of 200 keys made
  // here), and gpgv read the truncated keyring as holding no key: "no public key", the CI failure
  // of 6663ad9, caught by gpgv's own "Invalid keyring" in a run with the keyring kept.
  const keyring = path.join(scratch, 'keyring.gpg');
  await gpg(['--output', keyring, '--export', fingerprint]);

  const build = path.join(scratch, 'build');
  await mkdir(build);
  // Libraries first: tilde links against them.
  const order = ['libtranscript1', 'libt3widget2', 'tilde'];
  const sorted = [...BOOKWORM_TILDE_CLOSURE].sort((a, b) => (order.indexOf(a.name) + 1 || 99) - (order.indexOf(b.name) + 1 || 99));
  for (const pkg of [...sorted, UNRELATED]) {
    const stage = path.join(scratch, 'stage', pkg.name);
    await mkdir(stage, { recursive: true });
    await stageContent(pkg.name, stage, build);
    await dpkgDeb(stage, pkg, path.join(archive, pkg.filename));
  }

  const dists = path.join(archive, 'dists/bookworm');
  const publish = async (options: { omit?: string[] } = {}) => {
    const stanzas: string[] = [];
    for (const pkg of [...BOOKWORM_TILDE_CLOSURE, UNRELATED].filter((p) => !(options.omit ?? []).includes(p.name))) {
      const deb = await readFile(path.join(archive, pkg.filename));
      stanzas.push([
        `Package: ${pkg.name}`, `Version: ${pkg.version}`, 'Installed-Size: 100', 'Maintainer: Debian',
        'Architecture: amd64', ...(pkg.multiArch ? [`Multi-Arch: ${pkg.multiArch}`] : []), ...(pkg.provides ? [`Provides: ${pkg.provides}`] : []),
        ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []), `Description: ${pkg.name} (stand-in)`,
        `Filename: ${pkg.filename}`, `Size: ${deb.length}`, `SHA256: ${sha256(deb)}`,
      ].join('\n'));
    }
    const text = `${stanzas.join('\n\n')}\n`;
    const indexDir = path.join(dists, 'main/binary-amd64');
    await mkdir(indexDir, { recursive: true });
    await writeFile(path.join(indexDir, 'Packages'), text);
    await rm(path.join(indexDir, 'Packages.xz'), { force: true });
    await execa('xz', ['-k', '-1', path.join(indexDir, 'Packages')]);
    const hashes = [];
    for (const f of ['Packages', 'Packages.xz']) {
      const data = await readFile(path.join(indexDir, f));
      hashes.push(` ${sha256(data)} ${String(data.length).padStart(8)} main/binary-amd64/${f}`);
    }
    const release = [
      'Origin: Debian', 'Label: Debian', 'Suite: oldstable', 'Version: 12.15', 'Codename: bookworm',
      'Date: Sat, 11 Jul 2026 10:16:37 UTC', 'Acquire-By-Hash: yes', 'No-Support-for-Architecture-all: Packages',
      'Architectures: all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x', 'Components: main contrib non-free-firmware non-free',
      'Description: Debian 12.15 Released 11 July 2026', 'SHA256:', ...hashes,
    ].join('\n');
    await writeFile(path.join(scratch, 'Release'), `${release}\n`);
    const inRelease = path.join(dists, 'InRelease');
    await gpg(['--yes', '--local-user', `${fingerprint}!`, '--digest-algo', 'SHA256', '--clearsign', '--output', inRelease, path.join(scratch, 'Release')]);
    // The fixture checks itself with gpgv, so that a fault of its own is never reported as the
    // code under test refusing a good repository (and says what gpgv saw if it happens).
    const check = await execa('gpgv', ['--status-fd', '1', '--keyring', keyring, inRelease], { reject: false });
    if (check.exitCode !== 0) {
      const held = await execa('gpg', ['--with-colons', '--show-keys', keyring], { env, reject: false });
      throw new Error(`fixture fault: the InRelease signed with ${fingerprint} does not verify against ${keyring}:\n${check.stdout}\n${check.stderr}\nthe keyring holds:\n${held.stdout}${held.stderr}`);
    }
  };
  await publish();
  return {
    root,
    keyring,
    publish,
    pathOf: (rel) => path.join(archive, rel),
    async cleanup() {
      await execa('gpgconf', ['--kill', 'all'], { env, reject: false });
      await rm(scratch, { recursive: true, force: true });
      await rm(gnupg, { recursive: true, force: true });
    },
  };
}
