/**
 * The disk half of the synthetic Flatcar release: the GPT layout of the
 * generic image (real or shrunk), the partition table written with sgdisk,
 * and the filesystems, each made in a file of its own without any mount and
 * then copied into the disk at its partition's offset.
 */
import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError, InputError } from '../errors.js';
import { run } from '../util/exec.js';
import { grubCfg, GRUB_PREFIX, type BootParts } from './bootable/index.js';
import type { Arch } from '../arch.js';

export type SyntheticScale = 'small' | 'full';

export const SECTOR_BYTES = 512;
/** Partitions start on 2 MiB boundaries, as in Flatcar's disk_layout.json. */
export const PARTITION_ALIGNMENT = 4096;
/** The disk size is a multiple of both the partition alignment and a 16x63 CHS cylinder. */
export const DISK_ALIGNMENT = 258048;
/** Sectors a GPT needs at either end of the disk (protective MBR + header + 32 sectors of entries). */
const GPT_RESERVED_SECTORS = 34;
/** Flatcar builds with a fixed disk GUID; first boot randomises it. */
export const DISK_GUID = '00000000-0000-0000-0000-000000000001';

export const TYPE_GUID = {
  efi: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  bios: '21686148-6449-6E6F-744E-656564454649',
  flatcarUsr: '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6',
  linuxData: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  flatcarReserved: 'C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0',
  flatcarResize: '3884DD41-8582-4404-B9A8-E9B84F2DF50E',
} as const;

export const USR_A_GUID = '7130c94a-213a-4e5a-8e26-6cce9662f132';
export const USR_B_GUID = 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c';

export type FsType = 'vfat' | 'btrfs' | 'ext4';

export interface PartitionPlan {
  number: number;
  label: string;
  typeGuid: string;
  /** Fixed for USR-A/USR-B; derived from a seed for the others so builds repeat. */
  uniqueGuid: string;
  sectors: number;
  fs?: FsType;
  fsLabel?: string;
  /** Filesystem size when it is smaller than the partition (USR-A keeps room for dm-verity). */
  fsBytes?: number;
  /** GPT attribute bits to set (ChromeOS-style priority/successful bits on USR-A). */
  attributeBits?: number[];
}

export interface PartitionLayoutEntry {
  number: number;
  label: string;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  sectors: number;
  offsetBytes: number;
  sizeBytes: number;
  fs?: FsType;
  fsLabel?: string;
  fsBytes: number;
  attributeBits: number[];
}

export interface DiskLayout {
  scale: SyntheticScale;
  diskGuid: string;
  diskSectors: number;
  diskBytes: number;
  partitions: PartitionLayoutEntry[];
}

const MiB_SECTORS = (1024 * 1024) / SECTOR_BYTES;

/** Sector counts per partition number: the real ones, or small ones that keep every other property. */
const SECTORS: Record<SyntheticScale, Record<number, number>> = {
  full: { 1: 2097152, 2: 4096, 3: 4194304, 4: 4194304, 6: 2097152, 7: 131072, 9: 3653632 },
  // vfat needs 64 MiB for a FAT32 with enough clusters; btrfs needs ~110 MiB at least.
  small: { 1: 64 * MiB_SECTORS, 2: 2 * MiB_SECTORS, 3: 128 * MiB_SECTORS, 4: 128 * MiB_SECTORS, 6: 128 * MiB_SECTORS, 7: 2 * MiB_SECTORS, 9: 64 * MiB_SECTORS },
};

/** Flatcar's USR-A filesystem is 260094 4 KiB blocks; the rest of the partition is for the verity hash tree. */
const FULL_USR_FS_BYTES = 260094 * 4096;

function alignUp(value: number, alignment: number): number {
  const rest = value % alignment;
  return rest === 0 ? value : value + alignment - rest;
}

