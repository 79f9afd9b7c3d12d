import type { Arch } from '../arch.js';
/** Vendor records as the registry resolves them from `vendors/*.json` (defaults plus overrides). */

// Each union is derived from the list the registry checks vendors/*.json against, so the two cannot drift.
export const LAYOUT_NAMES = ['base', 'vm', 'azure', 'vagrant'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];
/** What a vendor produces: a converted disk, or no disk at all (a netboot kernel + initramfs, or an ISO of them). */
export const IMAGE_KINDS = ['disk', 'pxe', 'iso'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];
export const DISK_FORMATS = ['raw', 'qcow2', 'vpc', 'vhdx', 'vmdk', 'parallels'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];
export const CONFIG_KINDS = ['qemu-launch', 'vmx', 'ovf', 'xl', 'pvs'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];
export const BUNDLE_KINDS = ['ova', 'box', 'pvm'] as const;
export type BundleKind = (typeof BUNDLE_KINDS)[number];
/** How the qemu launch script boots: the disk through UEFI firmware, a kernel + initramfs, or a CD. */
export const LAUNCH_BOOTS = ['uefi-disk', 'kernel', 'cdrom'] as const;
export type LaunchBoot = (typeof LAUNCH_BOOTS)[number];

export interface GrubSettings {
  /** `set oem_id="..."` */
  oemId: string;
  /** `set linux_append="..."` */
  linuxAppend?: string;
  /** `set linux_console="..."` */
  linuxConsole?: string;
  /** A grub serial terminal (comUNIT at SPEED, 8n1). */
  serial?: { unit: number; speed: number };
  /** Console settings apply only on this grub platform (`$grub_platform`, e.g. `pc`). */
  consolePlatform?: string;
  /** `set linux_console="..."` when `$grub_cpu` is arm64 (it replaces linuxConsole there, as oem/azure/grub.cfg does). */
  linuxConsoleArm64?: string;
}

export interface OemSpec {
  /** The OEM id: `oem-<id>.raw` beside the image, `/oem/sysext/active-oem-<id>`. */
  id: string;
  /** Name of the OEM sysext (its extension-release is `extension-release.<sysext>`). */
  sysext: string;
  grub: GrubSettings;
}

export type QemuImgOptionValue = string | number | boolean;

export interface DiskSpec {
  format: DiskFormat;
  /** qemu-img `-o` options (`true` renders as `=on`). */
  options: Record<string, QemuImgOptionValue>;
  /** qemu-img convert `-c` (qcow2 only). */
  compressed: boolean;
  /** Extension of the published file. */
  extension: string;
  /** Resize the converted disk to exactly this many bytes (it may only grow). */
  virtualSizeBytes?: number;
  /** Publish the disk inside an archive (gce: `disk.raw` in a sparse tar.gz). */
  archive?: { format: 'tar.gz'; member: string };
  /** Which name template the published disk takes: `image` (default) or `companion` (gce: `flatcar_production_gce.tar.gz`). */
  name?: 'image' | 'companion';
  /**
   * The SDK's other names of this disk: relative symlinks `flatcar_production_<vendor>_image.<ext>` beside it, on the
   * architectures listed (all when absent), from a Flatcar major on (vm_image_util.sh write_vm_disk, qemu and qemu_uefi_secure).
   */
  aliases?: DiskAlias[];
}

export interface DiskAlias {
  vendor: string;
  from: number;
  architectures?: Arch[];
}

export interface ConfigSpec {
  kind: ConfigKind;
  extension: string;
  /** qemu-launch: how the script boots. */
  boot?: LaunchBoot;
  /** ovf: the VirtualSystemType (`vmx-11`, `virtualbox-2.2`). */
  system?: string;
  /** qemu-launch uefi-disk: also write the `<vendor>_secure` launch script and Secure Boot firmware beside it (the SDK's qemu_uefi_secure). */
  secureVariant?: SecureVariantSpec;
}

