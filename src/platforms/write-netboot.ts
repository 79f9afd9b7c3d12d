/**
 * The netboot vendors: pxe (kernel, /usr initramfs and the image's own GRUB EFI loader) and iso
 * (kernel and initramfs inside a hybrid ISO), as the SDK's _write_cpio_disk and _write_iso_disk
 * write them. The baked image is only read.
 */
import path from 'node:path';
import { readGptFromFile } from '../gpt/file.js';
import type { LaunchFiles } from './launch-script.js';
import { buildIso, buildUsrInitramfs, extractEspFile, extractKernel, grubEfiPath } from './netboot.js';
import { writeLaunch, type VendorContext } from './vendor-context.js';

/** pxe: kernel + initramfs; iso: both inside a hybrid ISO. The baked image is only read. */
export async function writeNetbootVendor(ctx: VendorContext): Promise<void> {
  const { vendor, options, names, scratch } = ctx;
  const settings = ctx.registry.settings;
  const table = await readGptFromFile(options.bakedImage);
  const iso = vendor.kind === 'iso';
  if (options.bakedSysexts?.length) {
    // The initramfs carries /usr only; the baked sysexts and their /etc/extensions links live on ROOT and OEM.
    options.report.warn(
      `vendor ${vendor.id}: the baked sysexts (${options.bakedSysexts.join(', ')}) do not reach the ${vendor.id} image, which boots only /usr from its initramfs; deliver them with Ignition: \`flatbake butane\` writes the config`,
    );
  }
  const kernelName = names.companion('vmlinuz');
  const initrdName = names.image('cpio.gz');
  const kernel = path.join(iso ? scratch : ctx.dir, kernelName);
  const initrd = path.join(iso ? scratch : ctx.dir, initrdName);
  await extractKernel(options.bakedImage, table, settings.netboot.kernel, kernel);
  if (!iso) {
    // _write_cpio_disk (V:567-584): the image's own GRUB beside the kernel, for UEFI network boot.
    const grub = path.join(ctx.dir, `${names.machine}_grub.efi`);
    await extractEspFile(options.bakedImage, table, grubEfiPath(settings.netboot.grubEfi, options.arch, options.version), grub, 'GRUB EFI loader');
    ctx.files.push(grub);
  }
  await buildUsrInitramfs(options.backend, options.bakedImage, table, settings.netboot.squashfs, initrd, scratch);
  const launch: LaunchFiles = {};
  if (iso) {
    const isoName = names.image('iso');
    await buildIso(kernel, initrd, vendor.kernelCommandLine, settings.architectures[options.arch].isolinux, options.arch, path.join(ctx.dir, isoName), scratch);
    ctx.files.push(path.join(ctx.dir, isoName));
    launch.iso = isoName;
  } else {
    ctx.files.push(kernel, initrd);
    launch.kernel = kernelName;
    launch.initrd = initrdName;
  }
  if (vendor.config?.kind === 'qemu-launch') await writeLaunch(ctx, launch);
}