/** A stable UUID (version-4 shaped) from a seed, so repeated builds produce the same tables. */
export function seededUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The partitions of the generic image, in table order (5 and 8 stay empty). */
export function planPartitions(scale: SyntheticScale, seed: string): PartitionPlan[] {
  const s = SECTORS[scale];
  const guid = (n: number) => seededUuid(`${seed}:partition:${n}`);
  return [
    { number: 1, label: 'EFI-SYSTEM', typeGuid: TYPE_GUID.efi, uniqueGuid: guid(1), sectors: s[1]!, fs: 'vfat', fsLabel: 'EFI-SYSTEM' },
    { number: 2, label: 'BIOS-BOOT', typeGuid: TYPE_GUID.bios, uniqueGuid: guid(2), sectors: s[2]! },
    {
      number: 3,
      label: 'USR-A',
      typeGuid: TYPE_GUID.flatcarUsr,
      uniqueGuid: USR_A_GUID,
      sectors: s[3]!,
      fs: 'btrfs',
      fsLabel: 'USR-A',
      fsBytes: scale === 'full' ? FULL_USR_FS_BYTES : undefined,
      // priority=1 (bit 48) and successful=1 (bit 56): what the build's "prioritize" feature sets.
      attributeBits: [48, 56],
    },
    { number: 4, label: 'USR-B', typeGuid: TYPE_GUID.flatcarUsr, uniqueGuid: USR_B_GUID, sectors: s[4]! },
    { number: 6, label: 'OEM', typeGuid: TYPE_GUID.linuxData, uniqueGuid: guid(6), sectors: s[6]!, fs: 'btrfs', fsLabel: 'OEM' },
    { number: 7, label: 'OEM-CONFIG', typeGuid: TYPE_GUID.flatcarReserved, uniqueGuid: guid(7), sectors: s[7]! },
    { number: 9, label: 'ROOT', typeGuid: TYPE_GUID.flatcarResize, uniqueGuid: guid(9), sectors: s[9]!, fs: 'ext4', fsLabel: 'ROOT' },
  ];
}

/** Place the partitions the way Flatcar's disk_util does: each aligned, the disk rounded to DISK_ALIGNMENT. */
export function computeLayout(scale: SyntheticScale, seed: string): DiskLayout {
  let cursor = GPT_RESERVED_SECTORS;
  const partitions: PartitionLayoutEntry[] = [];
  for (const p of planPartitions(scale, seed)) {
    cursor = alignUp(cursor, PARTITION_ALIGNMENT);
    const sizeBytes = p.sectors * SECTOR_BYTES;
    partitions.push({
      number: p.number,
      label: p.label,
      typeGuid: p.typeGuid,
      uniqueGuid: p.uniqueGuid,
      firstLba: cursor,
      lastLba: cursor + p.sectors - 1,
      sectors: p.sectors,
      offsetBytes: cursor * SECTOR_BYTES,
      sizeBytes,
      fs: p.fs,
      fsLabel: p.fsLabel,
      fsBytes: p.fsBytes ?? sizeBytes,
      attributeBits: p.attributeBits ?? [],
    });
    cursor += p.sectors;
  }
  const diskSectors = alignUp(cursor + GPT_RESERVED_SECTORS, DISK_ALIGNMENT);
  return { scale, diskGuid: DISK_GUID, diskSectors, diskBytes: diskSectors * SECTOR_BYTES, partitions };
}

/**
 * Create (or replace) a sparse disk file of the layout's size and write its GPT with sgdisk.
 * Cheap even for 'full': nothing but the two tables is written.
 */
export async function writePartitionTable(imagePath: string, layout: DiskLayout): Promise<void> {
  const fh = await open(imagePath, 'w');
  try {
    await fh.truncate(layout.diskBytes);
  } finally {
    await fh.close();
  }
  const args = ['--clear', '--set-alignment', String(PARTITION_ALIGNMENT), '--disk-guid', layout.diskGuid];
  for (const p of layout.partitions) {
    args.push(
      `--new=${p.number}:${p.firstLba}:${p.lastLba}`,
      `--typecode=${p.number}:${p.typeGuid}`,
      `--change-name=${p.number}:${p.label}`,
      `--partition-guid=${p.number}:${p.uniqueGuid}`,
    );
    for (const bit of p.attributeBits) args.push(`--attributes=${p.number}:set:${bit}`);
  }
  args.push(imagePath);
  await run('sgdisk', args, { purpose: 'write the synthetic partition table' });
}

/** Set every path under dir (and dir) to one timestamp so filesystem builders copy stable times. */
export async function stampTree(dir: string, epochSeconds: number): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await stampTree(p, epochSeconds);
    else if (!e.isSymbolicLink()) await utimes(p, epochSeconds, epochSeconds);
  }
  await utimes(dir, epochSeconds, epochSeconds);
}

