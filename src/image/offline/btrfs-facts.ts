/**
 * What the offline btrfs editor knows about a btrfs, from btrfs-progs' own
 * output (`btrfs inspect-internal dump-super`, `btrfs inspect-internal
 * dump-tree -t chunk`, `btrfs restore -l`), and how to make mkfs.btrfs
 * recreate it. Pure: the editor (btrfs.ts) runs the tools.
 */
import { DiskFormatError } from '../../errors.js';
export interface BtrfsSuper {
  label: string;
  fsid: string;
  totalBytes: number;
  bytesUsed: number;
  sectorSize: number;
  nodeSize: number;
  /** Name as dump-super prints it: crc32c, xxhash64, sha256, blake2b. */
  csum: string;
  numDevices: number;
  incompat: string[];
  compatRo: string[];
}

/** Parses `btrfs inspect-internal dump-super`. Pure. */
export function parseDumpSuper(text: string): BtrfsSuper {
  const value = (key: string): string => {
    const m = new RegExp(`^${key}[ \\t]+(.*)$`, 'm').exec(text);
    if (!m) {
      // An empty label prints as the bare key.
      if (key === 'label' && /^label[ \t]*$/m.test(text)) return '';
      throw new DiskFormatError(`btrfs dump-super printed no ${key}`);
    }
    return m[1]!.trimEnd();
  };
  if (!/^magic\s+_BHRfS_M \[match\]/m.test(text)) throw new DiskFormatError('no btrfs superblock found (bad magic)');
  const num = (key: string) => {
    const n = Number(value(key).split(/\s/)[0]);
    if (!Number.isSafeInteger(n)) throw new DiskFormatError(`btrfs dump-super: ${key} is not a number`);
    return n;
  };
  // Flag names follow the hex value in "( A |\n B )".
  const flags = (key: string): string[] => {
    const m = new RegExp(`^${key}\\s+0x[0-9a-f]+\\s*(\\([^)]*\\))?`, 'm').exec(text);
    if (!m) throw new DiskFormatError(`btrfs dump-super printed no ${key}`);
    return (m[1] ?? '').replace(/[()|]/g, ' ').split(/\s+/).filter(Boolean);
  };
  const csum = /^csum_type\s+\d+\s+\((\w+)\)/m.exec(text);
  if (!csum) throw new DiskFormatError('btrfs dump-super printed no csum_type');
  return {
    label: value('label'),
    fsid: value('fsid'),
    totalBytes: num('total_bytes'),
    bytesUsed: num('bytes_used'),
    sectorSize: num('sectorsize'),
    nodeSize: num('nodesize'),
    csum: csum[1]!,
    numDevices: num('num_devices'),
    incompat: flags('incompat_flags'),
    compatRo: flags('compat_ro_flags'),
  };
}

export interface BtrfsProfiles {
  data: string;
  metadata: string;
  mixed: boolean;
}

/** Block-group profiles from `btrfs inspect-internal dump-tree -t chunk`. Pure. */
export function parseChunkProfiles(text: string): BtrfsProfiles {
  let data: string | undefined;
  let metadata: string | undefined;
  let mixed = false;
  for (const m of text.matchAll(/\btype ((?:DATA|METADATA|SYSTEM)(?:\|\w+)*)/g)) {
    const tokens = m[1]!.split('|');
    const kinds = tokens.filter((t) => ['DATA', 'METADATA', 'SYSTEM'].includes(t));
    const profile = (tokens.find((t) => !kinds.includes(t)) ?? 'single').toLowerCase();
    if (kinds.includes('DATA')) data = profile;
    if (kinds.includes('METADATA')) metadata = profile;
    if (kinds.includes('DATA') && kinds.includes('METADATA')) mixed = true;
  }
  if (!data || !metadata) throw new DiskFormatError('the btrfs chunk tree lists no data or no metadata block group');
  return { data, metadata, mixed };
}

