import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { readGptFromFile } from '../gpt/file.js';
import {
  GUID_BIOS_BOOT,
  GUID_EFI_SYSTEM,
  GUID_FLATCAR_OEM_CONFIG,
  GUID_FLATCAR_ROOT,
  GUID_FLATCAR_USR,
  GUID_LINUX_FILESYSTEM,
  locatePartition,
} from '../gpt/locate.js';

const TYPE_NAMES: Record<string, string> = {
  [GUID_EFI_SYSTEM]: 'EFI system',
  [GUID_BIOS_BOOT]: 'BIOS boot',
  [GUID_FLATCAR_USR]: 'Flatcar /usr',
  [GUID_LINUX_FILESYSTEM]: 'Linux filesystem',
  [GUID_FLATCAR_OEM_CONFIG]: 'Flatcar OEM config',
  [GUID_FLATCAR_ROOT]: 'Flatcar root',
};
import type { GptPartition, GptTable } from '../gpt/types.js';
import type { BackendChoice, BackendName } from '../backend/index.js';
import { openBackend } from '../backend/open.js';
import type { PartitionEditor } from '../backend/editor.js';
import { ResourceScope } from '../util/scope.js';
import os from 'node:os';
import { run } from '../util/exec.js';

/** Bumped when a field of `flatbake inspect --json` changes meaning or goes (schemas/inspect.schema.json). */
export const INSPECT_SCHEMA_VERSION = 1;

export interface InspectedPartition {
  number: number;
  label: string;
  typeGuid: string;
  /** The Flatcar role of this type GUID, when it has one. */
  typeName?: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  startByte: number;
  /** Bytes, as everywhere in flatbake's JSON. */
  size: number;
  filesystem: string;
}

export interface InspectedSysext {
  name: string;
  symlink: string;
  target: string;
  /** Partition the target lives on. */
  partition: 'root' | 'oem';
  present: boolean;
  size?: number;
  sysupdateConf?: string;
}

/** A vendor's OEM sysext as image_to_vm installs it: /oem/sysext/oem-<id>-<version>.raw. */
export interface InspectedOemSysext {
  /** In-partition path on OEM. */
  file: string;
  /** The vendor's OEM id (`oem-<id>-...`). */
  id: string;
  /** Flatcar merges it (through its own OEM logic, not /etc/extensions) when this marker exists. */
  active: boolean;
}

export interface InspectReport {
  schemaVersion: typeof INSPECT_SCHEMA_VERSION;
  image: string;
  /** qcow2, vpc (VHD), vmdk, vhdx, raw: vendor outputs are read through a temporary raw copy. */
  format: string;
  /** Bytes of the (raw) disk; for other formats, the virtual size. */
  size: number;
  /** Bytes the image file takes on disk. */
  allocated: number;
  diskGuid: string;
  partitions: InspectedPartition[];
  release: Record<string, string>;
  sysexts: InspectedSysext[];
  /** Vendor OEM sysexts on OEM: linked by Flatcar's OEM logic, not from /etc/extensions. */
  oemSysexts: InspectedOemSysext[];
  /**
   * Other .raw files in the usual install dirs that no /etc/extensions link points to (e.g.
   * older versions systemd-sysupdate keeps).
   */
  unlinkedFiles: string[];
  /** How the partitions were read: mounted read-only, or offline from the image file. */
  backend: BackendName;
}

/** Pure: the filesystem kind from the first 64 KiB + of a partition. */
export function detectPartitionFs(head: Buffer): string {
  if (head.length >= 65608 && head.toString('latin1', 65600, 65608) === '_BHRfS_M') return 'btrfs';
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return 'ext4';
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'hsqs') return 'squashfs';
  if (head.length >= 512 && head.readUInt16LE(510) === 0xaa55 && (head.toString('latin1', 82, 87) === 'FAT32' || head.toString('latin1', 54, 57) === 'FAT')) return 'vfat';
  if (head.every((b) => b === 0)) return 'none';
  return 'unknown';
}

async function partitionFs(file: string, partition: GptPartition): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(65608 + 8, partition.sizeBytes));
    await handle.read(head, 0, head.length, partition.startByte);
    return detectPartitionFs(head);
  } finally {
    await handle.close();
  }
}


