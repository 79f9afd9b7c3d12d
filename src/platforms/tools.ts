import type { HostFile, HostTool } from '../doctor/tools.js';

/** Host tools the vendor writer runs, for `flatbake doctor` (none is needed by the generic bake). */
export const VENDOR_HOST_TOOLS: readonly HostTool[] = [
  { command: 'qemu-img', package: 'qemu-utils', purpose: 'vendor disk formats (qcow2, vhd, vhdx, vmdk, parallels) and the qemu_uefi firmware copies', required: false },
  { command: 'e2fsck', package: 'e2fsprogs', purpose: 'check ROOT before growing it for vendor layouts', required: false },
  { command: 'resize2fs', package: 'e2fsprogs', purpose: 'grow ROOT for vendor layouts', required: false },
  { command: 'tar', package: 'tar', purpose: 'gce tar.gz, OVA and Vagrant box bundles', required: false },
  { command: 'gzip', package: 'gzip', purpose: 'gce tar.gz, Vagrant boxes, the pxe initramfs', required: false },
  { command: 'mcopy', package: 'mtools', purpose: 'read the kernel out of EFI-SYSTEM for pxe and iso', required: false },
  { command: 'mksquashfs', package: 'squashfs-tools', purpose: 'usr.squashfs of the pxe/iso initramfs', required: false },
  { command: 'cpio', package: 'cpio', purpose: 'the pxe/iso initramfs', required: false },
  { command: 'xorriso', package: 'xorriso', purpose: 'the hybrid iso (with isolinux and syslinux-common for its boot loader)', required: false },
];

/** Data files (not programs: check that they exist, not that they are executable) the vendor writer reads. */
export const VENDOR_HOST_FILES: readonly HostFile[] = [
  { path: '/usr/lib/ISOLINUX/isolinux.bin', package: 'isolinux', purpose: 'boot loader of the iso vendor' },
  { path: '/usr/lib/ISOLINUX/isohdpfx.bin', package: 'isolinux', purpose: 'hybrid MBR of the iso vendor' },
  { path: '/usr/lib/syslinux/modules/bios/ldlinux.c32', package: 'syslinux-common', purpose: 'boot loader module of the iso vendor' },
  { path: '/usr/share/OVMF/OVMF_CODE.fd', package: 'ovmf', purpose: 'UEFI firmware shipped with qemu_uefi (x86-64)' },
  { path: '/usr/share/OVMF/OVMF_VARS.fd', package: 'ovmf', purpose: 'UEFI variables shipped with qemu_uefi (x86-64)' },
  { path: '/usr/share/AAVMF/AAVMF_CODE.fd', package: 'qemu-efi-aarch64', purpose: 'UEFI firmware shipped with qemu_uefi (arm64)' },
  { path: '/usr/share/AAVMF/AAVMF_VARS.fd', package: 'qemu-efi-aarch64', purpose: 'UEFI variables shipped with qemu_uefi (arm64)' },
  { path: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', package: 'ovmf', purpose: 'Secure Boot firmware of the qemu_uefi_secure script (x86-64)' },
  { path: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd', package: 'ovmf', purpose: 'UEFI variables with Microsoft keys and Secure Boot on, for qemu_uefi_secure (x86-64)' },
  { path: '/usr/share/AAVMF/AAVMF_CODE.ms.fd', package: 'qemu-efi-aarch64', purpose: 'Secure Boot firmware of the qemu_uefi_secure script (arm64)' },
  { path: '/usr/share/AAVMF/AAVMF_VARS.ms.fd', package: 'qemu-efi-aarch64', purpose: 'UEFI variables with Microsoft keys and Secure Boot on, for qemu_uefi_secure (arm64)' },
];
