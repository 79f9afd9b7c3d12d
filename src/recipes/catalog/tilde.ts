/**
 * tilde, the text editor, as the bakery builds it (flatcar/sysext-bakery tilde.sysext/create.sh,
 * Apache-2.0): Debian bookworm's `tilde` package with its dependencies, lifted out with flix
 * (/usr/bin/tilde plus the transcript1 and libt3widget module folders). The bakery runs apt in a
 * debian:bookworm-slim container; here the signed bookworm index is read directly (see
 * src/packages/debian.ts) and the .debs are unpacked into a scratch rootfs, no container or root.
 */
import path from 'node:path';
import { InputError } from '../../errors.js';
import { DEBIAN_ARCHIVE, DEBIAN_ARCHIVE_KEYRING, dependencyClosure, fetchDebianIndex, upstreamVersion } from '../../packages/debian.js';
import { decodePinned, encodePinned, packageDownloadId, pinnedDownloads } from '../../packages/pinned.js';
import { flixInto } from '../../wrap/flix.js';
import type { Arch } from '../../arch.js';
import type { Recipe } from '../recipe.js';

const SUITE = 'bookworm';

/** Debian's multiarch directory name per architecture. */
const TRIPLET: Record<Arch, string> = { 'x86-64': 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/**
 * Dependencies not fetched because Flatcar's /usr has what they hold and flix takes nothing from
 * them: the terminfo database (the bakery: "we assume that the host has /usr/share/terminfo").
 * Libraries are never excluded: flix ships the rootfs's own glibc and loader.
 */
const HOST_PROVIDED = new Set(['ncurses-base', 'ncurses-term']);

export const tilde: Recipe = {
  name: 'tilde',
  description: 'the tilde text editor: Debian bookworm\'s package and its libraries, lifted out with flix',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: false,
  // The bakery lists the upstream part of bookworm's version (1.1.2 of 1.1.2-1); the full Debian version is accepted too.
  versionPattern: /^\d[0-9A-Za-z.+~]*(-[0-9A-Za-z.+~]+)?$/,
  versionExample: '1.1.2',
  knownVersions: ['1.1.2'],
  options: {
    keyring: { description: 'OpenPGP keyring (binary, as gpgv reads) the repository\'s InRelease must be signed by; for mirrors that re-sign', default: DEBIAN_ARCHIVE_KEYRING, pattern: /^\/\S+$/ },
  },
  source: import.meta.url,
  async resolve(input, _fetchText, fetchFile) {
    const index = await fetchDebianIndex({ archive: DEBIAN_ARCHIVE, suite: SUITE, component: 'main', architecture: input.upstreamArch, keyring: input.options.keyring!, fetchFile });
    const pkg = index.get('tilde');
    if (!pkg) throw new InputError(`Debian ${SUITE} has no tilde package for ${input.upstreamArch}`, 'check the mirror');
    if (input.version !== pkg.version && input.version !== upstreamVersion(pkg.version)) {
      throw new InputError(`Debian ${SUITE} has tilde ${pkg.version}, not ${input.version}`, `build version ${upstreamVersion(pkg.version)}: an apt repository serves only its current version`);
    }
    const closure = dependencyClosure(index, ['tilde'], HOST_PROVIDED);
    return { debian: pkg.version, packages: encodePinned(closure.map((p) => ({ name: p.name, url: `${DEBIAN_ARCHIVE}/${p.filename}`, checksum: p.sha256 }))) };
  },
  downloads({ params }) {
    return pinnedDownloads(params.packages);
  },
  async install(ctx) {
    const rootfs = path.join(ctx.work, 'rootfs');
    const packages = decodePinned(ctx.params.packages);
    ctx.report.step('recipe', `unpacking ${packages.length} Debian packages (tilde ${ctx.params.debian} and its dependencies)`);
    for (const p of packages) await ctx.extractDeb(ctx.file(packageDownloadId(p.name)), rootfs);
    const lib = `/usr/lib/${TRIPLET[ctx.arch]}`;
    await flixInto({ rootfs, name: 'tilde', paths: ['/usr/bin/tilde'], resources: [`${lib}/transcript1`, `${lib}/libt3widget`] }, ctx.root);
  },
};
