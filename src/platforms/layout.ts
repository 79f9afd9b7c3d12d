/**
 * Vendor disk layouts: only ROOT grows (to the layout's sector count), the
 * disk is rounded up to the alignment Flatcar uses, the backup GPT moves to
 * the new end, and the ext4 on ROOT is grown to fill the partition.
 */
import { stat, truncate } from 'node:fs/promises';
import type { Backend } from '../backend/index.js';
import { DiskFormatError } from '../errors.js';
import { applyDiskWrites, readGptFromFile } from '../gpt/file.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { alignUp, growGpt } from '../gpt/write.js';
import { run } from '../util/exec.js';

export interface LayoutPlan {
  rootNumber: number;
  rootFirstLba: number;
  rootLastLba: number;
  rootSectors: number;
  diskSectors: number;
  /** False when the image already has the layout (base, or grown before). */
  changes: boolean;
}

/**
 * Where ROOT ends and how big the disk gets for `rootSectors` (null: keep
 * ROOT). Pure. The disk is the smallest multiple of `alignment` that holds
 * ROOT plus the backup GPT, and never smaller than it already is;
 * `exactDiskSectors` (a vendor that wants an exact disk size) replaces that.
 */
export function planLayoutGrowth(table: GptTable, rootSectors: number | null, alignment: number, exactDiskSectors?: number): LayoutPlan {
  const root = locateFlatcarPartition(table, 'ROOT');
  const base = { rootNumber: root.number, rootFirstLba: root.firstLba };
  const keepRoot = rootSectors === null || rootSectors === root.sizeSectors;
  if (keepRoot && (exactDiskSectors === undefined || exactDiskSectors === table.diskSectors)) {
    return { ...base, rootLastLba: root.lastLba, rootSectors: root.sizeSectors, diskSectors: table.diskSectors, changes: false };
  }
  if (keepRoot) {
    if (exactDiskSectors! < table.diskSectors) {
      throw new DiskFormatError(
        `the disk has ${table.diskSectors} sectors, more than the ${exactDiskSectors} the vendor requires`,
        'this vendor uses the base layout: start from the generic image',
      );
    }
    return { ...base, rootLastLba: root.lastLba, rootSectors: root.sizeSectors, diskSectors: exactDiskSectors!, changes: true };
  }
  if (rootSectors < root.sizeSectors) {
    throw new DiskFormatError(
      `ROOT already has ${root.sizeSectors} sectors, more than the layout's ${rootSectors}: layouts only grow ROOT`,
      'start from the generic Flatcar image, not from an image grown for another vendor',
    );
  }
  const rootLastLba = root.firstLba + rootSectors - 1;
  // The backup GPT (entry array + header) must fit after ROOT.
  const needed = rootLastLba + 1 + table.entryArraySectors + 1;
  const aligned = Math.max(alignUp(needed, alignment), table.diskSectors);
  if (exactDiskSectors !== undefined && exactDiskSectors < aligned) {
    throw new DiskFormatError(`a disk of ${exactDiskSectors} sectors cannot hold ROOT grown to ${rootSectors} sectors (needs ${aligned})`);
  }
  return { ...base, rootLastLba, rootSectors, diskSectors: exactDiskSectors ?? aligned, changes: true };
}

/**
 * Grows `image` (a private copy: written in place) to the layout: the GPT here, the ext4 on
 * ROOT by the backend. Returns the plan that was applied.
 */
export async function growImageToLayout(
  backend: Backend,
  image: string,
  rootSectors: number | null,
  alignment: number,
  exactDiskSectors?: number,
): Promise<LayoutPlan> {
  const table = await readGptFromFile(image);
  const plan = planLayoutGrowth(table, rootSectors, alignment, exactDiskSectors);
  if (!plan.changes) return plan;
  const sectorSize = table.sectorSize;
  const newSize = plan.diskSectors * sectorSize;
  // Extending with truncate keeps the file sparse: the new space costs nothing until written.
  if ((await stat(image)).size < newSize) await truncate(image, newSize);
  const rootGrows = plan.rootLastLba !== locateFlatcarPartition(table, 'ROOT').lastLba;
  const writes = growGpt(table, plan.diskSectors, rootGrows ? [{ number: plan.rootNumber, lastLba: plan.rootLastLba }] : []);
  await applyDiskWrites(image, writes, newSize);
  if (!rootGrows) return plan;

  const root = locateFlatcarPartition(table, 'ROOT');
  await backend.growRootFilesystem(image, { offset: root.startByte, oldSize: root.sizeBytes, newSize: plan.rootSectors * sectorSize });
  return plan;
}

/** Sparse private copy of an image (cp keeps holes, so an 8 GiB image costs what it holds). */
export async function sparseCopy(source: string, destination: string): Promise<void> {
  await run('cp', ['--sparse=always', '--', source, destination], { purpose: `copy ${source}` });
}
