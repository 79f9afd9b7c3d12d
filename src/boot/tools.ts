import type { HostFile, HostTool } from '../doctor/tools.js';

/** Host tools of `flatbake boot` and of the bootable synthetic release (`demo --boot`, the boot tests). */
export const BOOT_HOST_TOOLS: readonly HostTool[] = [
  { command: 'qemu-system-x86_64', package: 'qemu-system-x86', purpose: 'flatbake boot of x86-64 images', required: false },
  { command: 'qemu-system-aarch64', package: 'qemu-system-arm', purpose: 'flatbake boot of arm64 images', required: false },
  { command: 'setpriv', package: 'util-linux', purpose: 'flatbake boot: QEMU dies with flatbake (parent-death signal)', required: false },
  { command: 'grub-mkimage', package: 'grub-common', purpose: 'the bootable synthetic release\'s UEFI GRUB (demo --boot)', required: false },
  // The bootable release's Debian packages come through src/packages/debian.ts: gpgv, xz and
  // debian-archive-keyring, listed with the tilde recipe's tools in doctor/tools.ts.
];

/** Firmware and modules they read (OVMF/AAVMF are listed with the vendor files). */
export const BOOT_HOST_FILES: readonly HostFile[] = [
  { path: '/usr/share/OVMF/OVMF_CODE_4M.fd', package: 'ovmf', purpose: 'UEFI firmware flatbake boot runs x86-64 guests with' },
  { path: '/usr/lib/grub/x86_64-efi/linux.mod', package: 'grub-efi-amd64-bin', purpose: 'GRUB modules of the bootable synthetic release' },
];