/** Partitions, release and baked sysexts of an image; ROOT, OEM and USR-A are mounted read-only. */
export async function inspectImage(image: string, choice: BackendChoice = 'auto'): Promise<InspectReport> {
  const info = await stat(image).catch(() => undefined);
  if (!info?.isFile()) throw new InputError(`${image} not found`, 'give the path of a flatcar_production_image.bin or a vendor image (qcow2, VHD, VMDK, VHDX)');
  if (image.endsWith('.bz2')) throw new InputError(`${image} is compressed`, 'decompress it first (lbzip2 -dk FILE) or inspect a baked .bin');
  const outer = new ResourceScope();
  try {
    const { format, raw } = await asRawImage(image, outer);
    return await inspectRaw(raw, { image, format, allocated: info.blocks * 512 }, choice);
  } finally {
    await outer.release();
  }
}

/**
 * Vendor images (qcow2, VHD, VMDK, VHDX) are read through a sparse raw copy that
 * `qemu-img convert` writes to a temp dir: no root, no qemu-nbd, and the holes cost nothing.
 * qemu-img also says which format a file is, so a raw image is read in place.
 */
async function asRawImage(image: string, scope: ResourceScope): Promise<{ format: string; raw: string }> {
  const probed = await run('qemu-img', ['info', '--output=json', image], { purpose: `read the disk format of ${image}` });
  const format = String((JSON.parse(probed.stdout) as { format?: unknown }).format ?? 'raw');
  if (format === 'raw') return { format, raw: image };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-inspect-raw-'));
  scope.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const raw = path.join(dir, 'disk.raw');
  await run('qemu-img', ['convert', '-f', format, '-O', 'raw', image, raw], { purpose: `read the ${format} image ${image} as raw` });
  return { format, raw };
}

