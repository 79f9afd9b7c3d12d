/**
 * Finding partitions by label. Flatcar's table has gaps (entries 5 and 8 are
 * blank), so position is never a reliable way to find a partition.
 */
import { GptError, type GptPartition, type GptTable } from './types.js';
import { parseGuid } from './guid.js';

export const GUID_EFI_SYSTEM = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const GUID_BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649';
/** Flatcar (CoreOS) /usr partition, used for both USR-A and USR-B. */
export const GUID_FLATCAR_USR = '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6';
/** Plain Linux filesystem data, used for OEM. */
export const GUID_LINUX_FILESYSTEM = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
export const GUID_FLATCAR_OEM_CONFIG = 'C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0';
/** Flatcar (CoreOS) resizable root. */
export const GUID_FLATCAR_ROOT = '3884DD41-8582-4404-B9A8-E9B84F2DF50E';

/** Fixed unique GUIDs of the two /usr slots. */
export const FLATCAR_USR_A_UNIQUE_GUID = '7130C94A-213A-4E5A-8E26-6CCE9662F132';
export const FLATCAR_USR_B_UNIQUE_GUID = 'E03DD35C-7C2D-4A47-B3FE-27F15780A57C';

export type FlatcarLabel = 'EFI-SYSTEM' | 'BIOS-BOOT' | 'USR-A' | 'USR-B' | 'OEM' | 'OEM-CONFIG' | 'ROOT';

export interface FlatcarPartitionSpec {
  label: FlatcarLabel;
  number: number;
  typeGuid: string;
  /** Filesystem on the partition in the generic image ('none' for raw or reserved partitions). */
  filesystem: 'vfat' | 'btrfs' | 'ext4' | 'none';
  /** Size in 512-byte sectors in the generic image. */
  sizeSectors: number;
}

/** The generic image's partitions (flatcar/scripts build_library/disk_layout.json, layout "base"); 5 and 8 are deliberately absent. */
export const FLATCAR_PARTITIONS: readonly FlatcarPartitionSpec[] = Object.freeze([
  { label: 'EFI-SYSTEM', number: 1, typeGuid: GUID_EFI_SYSTEM, filesystem: 'vfat', sizeSectors: 2097152 },
  { label: 'BIOS-BOOT', number: 2, typeGuid: GUID_BIOS_BOOT, filesystem: 'none', sizeSectors: 4096 },
  { label: 'USR-A', number: 3, typeGuid: GUID_FLATCAR_USR, filesystem: 'btrfs', sizeSectors: 4194304 },
  { label: 'USR-B', number: 4, typeGuid: GUID_FLATCAR_USR, filesystem: 'none', sizeSectors: 4194304 },
  { label: 'OEM', number: 6, typeGuid: GUID_LINUX_FILESYSTEM, filesystem: 'btrfs', sizeSectors: 2097152 },
  { label: 'OEM-CONFIG', number: 7, typeGuid: GUID_FLATCAR_OEM_CONFIG, filesystem: 'none', sizeSectors: 131072 },
  { label: 'ROOT', number: 9, typeGuid: GUID_FLATCAR_ROOT, filesystem: 'ext4', sizeSectors: 3653632 },
]);

/** Partitions are aligned to this many 512-byte sectors (2 MiB). */
export const FLATCAR_PARTITION_ALIGN_SECTORS = 4096;

/**
 * The partition named exactly `label` (case-sensitive, as GPT names are). With
 * `expectedTypeGuid`, its type must match too.
 */
export function locatePartition(table: GptTable, label: string, expectedTypeGuid?: string): GptPartition {
  const matches = table.partitions.filter((p) => p.name === label);
  if (matches.length === 0) {
    const names = table.partitions.map((p) => p.name || `#${p.number} (unnamed)`).join(', ');
    throw new GptError(
      'label-missing',
      `no partition labelled ${label}: is this a Flatcar image? (partitions found: ${names || 'none'})`,
    );
  }
  if (matches.length > 1) {
    throw new GptError(
      'label-duplicate',
      `${matches.length} partitions are labelled ${label} (numbers ${matches.map((p) => p.number).join(', ')}): the image is ambiguous; rename the extra ones with \`sgdisk -c N:NAME <image>\``,
    );
  }
  const partition = matches[0]!;
  if (expectedTypeGuid !== undefined) {
    const expected = parseGuid(expectedTypeGuid);
    if (partition.typeGuid !== expected) {
      throw new GptError(
        'wrong-type',
        `partition ${label} has type ${partition.typeGuid}, expected ${expected}: this does not look like a Flatcar image`,
      );
    }
  }
  return partition;
}

/** locatePartition() with the label's type GUID from FLATCAR_PARTITIONS. */
export function locateFlatcarPartition(table: GptTable, label: FlatcarLabel): GptPartition {
  const spec = FLATCAR_PARTITIONS.find((s) => s.label === label);
  if (!spec) throw new RangeError(`${label} is not a Flatcar partition label`);
  return locatePartition(table, label, spec.typeGuid);
}
