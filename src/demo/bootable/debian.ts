/**
 * Debian packages for the bootable synthetic release, fetched with apt from the
 * machine's configured Debian mirror (the only network this uses): systemd (its
 * systemd-sysext is what the guest merges with), udev, kmod, coreutils, the
 * static busybox of the initramfs, and the cloud kernel.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import { run } from '../../util/exec.js';

/** What /usr is made of; the kernel comes from KERNEL_META. apt adds their dependencies. */
export const USR_PACKAGES = ['systemd', 'udev', 'kmod', 'coreutils'] as const;
export const INITRD_PACKAGES = ['busybox-static'] as const;
/** Debian's kernel for virtual machines: small, virtio drivers as modules. */
export const KERNEL_META = 'linux-image-cloud-amd64';

const APT_HINT = 'the bootable synthetic release needs apt and a reachable Debian mirror (run apt-get update first)';

/** Package names of an `apt-cache depends --recurse` listing (virtual packages, shown as <name>, are left out). */
export function parseDependsClosure(text: string): string[] {
  return [...new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith(' ') && !l.startsWith('<')).map((l) => l.trim()))].sort();
}

/** The versioned kernel package a meta package depends on (`Depends: linux-image-6.1.0-NN-cloud-amd64`). */
export function kernelPackageOf(dependsOutput: string, meta = KERNEL_META): string {
  const m = /^\s*Depends:\s*(linux-image-[0-9][^\s]*)$/m.exec(dependsOutput);
  if (!m) throw new InputError(`cannot tell which kernel ${meta} depends on`, APT_HINT);
  return m[1]!;
}

async function apt(tool: string, args: string[], cwd?: string): Promise<string> {
  return (await run(tool, args, { cwd, purpose: `ask apt for the synthetic release's packages (${tool} ${args[0]})`, hint: APT_HINT })).stdout;
}

/** Downloads the packages and their dependencies into `dir`; returns the .deb files. */
export async function downloadPackages(dir: string): Promise<{ debs: string[]; kernelPackage: string }> {
  await mkdir(dir, { recursive: true });
  const kernelPackage = kernelPackageOf(await apt('apt-cache', ['depends', KERNEL_META]));
  const closure = parseDependsClosure(
    await apt('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...USR_PACKAGES]),
  );
  // The kernel alone: its dependencies are initramfs generators this build does not use.
  const names = [...new Set([...closure, ...INITRD_PACKAGES, kernelPackage])];
  // As root apt drops to the _apt user, which cannot write a private directory: stay root for this download.
  const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
  await apt('apt-get', ['download', '-q', ...sandbox, ...names], dir);
  const debs = (await readdir(dir)).filter((f) => f.endsWith('.deb')).sort().map((f) => path.join(dir, f));
  return { debs, kernelPackage };
}

/** Unpacks every .deb into `tree` (no maintainer scripts run: the guest needs none of them). */
export async function extractPackages(debs: readonly string[], tree: string): Promise<void> {
  await mkdir(tree, { recursive: true });
  for (const deb of debs) await run('dpkg-deb', ['-x', deb, tree], { purpose: `unpack ${path.basename(deb)}` });
}