async function inspectRaw(file: string, shown: { image: string; format: string; allocated: number }, choice: BackendChoice): Promise<InspectReport> {
  const info = await stat(file);
  const table: GptTable = await readGptFromFile(file);
  const partitions: InspectedPartition[] = [];
  for (const p of table.partitions) {
    partitions.push({
      number: p.number,
      label: p.name,
      typeGuid: p.typeGuid,
      typeName: TYPE_NAMES[p.typeGuid],
      uniqueGuid: p.uniqueGuid,
      firstLba: p.firstLba,
      lastLba: p.lastLba,
      startByte: p.startByte,
      size: p.sizeBytes,
      filesystem: await partitionFs(file, p),
    });
  }

  const backend = await openBackend(choice, { btrfs: true }, 'inspecting the image contents (--backend mount)');
  const work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-inspect-'));
  try {
    const release = await backend.readUsrOsRelease(file, table, work).catch(() => ({}));
    const found = await backend.withEditors(file, table, { root: true, oem: true, readOnly: true }, ({ root, oem }) => readSysexts(root, oem));
    return {
      schemaVersion: INSPECT_SCHEMA_VERSION,
      image: path.resolve(shown.image),
      format: shown.format,
      size: info.size,
      allocated: shown.allocated,
      diskGuid: table.diskGuid,
      partitions,
      release,
      ...found,
      backend: backend.name,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The /etc/extensions links on ROOT and what they point to, the vendor OEM sysexts, and .raw files nothing links. */
async function readSysexts(root: PartitionEditor, oem: PartitionEditor): Promise<Pick<InspectReport, 'sysexts' | 'oemSysexts' | 'unlinkedFiles'>> {
  const sysexts: InspectedSysext[] = [];
  const linked = new Set<string>();
  const entries = (await root.lstat('/etc/extensions'))?.type === 'dir' ? await root.list('/etc/extensions') : [];
  for (const entry of entries.sort()) {
    if (!entry.endsWith('.raw')) continue;
    const name = entry.slice(0, -'.raw'.length);
    const link = await root.lstat(`/etc/extensions/${entry}`);
    const target = link?.type === 'symlink' && link.target ? link.target : `/etc/extensions/${entry}`;
    const onOem = target === '/oem' || target.startsWith('/oem/');
    const inPartition = onOem ? target.slice('/oem'.length) || '/' : target;
    const targetInfo = await (onOem ? oem : root).lstat(inPartition).catch(() => undefined);
    linked.add(`${onOem ? 'oem' : 'root'}:${inPartition}`);
    const conf = `/etc/sysupdate.${name}.d/${name}.conf`;
    sysexts.push({
      name,
      symlink: `/etc/extensions/${entry}`,
      target,
      partition: onOem ? 'oem' : 'root',
      present: targetInfo?.type === 'file',
      size: targetInfo?.type === 'file' ? targetInfo.size : undefined,
      sysupdateConf: (await root.lstat(conf)) ? conf : undefined,
    });
  }
  const oemSysexts: InspectedOemSysext[] = [];
  for (const f of await listRaw(oem, '/sysext', 1)) {
    const id = /^oem-(.+?)-\d[^/]*\.raw$/.exec(path.posix.basename(f))?.[1];
    if (!id || linked.has(`oem:${f}`)) continue;
    oemSysexts.push({ file: f, id, active: (await oem.lstat(`/sysext/active-oem-${id}`)) !== undefined });
    linked.add(`oem:${f}`);
  }
  const unlinkedFiles: string[] = [];
  for (const [label, editor, dir] of [['root', root, '/opt/extensions'], ['oem', oem, '/']] as const) {
    for (const f of await listRaw(editor, dir)) {
      if (!linked.has(`${label}:${f}`)) unlinkedFiles.push(`${label}:${f}`);
    }
  }
  return { sysexts, oemSysexts, unlinkedFiles };
}

/** .raw files up to two levels below dir, as in-partition paths. */
async function listRaw(editor: PartitionEditor, dir: string, depth = 2): Promise<string[]> {
  if ((await editor.lstat(dir))?.type !== 'dir') return [];
  const found: string[] = [];
  for (const name of await editor.list(dir)) {
    const full = path.posix.join(dir, name);
    const info = await editor.lstat(full);
    if (info?.type === 'file' && name.endsWith('.raw')) found.push(full);
    else if (info?.type === 'dir' && depth > 1) found.push(...(await listRaw(editor, full, depth - 1)));
  }
  return found.sort();
}

export function formatInspect(report: InspectReport): string {
  const lines = [`image ${report.image}: ${report.format}, ${report.size} bytes (${report.allocated} allocated), disk GUID ${report.diskGuid}`, ''];
  lines.push(' #  label        fs        start byte      size bytes  type');
  for (const p of report.partitions) {
    lines.push(
      `${String(p.number).padStart(2)}  ${p.label.padEnd(11)}  ${p.filesystem.padEnd(8)}  ${String(p.startByte).padStart(12)}  ${String(p.size).padStart(14)}  ${p.typeGuid}${p.typeName ? ` (${p.typeName})` : ''}`,
    );
  }
  lines.push('');
  const r = report.release;
  lines.push(`release: ${r.PRETTY_NAME ?? r.NAME ?? 'unknown'}${r.VERSION_ID ? ` (VERSION_ID=${r.VERSION_ID}` : ''}${r.SYSEXT_LEVEL ? `, SYSEXT_LEVEL=${r.SYSEXT_LEVEL})` : r.VERSION_ID ? ')' : ''}`);
  lines.push('');
  if (report.sysexts.length === 0) lines.push('sysexts: none baked in (/etc/extensions holds no .raw links)');
  for (const s of report.sysexts) {
    lines.push(`sysext ${s.name}: ${s.symlink} -> ${s.target} (${s.partition}, ${s.present ? `${s.size} bytes` : 'MISSING'})${s.sysupdateConf ? `, sysupdate ${s.sysupdateConf}` : ''}`);
  }
  for (const o of report.oemSysexts) lines.push(`OEM sysext ${o.id}: oem:${o.file}${o.active ? ' (active)' : ' (not active: no active-oem marker)'}`);
  for (const f of report.unlinkedFiles) lines.push(`not linked from /etc/extensions: ${f}`);
  return lines.join('\n');
}