/** Subvolume (and snapshot) ids from `btrfs restore -l`; the top level is FS_TREE and not listed. Pure. */
export function parseSubvolumeIds(text: string): number[] {
  return [...text.matchAll(/tree key \((\d+) ROOT_ITEM /g)].map((m) => Number(m[1])).filter((id) => id >= 256);
}

/** Incompat flags a rebuild reproduces (or that do not matter for a rebuilt tree). */
const INCOMPAT_HANDLED = new Set(['MIXED_BACKREF', 'MIXED_GROUPS', 'BIG_METADATA', 'EXTENDED_IREF', 'SKINNY_METADATA', 'NO_HOLES', 'COMPRESS_LZO', 'COMPRESS_ZSTD', 'METADATA_UUID']);
const COMPAT_RO_HANDLED = new Set(['FREE_SPACE_TREE', 'FREE_SPACE_TREE_VALID']);
const CSUM_OPTION: Record<string, string> = { crc32c: 'crc32c', xxhash64: 'xxhash', sha256: 'sha256', blake2b: 'blake2' };

/** mkfs.btrfs options that recreate `sb` with `profiles` (without --rootdir and the target). Pure. */
export function mkfsOptionsFor(sb: BtrfsSuper, profiles: BtrfsProfiles): string[] {
  const unsupported = [...sb.incompat.filter((f) => !INCOMPAT_HANDLED.has(f)), ...sb.compatRo.filter((f) => !COMPAT_RO_HANDLED.has(f))];
  if (unsupported.length > 0) throw new DiskFormatError(`cannot rebuild a btrfs with the feature(s) ${unsupported.join(', ')}`, 'use the mount path (flatbake as root) for this image');
  if (sb.numDevices !== 1) throw new DiskFormatError(`the btrfs spans ${sb.numDevices} devices`);
  const csum = CSUM_OPTION[sb.csum];
  if (!csum) throw new DiskFormatError(`unknown btrfs checksum ${sb.csum}`);
  for (const p of [profiles.data, profiles.metadata]) {
    if (p !== 'single' && p !== 'dup') throw new DiskFormatError(`cannot rebuild a btrfs with the ${p} profile on one device`);
  }
  const mixed = profiles.mixed || sb.incompat.includes('MIXED_GROUPS');
  const has = (f: string) => sb.incompat.includes(f);
  const features = [`${has('EXTENDED_IREF') ? '' : '^'}extref`, `${has('SKINNY_METADATA') ? '' : '^'}skinny-metadata`, `${has('NO_HOLES') ? '' : '^'}no-holes`];
  const args = ['-q', '-K', '-U', sb.fsid, '-n', String(sb.nodeSize), '-s', String(sb.sectorSize), '--csum', csum, '-O', features.join(',')];
  args.push('-R', `${sb.compatRo.includes('FREE_SPACE_TREE') ? '' : '^'}free-space-tree`);
  if (sb.label !== '') args.push('-L', sb.label);
  if (mixed) args.push('--mixed');
  args.push('-m', profiles.metadata, '-d', profiles.data);
  return args;
}

export interface TreeUsage {
  /** Every inode mkfs will create, the top directory included. */
  inodes: number;
  /** Regular file bytes, each rounded up to the sector size. */
  dataBytes: number;
}

const MiB = 1024 * 1024;
const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * How big mkfs.btrfs --rootdir decides the filesystem must be (it grows a
 * target file that is smaller rather than fail). It counts every inode at
 * three maximal names plus a sector of metadata, adds an eighth of the data
 * for extent items, and adds block groups beyond the first of each kind,
 * which come with `minDevBytes` (what an empty tree needs). Pure; the
 * formula is btrfs-progs' (checked against it in the tests).
 */
export function mkfsNeededBytes(usage: TreeUsage, sectorSize: number, profiles: BtrfsProfiles, minDevBytes: number): number {
  const metaBytes = usage.inodes * (4096 * 3 + sectorSize) + Math.floor(usage.dataBytes / 8);
  const metaDup = profiles.metadata === 'dup';
  const dataDup = profiles.data === 'dup';
  const beyond = (bytes: number, threshold: number, copies: number) => (bytes > threshold ? (roundUp(bytes, threshold) - threshold) * copies : 0);
  return beyond(usage.dataBytes, dataDup ? 64 * MiB : 8 * MiB, dataDup ? 2 : 1) + beyond(metaBytes, metaDup ? 32 * MiB : 8 * MiB, metaDup ? 2 : 1) + minDevBytes;
}
