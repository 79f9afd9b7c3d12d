/**
 * Disk format converters, one per format and never per vendor: the vendor
 * record says which format, which qemu-img options, whether to compress or
 * archive, and this module does exactly that. (An exact disk size is set on
 * the raw image before conversion, so the backup GPT moves with it.)
 */
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError } from '../errors.js';
import { run } from '../util/exec.js';
import type { DiskFormat, DiskSpec, QemuImgOptionValue } from './types.js';

/** qemu-img's name of each format (a Parallels .hdd is a directory: parallels.ts writes it). */
const QEMU_FORMAT: Record<Exclude<DiskFormat, 'parallels'>, string> = {
  raw: 'raw',
  qcow2: 'qcow2',
  vpc: 'vpc',
  vhdx: 'vhdx',
  vmdk: 'vmdk',
};

/** `{subformat: 'fixed', force_size: true}` -> `subformat=fixed,force_size=on`. Pure. */
export function qemuImgOptionString(options: Record<string, QemuImgOptionValue>): string {
  return Object.entries(options)
    .map(([k, v]) => `${k}=${typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v)}`)
    .join(',');
}

/** The qemu-img convert arguments for a disk spec. Pure. */
export function qemuImgConvertArgs(disk: DiskSpec, input: string, output: string): string[] {
  if (disk.format === 'parallels') throw new DiskFormatError('a parallels disk is a directory (snapshot + DiskDescriptor.xml): writeParallelsDisk writes it, not qemu-img convert alone');
  const args = ['convert', '-f', 'raw', '-O', QEMU_FORMAT[disk.format]];
  if (disk.compressed) args.push('-c');
  const options = qemuImgOptionString(disk.options);
  if (options) args.push('-o', options);
  args.push(input, output);
  return args;
}

/** Reads qemu-img -p's `(45.67/100%)` updates, which may arrive split across chunks. */
export function qemuImgPercent(onFraction: (fraction: number) => void): (text: string) => void {
  let pending = '';
  return (text) => {
    pending += text;
    const parts = pending.split(/[\r\n]/);
    pending = parts.pop() ?? '';
    for (const part of parts) {
      const m = /\((\d+(?:\.\d+)?)\/100%\)/.exec(part);
      if (m) onFraction(Number(m[1]) / 100);
    }
  };
}

/** Virtual size as qemu-img reports it. */
export async function virtualSize(file: string, format: string): Promise<number> {
  const { stdout } = await run('qemu-img', ['info', '-f', format, '--output=json', file], { purpose: `read the size of ${file}` });
  const size = (JSON.parse(stdout) as { 'virtual-size'?: number })['virtual-size'];
  if (typeof size !== 'number') throw new DiskFormatError(`qemu-img info did not report the virtual size of ${file}`);
  return size;
}

/**
 * Converts the grown raw image `raw` into `output` as `disk` says. `raw` is
 * consumed (renamed or archived) when the output is raw, so a raw vendor
 * costs no second copy. `scratchDir` holds intermediate files.
 */
export async function convertDisk(
  raw: string,
  disk: DiskSpec,
  output: string,
  scratchDir: string,
  /** Told how far qemu-img is (0..1), from its -p output. */
  onFraction?: (fraction: number) => void,
): Promise<void> {
  if (disk.format === 'parallels') throw new DiskFormatError('a parallels disk is a directory (snapshot + DiskDescriptor.xml): writeParallelsDisk writes it');
  let converted: string;
  if (disk.format === 'raw') {
    converted = disk.archive ? path.join(scratchDir, 'archive', disk.archive.member) : output;
    if (disk.archive) await mkdir(path.dirname(converted), { recursive: true });
    await rename(raw, converted);
  } else {
    converted = output;
    const args = qemuImgConvertArgs(disk, raw, converted);
    // -p: qemu-img prints `(12.34/100%)` on stdout as it goes (an Azure fixed VHD is 30 GiB).
    if (onFraction) args.splice(1, 0, '-p');
    await run('qemu-img', args, { purpose: `convert the disk to ${disk.format}`, onStdout: onFraction && qemuImgPercent(onFraction) });
  }
  if (disk.archive) {
    // oldgnu + -S: the archive records holes instead of gigabytes of zeros (what GCE's image import expects).
    await run('tar', ['--format=oldgnu', '-S', '-czf', output, '-C', path.dirname(converted), disk.archive.member], {
      purpose: `archive ${disk.archive.member}`,
    });
  }
}