/** Write `bytes` of incompressible random data, in chunks so 450 MB never sits in memory. */
export async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const chunk = Buffer.allocUnsafe(Math.min(bytes, 4 * 1024 * 1024) || 1);
    let written = 0;
    while (written < bytes) {
      const n = Math.min(chunk.length, bytes - written);
      randomFillSync(chunk, 0, n);
      await fh.write(chunk, 0, n, written);
      written += n;
    }
  } finally {
    await fh.close();
  }
}

async function sparseFile(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
}

/** Copy a filesystem image into the disk at a byte offset, skipping zero blocks so the disk stays sparse. */
async function writeAtOffset(fsImage: string, disk: string, offset: number): Promise<void> {
  await run(
    'dd',
    [`if=${fsImage}`, `of=${disk}`, 'bs=64K', `seek=${offset}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none'],
    { purpose: 'copy a filesystem into the synthetic disk' },
  );
}

export interface FilesystemContent {
  version: string;
  arch: Arch;
  board: string;
  seed: string;
  sourceDateEpoch: number;
  usrPayloadBytes: number;
  buildId: string;
  /** The update group /usr/share/flatcar/update.conf names (the channel); none: no update.conf. */
  group?: string;
  /** Kernel, initramfs, GRUB and a systemd /usr: the disk boots (see bootable/index.ts). */
  boot?: BootParts;
}

/** /usr/lib/os-release as a Flatcar USR partition carries it. */
export function osRelease(c: { version: string; board: string; buildId: string }): string {
  return [
    'NAME="Flatcar Container Linux by Kinvolk"',
    'ID=flatcar',
    'ID_LIKE=coreos',
    `VERSION=${c.version}`,
    `VERSION_ID=${c.version}`,
    `BUILD_ID=${c.buildId}`,
    'SYSEXT_LEVEL=1.0',
    `PRETTY_NAME="Flatcar Container Linux by Kinvolk ${c.version} (Synthetic)"`,
    'ANSI_COLOR="38;5;75"',
    'HOME_URL="https://flatcar.org/"',
    'BUG_REPORT_URL="https://issues.flatcar.org"',
    `FLATCAR_BOARD="${c.board}"`,
    `CPE_NAME="cpe:2.3:o:flatcar-linux:flatcar_linux:${c.version}:*:*:*:*:*:*:*"`,
    '',
  ].join('\n');
}

/** The largest payload USR-A takes: btrfs keeps some of the filesystem for its own metadata. */
export function usrPayloadLimit(usrA: PartitionLayoutEntry): number {
  return usrA.fsBytes - 48 * 1024 * 1024;
}

/** Where the payload lands on USR-A (relative to the filesystem root, i.e. under /usr). */
export const USR_PAYLOAD_PATH = 'share/flatcar/synthetic-payload.bin';

const env = (epoch: number) => ({ SOURCE_DATE_EPOCH: String(epoch), E2FSPROGS_FAKE_TIME: String(epoch), MTOOLS_SKIP_CHECK: '1' });

async function buildEfi(work: string, part: PartitionLayoutEntry, c: FilesystemContent): Promise<string> {
  const img = path.join(work, 'efi.img');
  const files = path.join(work, 'efi-files');
  await mkdir(files, { recursive: true });
  // A stand-in kernel: recognisable text plus some bytes, so copies can be compared.
  const kernel = Buffer.concat([Buffer.from(`synthetic Flatcar kernel ${c.version} ${c.board}\n`), createHash('sha512').update(c.seed).digest()]);
  await writeFile(path.join(files, 'vmlinuz-a'), kernel);
  await writeFile(path.join(files, 'boot.efi'), `synthetic EFI loader for ${c.arch}\n`);
  await stampTree(files, c.sourceDateEpoch);
  await sparseFile(img, part.fsBytes);
  const volumeId = seededUuid(`${c.seed}:efi`).replace(/-/g, '').slice(0, 8);
  const e = env(c.sourceDateEpoch);
  await run('mkfs.vfat', ['-F', '32', '-n', 'EFI-SYSTEM', '-i', volumeId, img], { env: e, purpose: 'format the synthetic EFI-SYSTEM' });
  const loader = c.arch === 'arm64' ? 'bootaa64.efi' : 'bootx64.efi';
  if (c.boot) {
    await writeFile(path.join(files, 'grub.cfg'), grubCfg());
    await run('mmd', ['-i', img, '::/EFI', '::/EFI/boot', '::/flatcar', '::/flatcar/grub'], { env: e, purpose: 'create EFI-SYSTEM directories' });
    const copies: Array<[string, string]> = [
      [c.boot.grubEfi, `::/EFI/boot/${loader}`],
      // Where x86-64 Flatcar keeps GRUB beside the shim (here GRUB itself is the loader).
      ...(c.arch !== 'arm64' ? ([[c.boot.grubEfi, '::/EFI/boot/grubx64.efi']] as Array<[string, string]>) : []),
      [path.join(files, 'grub.cfg'), `::${GRUB_PREFIX}/grub.cfg`],
      [c.boot.kernel, '::/flatcar/vmlinuz-a'],
      [c.boot.initrd, '::/flatcar/initrd-a'],
    ];
    for (const [from, to] of copies) await run('mcopy', ['-m', '-i', img, from, to], { env: e, purpose: `copy ${to.slice(2)} to EFI-SYSTEM` });
    return img;
  }
  await run('mmd', ['-i', img, '::/EFI', '::/EFI/boot', '::/flatcar'], { env: e, purpose: 'create EFI-SYSTEM directories' });
  await run('mcopy', ['-m', '-i', img, path.join(files, 'boot.efi'), `::/EFI/boot/${loader}`], { env: e, purpose: 'copy the EFI loader' });
  // x86-64 Flatcar (4012 on) keeps GRUB beside the shim as EFI/boot/grubx64.efi; the pxe vendor publishes it (arm64: bootaa64.efi is GRUB).
  if (c.arch !== 'arm64') {
    await writeFile(path.join(files, 'grub.efi'), `synthetic GRUB EFI for ${c.arch}\n`);
    await run('mcopy', ['-m', '-i', img, path.join(files, 'grub.efi'), '::/EFI/boot/grubx64.efi'], { env: e, purpose: 'copy the GRUB EFI loader' });
  }
  await run('mcopy', ['-m', '-i', img, path.join(files, 'vmlinuz-a'), '::/flatcar/vmlinuz-a'], { env: e, purpose: 'copy the kernel' });
  return img;
}

async function buildUsr(work: string, part: PartitionLayoutEntry, c: FilesystemContent, scale: SyntheticScale): Promise<string> {
  const img = path.join(work, 'usr-a.img');
  const tree = path.join(work, 'usr-tree');
  // A bootable USR-A starts from the cached systemd /usr (a copy: os-release differs per release).
  if (c.boot) await run('cp', ['-a', c.boot.usrTree, tree], { purpose: 'stage the bootable /usr' });
  await mkdir(path.join(tree, 'lib'), { recursive: true });
  await mkdir(path.join(tree, 'bin'), { recursive: true });
  await mkdir(path.join(tree, 'share', 'flatcar'), { recursive: true });
  await writeFile(path.join(tree, 'lib', 'os-release'), osRelease(c));
  await writeFile(
    path.join(tree, 'share', 'flatcar', 'release'),
    `FLATCAR_RELEASE_VERSION=${c.version}\nFLATCAR_RELEASE_BOARD=${c.board}\nFLATCAR_RELEASE_APPID={e96281a6-d1af-4bde-9a0a-97b76e56dc57}\n`,
  );
  // As flatcar/scripts build_library/set_lsb_release (main 2026-08, lines 72-75) writes it; pxe/iso and vagrant read GROUP.
  if (c.group) await writeFile(path.join(tree, 'share', 'flatcar', 'update.conf'), `SERVER=https://public.update.flatcar-linux.net/v1/update/\nGROUP=${c.group}\n`);
  const limit = usrPayloadLimit(part);
  if (c.usrPayloadBytes > limit) {
    throw new InputError(`a USR payload of ${c.usrPayloadBytes} bytes does not fit the ${part.fsBytes}-byte USR-A filesystem of the '${scale}' scale`, `use at most ${limit} bytes`);
  }
  if (c.usrPayloadBytes > 0) await writeRandomFile(path.join(tree, USR_PAYLOAD_PATH), c.usrPayloadBytes);
  await stampTree(tree, c.sourceDateEpoch);
  await sparseFile(img, part.fsBytes);
  // A fresh UUID per build, as for OEM below: mkfs.btrfs refuses a UUID that an attached device
  // already carries, and another test's (or bake's) image of the same release may be attached.
  await run(
    'mkfs.btrfs',
    ['-q', '--mixed', '-m', 'single', '-d', 'single', '-L', 'USR-A', '-U', randomUUID(), '--rootdir', tree, img],
    { env: env(c.sourceDateEpoch), purpose: 'make the synthetic USR-A btrfs' },
  );
  // The payload copy in the staging tree is no longer needed; free the space early for 'full'.
  await rm(tree, { recursive: true, force: true });
  return img;
}

async function buildOem(work: string, part: PartitionLayoutEntry, c: FilesystemContent): Promise<string> {
  const img = path.join(work, 'oem.img');
  await sparseFile(img, part.fsBytes);
  // A generic image's OEM partition is an empty btrfs; vendor images fill it later.
  // A fresh UUID per build: mkfs.btrfs refuses a UUID that another attached device carries, so
  // two synthetic images sharing one would stop an offline OEM rebuild while the other is mounted.
  await run('mkfs.btrfs', ['-q', '--mixed', '-m', 'single', '-d', 'single', '-L', 'OEM', '-U', randomUUID(), img], {
    env: env(c.sourceDateEpoch),
    purpose: 'make the synthetic OEM btrfs',
  });
  return img;
}

/**
 * What a booted Flatcar ROOT holds before systemd starts: the merged-/usr links
 * (Flatcar's initrd makes them from its baselayout tmpfiles) and the mount points.
 */
async function bootableRoot(tree: string): Promise<void> {
  for (const d of ['dev', 'proc', 'sys', 'run', 'tmp', 'usr']) await mkdir(path.join(tree, d), { recursive: true });
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) await symlink(`usr/${l}`, path.join(tree, l));
  await chmod(path.join(tree, 'tmp'), 0o1777);
  await symlink('../usr/lib/os-release', path.join(tree, 'etc', 'os-release'));
  await writeFile(path.join(tree, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(path.join(tree, 'etc', 'group'), 'root:x:0:\n');
  // Empty, not missing: systemd then makes a transient id instead of running the first-boot
  // preset pass over every unit, which costs some 17 s under TCG.
  await writeFile(path.join(tree, 'etc', 'machine-id'), '');
}

async function buildRoot(work: string, part: PartitionLayoutEntry, c: FilesystemContent): Promise<string> {
  const img = path.join(work, 'root.img');
  const tree = path.join(work, 'root-tree');
  for (const d of ['etc', 'home', 'media', 'mnt', 'opt', 'root', 'srv', 'var', 'var/lib', 'var/log']) {
    await mkdir(path.join(tree, d), { recursive: true });
  }
  await chmod(path.join(tree, 'root'), 0o700);
  if (c.boot) await bootableRoot(tree);
  await stampTree(tree, c.sourceDateEpoch);
  await sparseFile(img, part.fsBytes);
  const uuid = seededUuid(`${c.seed}:root`);
  // The same mke2fs geometry Flatcar's build uses (4 KiB blocks, one inode per block, 256-byte inodes).
  await run(
    'mkfs.ext4',
    ['-q', '-F', '-L', 'ROOT', '-U', uuid, '-E', `hash_seed=${uuid},root_owner=0:0`, '-b', '4096', '-i', '4096', '-I', '256', '-d', tree, img],
    { env: env(c.sourceDateEpoch), purpose: 'make the synthetic ROOT ext4' },
  );
  return img;
}

/**
 * Build the whole disk: partition table, then every filesystem in parallel in `work`,
 * copied into place. `work` is the caller's scratch directory.
 */
export async function buildDisk(imagePath: string, layout: DiskLayout, work: string, c: FilesystemContent): Promise<void> {
  await writePartitionTable(imagePath, layout);
  const byLabel = (label: string) => {
    const p = layout.partitions.find((x) => x.label === label);
    if (!p) throw new DiskFormatError(`synthetic layout has no ${label} partition`);
    return p;
  };
  const jobs: Array<[PartitionLayoutEntry, Promise<string>]> = [
    [byLabel('EFI-SYSTEM'), buildEfi(work, byLabel('EFI-SYSTEM'), c)],
    [byLabel('USR-A'), buildUsr(work, byLabel('USR-A'), c, layout.scale)],
    [byLabel('OEM'), buildOem(work, byLabel('OEM'), c)],
    [byLabel('ROOT'), buildRoot(work, byLabel('ROOT'), c)],
  ];
  // Wait for all before failing so no builder is still writing into `work` when it is removed.
  const settled = await Promise.allSettled(jobs.map(([, p]) => p));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  for (const [i, [part]] of jobs.entries()) {
    const img = (settled[i] as PromiseFulfilledResult<string>).value;
    await writeAtOffset(img, imagePath, part.offsetBytes);
    await rm(img, { force: true });
  }
}
