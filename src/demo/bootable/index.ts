/**
 * The pieces that make the synthetic release bootable, built once from Debian
 * packages and kept in the cache dir: a kernel, an initramfs, a UEFI GRUB and a
 * /usr tree with systemd. synthetic-disk.ts puts them where Flatcar keeps its
 * own: EFI-SYSTEM /flatcar/vmlinuz-a, USR-A as /usr, ROOT as /.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError } from '../../errors.js';
import { run } from '../../util/exec.js';
import { downloadPackages, extractPackages } from './debian.js';
import { buildGrubEfi } from './grub.js';
import { buildInitramfs } from './initramfs.js';

export { grubCfg, GRUB_PREFIX } from './grub.js';

/** Bump when what is built changes, so old caches are not reused. */
const FORMAT = 'v3'; // v2: the initramfs loads qemu_fw_cfg; v3: packages from the signed index, not apt

export interface BootParts {
  dir: string;
  kernelVersion: string;
  kernel: string;
  initrd: string;
  /** EFI/boot/bootx64.efi */
  grubEfi: string;
  /** Becomes USR-A's root (i.e. /usr). */
  usrTree: string;
  /** The .deb files it was made of. */
  packages: string[];
}

/** Documentation and translations: no use to the guest, and USR-A is small. */
const PRUNE = ['share/doc', 'share/man', 'share/info', 'share/locale', 'share/lintian', 'share/bug', 'share/bash-completion', 'share/zsh', 'share/fish', 'lib/modules'];

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** Debian 12 still ships /bin, /sbin, /lib in its packages; Flatcar's /usr holds everything (merged /usr). */
async function mergeUsr(tree: string, usr: string): Promise<void> {
  await run('cp', ['-a', path.join(tree, 'usr') + '/.', usr], { purpose: 'stage /usr' });
  for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
    if (!(await exists(path.join(tree, top)))) continue;
    await mkdir(path.join(usr, top), { recursive: true });
    await run('cp', ['-a', path.join(tree, top) + '/.', path.join(usr, top)], { purpose: `merge /${top} into /usr` });
  }
  for (const p of PRUNE) await rm(path.join(usr, p), { recursive: true, force: true });
  // Flatcar enables systemd-sysext.service in /usr; Debian leaves that to its preset.
  const wants = path.join(usr, 'lib', 'systemd', 'system', 'sysinit.target.wants');
  await mkdir(wants, { recursive: true });
  await rm(path.join(wants, 'systemd-sysext.service'), { force: true });
  await symlink('../systemd-sysext.service', path.join(wants, 'systemd-sysext.service'));
}

/** The cached parts, building them first when the cache has none (a few minutes, once). */
export async function prepareBootParts(cacheDir: string, onProgress: (message: string) => void = () => {}): Promise<BootParts> {
  const dir = path.join(cacheDir, 'bootable-release', `${FORMAT}-x86-64`);
  const record = path.join(dir, 'parts.json');
  if (await exists(record)) return JSON.parse(await readFile(record, 'utf8')) as BootParts;
  await mkdir(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    onProgress('bootable parts: fetching Debian packages (signed index, each .deb checked)');
    const { debs } = await downloadPackages(path.join(tmp, 'debs'));
    const tree = path.join(tmp, 'tree');
    onProgress(`bootable parts: unpacking ${debs.length} packages`);
    await extractPackages(debs, tree, path.join(tmp, 'deb-scratch'));
    await rm(path.join(tmp, 'deb-scratch'), { recursive: true, force: true });
    const versions = await readdir(path.join(tree, 'lib', 'modules'));
    if (versions.length !== 1) throw new DiskFormatError(`expected one kernel in the packages, found ${versions.length}`);
    const kernelVersion = versions[0]!;
    const final = (name: string) => path.join(dir, name);
    await copyFile(path.join(tree, 'boot', `vmlinuz-${kernelVersion}`), path.join(tmp, 'vmlinuz'));
    onProgress('bootable parts: initramfs, GRUB, /usr');
    await buildInitramfs({ tree, kernelVersion, work: tmp, output: path.join(tmp, 'initrd.img') });
    await buildGrubEfi(path.join(tmp, 'bootx64.efi'));
    await mkdir(path.join(tmp, 'usr'));
    await mergeUsr(tree, path.join(tmp, 'usr'));
    await rm(tree, { recursive: true, force: true });
    await rm(path.join(tmp, 'initramfs'), { recursive: true, force: true });
    const packages = debs.map((d) => path.basename(d));
    await rm(path.join(tmp, 'debs'), { recursive: true, force: true });
    const parts: BootParts = {
      dir,
      kernelVersion,
      kernel: final('vmlinuz'),
      initrd: final('initrd.img'),
      grubEfi: final('bootx64.efi'),
      usrTree: final('usr'),
      packages,
    };
    await writeFile(path.join(tmp, 'parts.json'), JSON.stringify(parts, null, 2) + '\n');
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another run (a parallel test file) finished first: keep its parts, drop ours.
      if (!(await exists(record))) throw err;
      await rm(tmp, { recursive: true, force: true });
    }
    return parts;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
