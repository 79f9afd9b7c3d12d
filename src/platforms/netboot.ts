/**
 * Diskless vendors (pxe, iso): the kernel from EFI-SYSTEM and an initramfs
 * holding /usr (USR-A) as a squashfs, which Flatcar's initramfs mounts as /usr
 * when it boots without a disk; the ISO wraps both with isolinux.
 */
import { access, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '../backend/index.js';
import { MissingToolError } from '../errors.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { run, which } from '../util/exec.js';
import { renderIsolinuxCfg } from './descriptors.js';
import { missingUpdateConf, requireUpdateGroup, rewriteUpdateGroup, UPDATE_CONF } from './update-group.js';
import type { IsolinuxFiles, VendorSettings } from './types.js';
import { majorOf } from './releases.js';
import type { Arch } from '../arch.js';

/** Copies `espPath` (e.g. /flatcar/vmlinuz-a) out of EFI-SYSTEM without mounting: mtools reads the vfat at its byte offset. */
export async function extractEspFile(image: string, table: GptTable, espPath: string, destination: string, what = 'the kernel'): Promise<void> {
  const esp = locateFlatcarPartition(table, 'EFI-SYSTEM');
  await run('mcopy', ['-n', '-i', `${image}@@${esp.startByte}`, `::${espPath}`, destination], {
    // mtools refuses filesystems whose geometry looks odd unless told not to check.
    env: { MTOOLS_SKIP_CHECK: '1' },
    purpose: `copy ${what} ${espPath} out of EFI-SYSTEM`,
    hint: `the image has no ${what} where Flatcar keeps it: is this a Flatcar image?`,
  });
}

/** Copies the kernel at `kernelPath` out of EFI-SYSTEM. */
export async function extractKernel(image: string, table: GptTable, kernelPath: string, destination: string): Promise<void> {
  await extractEspFile(image, table, kernelPath, destination, 'the kernel');
}

/**
 * Where the SDK of `version` finds the GRUB it publishes beside the pxe
 * kernel (vendors/defaults.json netboot.grubEfi); a version without a major
 * (a local image without VERSION_ID) takes the newest era. Pure.
 */
export function grubEfiPath(eras: VendorSettings['netboot']['grubEfi'], arch: Arch, version: string): string {
  const major = majorOf(version);
  let found = eras.at(-1)!;
  if (major !== undefined) for (const era of eras) if (era.from <= major) found = era;
  return found.path[arch];
}

/**
 * What the SDK adds to the diskless /usr (vm_image_util.sh _write_cpio_common,
 * V:540-556), as mksquashfs pseudo files: /usr/.noupdate (0444 root), which
 * keeps update-engine and locksmithd from running on a boot without a disk
 * to update, and share/flatcar/update.conf with its GROUP set to the image's
 * group (the file excluded from the tree, since mksquashfs will not replace
 * a file with a pseudo file). Returns the mksquashfs arguments; the pseudo
 * commands read files in `dir` by relative name, so mksquashfs must run there.
 */
async function squashfsExtras(usrRoot: string, dir: string): Promise<string[]> {
  const conf = await readFile(path.join(usrRoot, UPDATE_CONF), 'utf8').catch(() => {
    throw missingUpdateConf();
  });
  await writeFile(path.join(dir, 'update.conf'), rewriteUpdateGroup(conf, requireUpdateGroup(conf)));
  await writeFile(path.join(dir, 'pseudo'), [`/.noupdate f 444 root root true`, `/${UPDATE_CONF} f 644 root root cat update.conf`, ''].join('\n'));
  // mksquashfs 4.5.1 (Debian 12) has no -xattrs-exclude '^btrfs.' (V:550); it stores only user., trusted. and security. xattrs anyway, so btrfs.* never reach the squashfs.
  // -e must come last (V:551-555).
  return ['-pf', path.join(dir, 'pseudo'), '-e', UPDATE_CONF];
}

/**
 * `usr.squashfs` of USR-A (made by the backend, with the extras above) inside a gzip'd newc cpio.
 */
export async function buildUsrInitramfs(
  backend: Backend,
  image: string,
  table: GptTable,
  squashfsName: string,
  destination: string,
  scratchDir: string,
): Promise<void> {
  const stage = path.join(scratchDir, 'initramfs');
  await mkdir(stage, { recursive: true });
  const pseudoDir = path.join(scratchDir, 'squashfs-extras');
  await mkdir(pseudoDir, { recursive: true });
  await backend.squashUsr(image, table, path.join(stage, squashfsName), scratchDir, async (usrRoot) => ({ args: await squashfsExtras(usrRoot, pseudoDir), cwd: pseudoDir }));
  const cpio = path.join(scratchDir, 'initramfs.cpio');
  // newc is the only cpio format the kernel unpacks.
  await run('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0', '-O', cpio], { cwd: stage, input: `${squashfsName}\n`, purpose: 'pack the initramfs' });
  await rm(stage, { recursive: true, force: true });
  await rm(pseudoDir, { recursive: true, force: true });
  await run('gzip', ['-9', '-n', cpio], { purpose: 'compress the initramfs' });
  await rename(`${cpio}.gz`, destination);
}

async function present(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** A hybrid (CD and USB stick) ISO that boots `kernel` with `initrd` through isolinux. */
export async function buildIso(
  kernel: string,
  initrd: string,
  commandLine: string,
  isolinux: IsolinuxFiles | null,
  arch: string,
  destination: string,
  scratchDir: string,
): Promise<void> {
  if (!isolinux) throw new MissingToolError(`an ISO for ${arch} needs a boot loader flatbake does not know for ${arch} (isolinux is x86 only)`);
  if (!(await which('xorriso'))) throw new MissingToolError('writing the ISO needs xorriso, which is not installed', 'install the Debian package xorriso');
  for (const file of [isolinux.loader, isolinux.hybridMbr, ...isolinux.modules]) {
    if (!(await present(file))) {
      throw new MissingToolError(`writing the ISO needs ${file}, which is not installed`, `install the Debian packages ${isolinux.packages}`);
    }
  }
  const root = path.join(scratchDir, 'iso');
  await mkdir(path.join(root, 'isolinux'), { recursive: true });
  await mkdir(path.join(root, 'flatcar'), { recursive: true });
  await copyFile(isolinux.loader, path.join(root, 'isolinux', 'isolinux.bin'));
  for (const module of isolinux.modules) await copyFile(module, path.join(root, 'isolinux', path.basename(module)));
  await writeFile(path.join(root, 'isolinux', 'isolinux.cfg'), renderIsolinuxCfg('/flatcar/vmlinuz', '/flatcar/cpio.gz', commandLine));
  await copyFile(kernel, path.join(root, 'flatcar', 'vmlinuz'));
  await copyFile(initrd, path.join(root, 'flatcar', 'cpio.gz'));
  await run(
    'xorriso',
    [
      '-as', 'mkisofs', '-quiet', '-o', destination, '-V', 'FLATCAR_ISO', '-J', '-R',
      '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-isohybrid-mbr', isolinux.hybridMbr,
      root,
    ],
    { purpose: 'write the ISO' },
  );
  await rm(root, { recursive: true, force: true });
}
