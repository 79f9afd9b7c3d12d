/**
 * The UEFI boot loader of the bootable synthetic release: Debian's GRUB
 * (grub-efi-amd64-bin) as EFI/boot/bootx64.efi with its prefix at
 * /flatcar/grub, like Flatcar's, and a grub.cfg shaped after Flatcar's
 * build_library/grub.cfg (flatcar/scripts, stable-4459.2.1, Apache-2.0): the
 * same variables, the OEM partition's grub.cfg sourced, the same command line.
 * Two differences, both because Debian's GRUB lacks Flatcar's patches: the OEM
 * partition is found by its filesystem label (no `search --part-label`), and
 * the default entry boots USR-A (no `gptprio.next`). The kernel is Debian's, so
 * the initramfs is a file beside it (Flatcar links its initrd into vmlinuz).
 */
import { run } from '../../util/exec.js';
import { USR_A_GUID } from '../synthetic-disk.js';

/** GRUB modules built into the EFI image (no module directory is read at boot). */
export const GRUB_MODULES = [
  'part_gpt', 'fat', 'btrfs', 'ext2', 'normal', 'linux', 'search', 'search_label', 'search_fs_uuid', 'search_fs_file',
  'configfile', 'test', 'echo', 'all_video', 'serial', 'terminal', 'sleep', 'cat', 'ls', 'reboot', 'halt',
] as const;

export const GRUB_PREFIX = '/flatcar/grub';

export async function buildGrubEfi(output: string, grubLibDir = '/usr/lib/grub/x86_64-efi'): Promise<void> {
  await run('grub-mkimage', ['-O', 'x86_64-efi', '-d', grubLibDir, '-p', GRUB_PREFIX, '-o', output, ...GRUB_MODULES], {
    purpose: 'build the synthetic release\'s EFI boot loader',
    hint: 'install grub-common and grub-efi-amd64-bin (scripts/setup.sh does)',
  });
}

/** /flatcar/grub/grub.cfg on EFI-SYSTEM. */
export function grubCfg(): string {
  return `# Main GRUB config of the flatbake synthetic release, after Flatcar's build_library/grub.cfg
set default="flatcar"
set timeout=0

# Default kernel args for root filesystem, console, and Flatcar.
set linux_root="root=LABEL=ROOT"
set linux_console=""
set first_boot=""
set oem_id=""

# Anything else the OEM adds should use this variable.
set linux_append=""

# Search for the OEM partition, load additional configuration if found.
# (Flatcar: search --part-label OEM, a Flatcar GRUB patch; the OEM btrfs carries the label OEM too.)
search --no-floppy --set oem --label OEM --hint "$root"
if [ -n "$oem" -a -f "($oem)/grub.cfg" ]; then
    source "($oem)/grub.cfg"
fi

if [ -f "($root)/flatcar/first_boot" ]; then
    set first_boot="flatcar.first_boot=detected"
fi

set oem=""
if [ -n "$oem_id" ]; then
    set oem="flatcar.oem.id=$oem_id"
fi

if [ -z "$linux_console" ]; then
    set linux_console="console=ttyS0,115200n8 console=tty0"
fi

set linux_cmdline="rootflags=rw mount.usrflags=ro consoleblank=0 $linux_root $linux_console $first_boot $oem $linux_append"

# Flatcar picks USR-A or USR-B with gptprio.next; Debian's GRUB has no gptprio, so USR-A it is.
menuentry "Flatcar default" --id=flatcar {
    linux /flatcar/vmlinuz-a mount.usr=PARTUUID=${USR_A_GUID} $linux_cmdline
    initrd /flatcar/initrd-a
}

menuentry "Flatcar USR-A" --id=flatcar-a {
    linux /flatcar/vmlinuz-a mount.usr=PARTLABEL=USR-A $linux_cmdline
    initrd /flatcar/initrd-a
}
`;
}
