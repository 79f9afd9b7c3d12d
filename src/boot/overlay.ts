/**
 * The throwaway disk a boot runs on: a qcow2 overlay whose backing file is the
 * user's image, opened read-only by QEMU and never written. flatbake edits the
 * overlay's ROOT by copying the partition out through qemu-img, editing that
 * ext4 with the offline editor (debugfs), and writing it back into the overlay.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { parseGpt, type ByteReader, type GptTable } from '../gpt/index.js';
import { run } from '../util/exec.js';

export interface DiskInfo {
  format: 'raw' | 'qcow2';
  virtualSize: number;
}

export async function diskInfo(image: string): Promise<DiskInfo> {
  const info = await stat(image).catch(() => undefined);
  if (!info) throw new InputError(`cannot open ${image}: no such file`, 'pass a flatcar_production_image.bin or a qemu_uefi qcow2');
  if (!info.isFile()) throw new InputError(`${image} is not a regular file`, 'pass a flatcar_production_image.bin or a qemu_uefi qcow2');
  const { stdout } = await run('qemu-img', ['info', '--output=json', image], { purpose: `read the format of ${image}` });
  const json = JSON.parse(stdout) as { format?: string; 'virtual-size'?: number };
  if (json.format !== 'raw' && json.format !== 'qcow2') {
    throw new InputError(`${image} is a ${json.format ?? 'unknown'} image`, 'flatbake boot takes a raw flatcar_production_image.bin or a qcow2 (the qemu_uefi vendor image)');
  }
  return { format: json.format, virtualSize: json['virtual-size'] ?? info.size };
}

export async function createOverlay(image: string, info: DiskInfo, overlay: string): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.resolve(image), '-F', info.format, overlay], { purpose: 'create the throwaway overlay' });
}

/** QEMU's option syntax doubles commas inside values. */
const optValue = (v: string) => v.replace(/,/g, ',,');
const rangeOpts = (qcow2: string, offset: number, size: number) =>
  `driver=raw,offset=${offset},size=${size},file.driver=qcow2,file.file.driver=file,file.file.filename=${optValue(path.resolve(qcow2))}`;

/** Copies `size` bytes at `offset` of the overlay's disk into a new sparse raw file. */
export async function copyRangeOut(qcow2: string, offset: number, size: number, dest: string): Promise<void> {
  await run('qemu-img', ['convert', '-O', 'raw', '--image-opts', rangeOpts(qcow2, offset, size), dest], { purpose: 'copy a partition out of the overlay' });
}

/** Writes a raw file over `size` bytes at `offset` of the overlay's disk (the backing file is not touched). */
export async function copyRangeIn(source: string, qcow2: string, offset: number, size: number): Promise<void> {
  await run('qemu-img', ['convert', '-n', '-f', 'raw', source, '--target-image-opts', rangeOpts(qcow2, offset, size)], { purpose: 'write a partition into the overlay' });
}

/** The GPT of the overlay's disk, read through qemu-img (so a qcow2 reads like a raw disk). */
export async function readOverlayGpt(qcow2: string, virtualSize: number, work: string): Promise<GptTable> {
  let n = 0;
  const reader: ByteReader = {
    size: virtualSize,
    async read(offset: number, length: number): Promise<Buffer> {
      const len = Math.max(0, Math.min(length, virtualSize - offset));
      if (len === 0) return Buffer.alloc(0);
      const file = path.join(work, `gpt-read-${n++}`);
      try {
        await copyRangeOut(qcow2, offset, len, file);
        return await readFile(file);
      } finally {
        await rm(file, { force: true });
      }
    },
  };
  return parseGpt(reader);
}
