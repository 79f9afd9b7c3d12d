/**
 * Parallels disks and VM configs as Flatcar's SDK writes them, with no
 * Parallels tool: `build_library/write_hdd.sh` (qemu-img's parallels format
 * for the one snapshot, a DiskDescriptor.xml beside it) and
 * `build_library/parallels_pvs.sh` (config.pvs), both unchanged from
 * lts-3033.3.18 to alpha-4790.0.0. The two XML texts are the SDK's, shipped
 * as templates in vendors/parallels/ (origin and license in its README.md).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { run } from '../util/exec.js';
import { virtualSize } from './formats.js';
import { vendorsDir } from './registry.js';
import { xmlEscape } from './xml.js';

/** write_hdd.sh: "this id is a constant and identifies the first snapshot of a disk". */
export const PARALLELS_SNAPSHOT_UUID = '{5fbaabe3-6958-40ff-92a7-860e329aab41}';
/** parallels_pvs.sh PARALLELS_MAC_PREFIX. */
export const PARALLELS_MAC_PREFIX = '001C42';

/** Fills `@@NAME@@` placeholders (values XML-escaped); a placeholder without a value is an error. Pure. */
export function fillTemplate(template: string, values: Readonly<Record<string, string | number>>, name: string): string {
  return template.replace(/@@([A-Z_]+)@@/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new InputError(`vendors/parallels/${name}: no value for ${whole}`);
    return xmlEscape(value);
  });
}

async function template(name: string): Promise<string> {
  return readFile(path.join(vendorsDir(), 'parallels', name), 'utf8');
}

/** The snapshot file inside `<disk>.hdd/`: `<disk>.hdd.0.{uuid}.hds`. Pure. */
export function snapshotName(diskName: string): string {
  return `${diskName}.0.${PARALLELS_SNAPSHOT_UUID}.hds`;
}

/** DiskDescriptor.xml for a disk of `virtualBytes` (write_hdd.sh: 16 heads, 32 sectors, sizes in 512-byte sectors). */
export async function renderDiskDescriptor(diskName: string, virtualBytes: number, uid: string = randomUUID()): Promise<string> {
  const sectors = Math.floor(virtualBytes / 16 / 32);
  return fillTemplate(
    await template('DiskDescriptor.xml'),
    { SECTORS: sectors, CYLINDERS: Math.floor(sectors / 512), UID: uid, SNAPSHOT_UUID: PARALLELS_SNAPSHOT_UUID, DISK_NAME: diskName },
    'DiskDescriptor.xml',
  );
}

/**
 * Writes the Parallels disk `<dir>/<diskName>` (a directory, as write_hdd.sh
 * makes it): an empty file of the disk's own name, the snapshot in qemu-img's
 * parallels format, and DiskDescriptor.xml. Returns the snapshot path.
 */
export async function writeParallelsDisk(raw: string, hddDir: string): Promise<string> {
  const diskName = path.basename(hddDir);
  await mkdir(hddDir);
  await writeFile(path.join(hddDir, diskName), '');
  const snapshot = path.join(hddDir, snapshotName(diskName));
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'parallels', raw, snapshot], { purpose: 'convert the disk to parallels' });
  await writeFile(path.join(hddDir, 'DiskDescriptor.xml'), await renderDiskDescriptor(diskName, await virtualSize(snapshot, 'parallels')));
  return snapshot;
}

export interface PvsInput {
  /** The versioned VM name. */
  name: string;
  /** The .hdd directory config.pvs points at (by its base name). */
  hddDir: string;
  memoryMiB: number;
  /** --template: the Vagrant box's VM is a template (IsTemplate 1). */
  template: boolean;
  /** `YYYY-MM-DD HH:MM:SS` in UTC (default now). */
  created?: string;
}

/** A Parallels MAC: the prefix and three random bytes, upper-case hex as hexdump's %06X writes them. */
export function parallelsMac(): string {
  return PARALLELS_MAC_PREFIX + randomBytes(3).toString('hex').toUpperCase();
}

/** config.pvs as parallels_pvs.sh writes it: fresh UUIDs and MACs, the disk's virtual and on-disk size in MiB. */
export async function renderPvs(v: PvsInput): Promise<string> {
  const snapshot = path.join(v.hddDir, snapshotName(path.basename(v.hddDir)));
  const virtualBytes = await virtualSize(snapshot, 'parallels');
  // `du --bytes`: the apparent size of the snapshot.
  const actualBytes = (await stat(snapshot)).size;
  const mib = (bytes: number) => Math.floor(bytes / 1024 / 1024);
  return fillTemplate(
    await template('config.pvs'),
    {
      VM_UUID: randomUUID(),
      SOURCE_VM_UUID: randomUUID(),
      VM_NAME: v.name,
      CREATED: v.created ?? new Date().toISOString().replace('T', ' ').slice(0, 19),
      IS_TEMPLATE: v.template ? 1 : 0,
      MEMORY_MIB: v.memoryMiB,
      DISK_UUID: randomUUID(),
      DISK_NAME: path.basename(v.hddDir),
      SIZE_MIB: mib(virtualBytes),
      SIZE_ON_DISK_MIB: mib(actualBytes),
      MAC: parallelsMac(),
      HOST_MAC: parallelsMac(),
    },
    'config.pvs',
  );
}
