/**
 * Debian packages for the bootable synthetic release: systemd (its systemd-sysext is what the
 * guest merges with), udev, kmod, coreutils, the static busybox of the initramfs, and the cloud
 * kernel. They come the way every Debian package flatbake uses comes (src/packages/debian.ts):
 * bookworm's InRelease checked by gpgv against debian-archive-keyring, its Packages.xz by the
 * signed SHA256, the dependencies followed, each .deb checked against its Packages SHA256 and
 * unpacked with ar + tar. No apt, so the host's apt configuration and lists play no part.
 */
import path from 'node:path';
import { InputError } from '../../errors.js';
import { downloadAll, type DownloadOptions } from '../../net/download.js';
import { fetchWholeFile } from '../../net/fetch-text.js';
import { DEBIAN_ARCHIVE, DEBIAN_ARCHIVE_KEYRING, dependencyClosure, fetchDebianIndex, type DebPackage } from '../../packages/debian.js';
import { extractDeb } from '../../recipes/archive.js';

/** What /usr is made of; the kernel comes from KERNEL_META. Their dependencies are added. */
export const USR_PACKAGES = ['systemd', 'udev', 'kmod', 'coreutils'] as const;
export const INITRD_PACKAGES = ['busybox-static'] as const;
/** Debian's kernel for virtual machines: small, virtio drivers as modules. */
export const KERNEL_META = 'linux-image-cloud-amd64';
/** Debian 12, whose systemd (252) Flatcar's sysext handling matches. */
export const SUITE = 'bookworm';

const HINT = `the bootable synthetic release reads Debian ${SUITE} from ${DEBIAN_ARCHIVE}: check that it can be reached`;

/** The versioned kernel package the meta package depends on (`linux-image-6.1.0-NN-cloud-amd64`). */
export function kernelPackageOf(index: ReadonlyMap<string, DebPackage>, meta = KERNEL_META): DebPackage {
  const name = index.get(meta)?.depends.flat().find((n) => /^linux-image-\d/.test(n));
  const pkg = name === undefined ? undefined : index.get(name);
  if (!pkg) throw new InputError(`cannot tell which kernel ${meta} depends on in Debian ${SUITE}'s index`, HINT);
  return pkg;
}

/**
 * The packages to unpack, by name: /usr's and the initramfs's with their dependencies, and the
 * kernel alone (its dependencies are initramfs generators this build does not use).
 */
export function bootPackages(index: ReadonlyMap<string, DebPackage>): DebPackage[] {
  const chosen = new Map(dependencyClosure(index, [...USR_PACKAGES, ...INITRD_PACKAGES]).map((p) => [p.name, p]));
  const kernel = kernelPackageOf(index);
  chosen.set(kernel.name, kernel);
  return [...chosen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export type FetchPackagesOptions = Pick<DownloadOptions, 'mirror' | 'signal' | 'retries'>;

/** Fetches the packages into DIR, each checked against the signed index; returns the .deb files. */
export async function downloadPackages(dir: string, options: FetchPackagesOptions = {}): Promise<{ debs: string[]; kernelPackage: string }> {
  const index = await fetchDebianIndex({
    archive: DEBIAN_ARCHIVE,
    suite: SUITE,
    component: 'main',
    architecture: 'amd64',
    keyring: DEBIAN_ARCHIVE_KEYRING,
    fetchFile: (url) => fetchWholeFile(url, path.join(dir, 'index', path.basename(url)), options),
  });
  const packages = bootPackages(index);
  const requests = packages.map((p) => ({
    url: `${DEBIAN_ARCHIVE}/${p.filename}`,
    dest: path.join(dir, path.basename(p.filename)),
    label: path.basename(p.filename),
    expectedSize: p.size,
    expectedSha256: p.sha256,
  }));
  await downloadAll(requests, options);
  return { debs: requests.map((r) => r.dest), kernelPackage: kernelPackageOf(index).name };
}

/** Unpacks every .deb into TREE (no maintainer scripts run: the guest needs none of them). */
export async function extractPackages(debs: readonly string[], tree: string, scratch: string): Promise<void> {
  for (const deb of debs) await extractDeb(deb, tree, scratch);
}