/** What the SDK enrolls in the Secure Boot variables of `<vendor>_secure`, by Flatcar major. */
export interface SecureVariantSpec {
  /** SignatureOwner GUID of the added db entries (the SDK's `owner`). */
  owner: string;
  /**
   * From a major on (to the next era's): the certificate files (in vendors/secure-boot/) added to db,
   * in order; null where the SDK enrolled its keys another way that flatbake does not write (no variant then).
   */
  eras: Array<{ from: number; db: string[] | null }>;
}

export interface BundleSpec {
  kind: BundleKind;
  extension: string;
  /** box: the Vagrant provider (`virtualbox`, `parallels`). */
  provider?: string;
  /** ova, box with an OVF: the VirtualSystemType. */
  system?: string;
}

/** How the SDK of a release writes a vendor's OEM: an OEM sysext (flatbake installs it), an OEM package (flatbake cannot), no OEM at all, or not at all (no such image). */
export const OEM_FORMS = ['sysext', 'package', 'none', 'absent'] as const;
export type OemForm = (typeof OEM_FORMS)[number];

/** From Flatcar major `from` up to the next era's: the OEM form and the architectures with an image. */
export interface ReleaseEra {
  from: number;
  oem: OemForm;
  architectures: Arch[];
}

export interface VendorRecord {
  id: string;
  description: string;
  architectures: Arch[];
  kind: ImageKind;
  /** null for pxe and iso (no disk). */
  layout: { name: LayoutName; rootSectors: number | null } | null;
  oem: OemSpec | null;
  disk: DiskSpec | null;
  config: ConfigSpec | null;
  bundle: BundleSpec | null;
  /** Kernel command line of netboot kinds (pxe, iso). */
  kernelCommandLine: string;
  vm: { memoryMiB: number; cpus: number };
  /** Flatcar's SDK history for this vendor, oldest era first (vendors.json `releases`). */
  releases: ReleaseEra[];
}

export interface UefiFirmware {
  code: string;
  vars: string;
  /** Debian package providing both. */
  package: string;
}

/** Firmware that enforces Secure Boot: its variables hold enrolled keys with Secure Boot on. */
export interface SecureBootFirmware extends UefiFirmware {
  /** The code keeps its variable store safe only in SMM (OVMF's secboot build): qemu needs `smm=on` and a secure pflash. */
  smm: boolean;
}

export interface IsolinuxFiles {
  loader: string;
  hybridMbr: string;
  modules: string[];
  packages: string;
}

/** Per-architecture host facts the launch scripts and the ISO need. */
export interface ArchSettings {
  qemu: string;
  machine: string;
  kvmCpu: string;
  fallbackCpu: string;
  console: string;
  vagrantArchitecture: string;
  uefiFirmware: UefiFirmware;
  secureBootFirmware: SecureBootFirmware;
  isolinux: IsolinuxFiles | null;
}

export interface NameTemplates {
  /** The unversioned stem (`flatcar_production_{vendor}`): launch scripts, the VMware OVF's name. */
  machine: string;
  /** The VM name in .vmx, xl, VirtualBox OVF and .pvs configs, with `{version}` (made hostname-safe). */
  vm: string;
  image: string;
  companion: string;
  firmware: string;
}

export interface VendorSettings {
  diskAlignmentSectors: number;
  names: NameTemplates;
  netboot: {
    kernel: string;
    squashfs: string;
    /** Where the pxe vendor's GRUB (flatcar_production_pxe_grub.efi) is on EFI-SYSTEM, per era of Flatcar majors, oldest first. */
    grubEfi: ReadonlyArray<{ from: number; path: Record<Arch, string> }>;
  };
  architectures: Record<Arch, ArchSettings>;
}

/** An image type Flatcar's SDK once wrote that flatbake does not (vendors/retired.json). */
export interface RetiredVendor {
  id: string;
  /** First and last surveyed Flatcar majors whose SDK lists it. */
  from: number;
  until: number;
  /** What became of it, from the SDK's changelog. */
  why: string;
  /** The vendor to use now, if any. */
  instead: string | null;
}
