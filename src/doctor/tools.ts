/** A host tool flatbake runs, what for, and the Debian package that provides it. */
export interface HostTool {
  command: string;
  package: string;
  purpose: string;
  /** Needed by the core bake (missing -> doctor fails). */
  required: boolean;
}

/** A data file (firmware, boot loader module) a command reads: checked for existence, not for being executable. */
export interface HostFile {
  path: string;
  package: string;
  purpose: string;
}

/** The core tools; the backends' (src/backend/tools.ts), the vendors' and boot's are listed beside theirs. */
export const HOST_TOOLS: readonly HostTool[] = [
  { command: 'gpg', package: 'gnupg', purpose: 'verify the OpenPGP signatures of releases', required: true },
  { command: 'lbzip2', package: 'lbzip2', purpose: 'parallel decompression of the image (.bz2)', required: false },
  { command: 'bzip2', package: 'bzip2', purpose: 'decompression of the image when lbzip2 is missing', required: true },
  { command: 'setpriv', package: 'util-linux', purpose: 'every host tool runs under its parent-death signal, so none outlives flatbake', required: true },
  { command: 'dd', package: 'coreutils', purpose: 'write the decompressed image sparse', required: true },
  { command: 'cp', package: 'coreutils', purpose: 'stage private copies of the base image', required: true },
  { command: 'mkfifo', package: 'coreutils', purpose: 'the pipe from the decompressor to dd', required: true },
  { command: 'filefrag', package: 'e2fsprogs', purpose: 'find the data in sparse images, so digests skip holes (else everything is read)', required: false },
  { command: 'mkfs.ext4', package: 'e2fsprogs', purpose: 'ext4 sysext images; the synthetic demo release', required: true },
  { command: 'mkfs.btrfs', package: 'btrfs-progs', purpose: 'btrfs sysext images; the synthetic demo release (USR-A, OEM)', required: true },
  { command: 'mkfs.vfat', package: 'dosfstools', purpose: 'the synthetic demo release (EFI-SYSTEM)', required: true },
  { command: 'mcopy', package: 'mtools', purpose: 'write and read the EFI partition without mounting', required: true },
  { command: 'mksquashfs', package: 'squashfs-tools', purpose: 'squashfs sysext images (the default format)', required: true },
  { command: 'unsquashfs', package: 'squashfs-tools', purpose: 'read squashfs sysexts (sysext check)', required: true },
  { command: 'mkfs.erofs', package: 'erofs-utils', purpose: 'erofs sysext images', required: false },
  { command: 'qemu-img', package: 'qemu-utils', purpose: 'vendor disk formats (qcow2, vhd, vhdx, vmdk)', required: false },
  { command: 'sgdisk', package: 'gdisk', purpose: 'the synthetic demo release partition table; GPT checks in tests', required: true },
  { command: 'readelf', package: 'binutils', purpose: 'ELF checks of sysext binaries (optional)', required: false },
  { command: 'zstd', package: 'zstd', purpose: 'tar.zst recipe downloads (ollama >= 0.14.0, kata-containers >= 3.21.0), unpacked by tar through zstd', required: false },
  { command: 'unzip', package: 'unzip', purpose: 'zip recipe archives (consul, nomad, vault)', required: false },
  { command: 'bwrap', package: 'bubblewrap', purpose: 'oci-rootfs --run and flatwrap wrappers as a normal user', required: false },
  { command: 'unshare', package: 'util-linux', purpose: 'oci-rootfs --run and flatwrap without bubblewrap (as root)', required: false },
  { command: 'gpgv', package: 'gpgv', purpose: 'Debian packages (the tilde recipe, the bootable synthetic release): check the signed InRelease (keys from debian-archive-keyring)', required: false },
  { command: 'xz', package: 'xz-utils', purpose: 'Debian packages (the tilde recipe, the bootable synthetic release): the Packages.xz index', required: false },
  { command: 'patchelf', package: 'patchelf', purpose: 'flix: point binaries at their private libraries', required: false },
  { command: 'tar', package: 'tar', purpose: 'recipe archives, Torcx images, bundles', required: true },
  { command: 'gcc', package: 'build-essential', purpose: 'recipes built from source (keepalived, chrony, bird, haproxy; haproxy also needs liblua5.4-dev libcap-dev zlib1g-dev)', required: false },
  { command: 'bison', package: 'bison', purpose: 'the bird recipe\'s build (with flex, m4, libreadline-dev, libncurses-dev)', required: false },
  { command: 'pkg-config', package: 'pkgconf', purpose: 'recipes built from source: keepalived finds libnftnl, libmnl, libpcre2 and libnl (with libpcre2-dev libnl-3-dev libnl-genl-3-dev libssl-dev)', required: false },
];

