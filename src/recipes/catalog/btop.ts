/**
 * btop, the resource monitor, as the bakery builds it (flatcar/sysext-bakery btop.sysext/create.sh,
 * Apache-2.0): Alpine latest-stable's `btop` package with its dependencies, shipped whole under
 * /usr/local/btop and run through a flatwrap wrapper with the root's own /etc (ETCMAP=chroot:
 * Alpine keeps terminfo in /etc/terminfo). The bakery runs `apk add` in an alpine:latest
 * container; here the signed indexes are read directly (see src/packages/alpine.ts) and each
 * package's data is unpacked after its checks, no container or root.
 *
 * Unlike the bakery's image, which wraps the whole alpine:latest container plus bash, coreutils
 * and grep, the root holds btop's dependency closure only (what btop loads); the base system's
 * busybox, apk-tools and alpine-baselayout are not shipped.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import { apkClosure, readApkIndex, verifyApk } from '../../packages/alpine.js';
import { alpineKeys, keysFromDir } from '../../packages/alpine-keys.js';
import { decodePinned, encodePinned, packageDownloadId, pinnedDownloads } from '../../packages/pinned.js';
import { flatwrapInto } from '../../wrap/flatwrap.js';
import type { Recipe } from '../recipe.js';

const ALPINE = 'https://dl-cdn.alpinelinux.org/alpine/latest-stable';
/** Searched in this order, as an /etc/apk/repositories listing main before community. */
const REPOSITORIES = ['main', 'community'];

/** `1.4.4-r0` -> `1.4.4`: the bakery lists the version without Alpine's package release. */
const withoutRelease = (v: string) => v.replace(/-r\d+$/, '');

export const btop: Recipe = {
  name: 'btop',
  description: 'the btop resource monitor: Alpine\'s package and its libraries, run from their own root through flatwrap',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: false,
  versionPattern: /^\d[0-9a-z._]*(-r\d+)?$/,
  versionExample: '1.4.4',
  knownVersions: ['1.4.4'],
  options: {
    keys: { description: 'a directory of Alpine .rsa.pub keys trusted instead of Alpine\'s own (as /etc/apk/keys); for mirrors that re-sign', pattern: /^\/\S+$/ },
  },
  source: import.meta.url,
  async resolve(input, _fetchText, fetchFile) {
    const arch = input.upstreamArch;
    const keys = input.options.keys ? await keysFromDir(input.options.keys) : await alpineKeys(arch, fetchFile);
    const packages = [];
    for (const repo of REPOSITORIES) {
      const url = `${ALPINE}/${repo}/${arch}/APKINDEX.tar.gz`;
      packages.push(...(await readApkIndex(await readFile(await fetchFile(url)), keys, repo, `Alpine latest-stable ${repo}/${arch} APKINDEX`)));
    }
    const pkg = packages.find((p) => p.name === 'btop');
    if (!pkg) throw new InputError(`Alpine latest-stable has no btop package for ${arch}`, 'check the mirror');
    if (input.version !== pkg.version && input.version !== withoutRelease(pkg.version)) {
      throw new InputError(`Alpine latest-stable has btop ${pkg.version}, not ${input.version}`, `build version ${withoutRelease(pkg.version)}: an apk repository serves only its current version`);
    }
    const closure = apkClosure(packages, ['btop']);
    return { alpine: pkg.version, packages: encodePinned(closure.map((p) => ({ name: p.name, url: `${ALPINE}/${p.repo}/${arch}/${p.name}-${p.version}.apk`, checksum: p.checksum }))) };
  },
  downloads({ params }) {
    // Alpine's index gives no digest of the whole file: install() checks each against its C: field.
    return pinnedDownloads(params.packages);
  },
  async install(ctx) {
    const rootfs = path.join(ctx.work, 'rootfs');
    const segments = path.join(ctx.work, 'apk-data');
    await mkdir(segments, { recursive: true });
    const packages = decodePinned(ctx.params.packages);
    ctx.report.step('recipe', `checking and unpacking ${packages.length} Alpine packages (btop ${ctx.params.alpine} and its dependencies)`);
    for (const p of packages) {
      const file = ctx.file(packageDownloadId(p.name));
      const data = await verifyApk(await readFile(file), { name: p.name, checksum: p.checksum }, path.basename(p.url));
      const tarball = path.join(segments, `${p.name}.tar.gz`);
      await writeFile(tarball, data.raw);
      await ctx.extract(tarball, 'tar.gz', rootfs);
    }
    await flatwrapInto({ rootfs, name: 'btop', paths: ['/usr/bin/btop'], etcMap: 'chroot' }, ctx.root);
  },
};
