import type { HostFile, HostTool } from '../doctor/tools.js';

/** Host tools of `flatbake boot` and of the bootable synthetic release (`demo --boot`, the boot tests). */
export const BOOT_HOST_TOOLS: readonly HostTool[] = [
  { command: 'qemu-system-x86_64', package: 'qemu-system-x86', purpose: 'flatbake boot of x86-64 images', required: false },
  { command: 'qemu-system-aarch64', package: 'qemu-system-arm', purpose: 'flatbake boot of arm64 images', required: false },
  { command: 'setpriv', package: 'util-linux', purpose: 'flatbake boot: QEMU dies with flatbake (parent-death signal)', required: false },
  { command: 'grub-mkimage', package: 'grub-common', purpose: 'the bootable synthetic release\'s UEFI GRUB (demo --boot)', required: false },
  { command: 'apt-get', package: 'apt', purpose: 'fetch the Debian kernel and systemd of the bootable synthetic release', required: false },
  { command: 'dpkg-deb', package: 'dpkg', purpose: 'unpack those Debian packages', required: false },
];

/** Firmware and modules they read (OVMF/AAVMF are listed with the vendor files). */
export const BOOT_HOST_FILES: readonly HostFile[] = [
  { path: '/usr/share/OVMF/OVMF_CODE_4M.fd', package: 'ovmf', purpose: 'UEFI firmware flatbake boot runs x86-64 guests with' },
  { path: '/usr/lib/grub/x86_64-efi/linux.mod', package: 'grub-efi-amd64-bin', purpose: 'GRUB modules of the bootable synthetic release' },
];
