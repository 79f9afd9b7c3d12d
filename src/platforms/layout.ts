/**
 * Vendor disk layouts: only ROOT grows (to the layout's sector count), the
 * disk is rounded up to the alignment Flatcar uses, the backup GPT moves to
 * the new end, and the ext4 on ROOT is grown to fill the partition.
 */
import path from 'node:path';
import { rm, stat, truncate } from 'node:fs/promises';
import { DiskFormatError } from '../errors.js';
import { applyDiskWrites, readGptFromFile } from '../gpt/file.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { alignUp, growGpt } from '../gpt/write.js';
import { attachLoop } from '../image/loop.js';
import type { Privileged } from '../privileged/privileged.js';
import { run } from '../util/exec.js';
import { extractRange, writeRangeBack } from '../image/offline/range.js';
import { ResourceScope } from '../util/scope.js';

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
 * Grows `image` (a private copy: written in place) to the layout. Returns the
 * plan that was applied. Loop devices are attached in a scope of their own
 * and detached before returning, on success and failure alike.
 */
export async function growImageToLayout(
  /** undefined: the offline backend (e2fsprogs on the partition's bytes, no loop device). */
  priv: Privileged | undefined,
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

  if (!priv) {
    // resize2fs on `image?offset=N` would set the whole file's size to the filesystem's (it
    // treats the file as the device): grow a sparse copy of ROOT instead and write it back.
    const oldRoot = locateFlatcarPartition(table, 'ROOT');
    const copy = path.join(path.dirname(image), `.root-${process.pid}-${Date.now()}.img`);
    try {
      await extractRange(image, { offset: oldRoot.startByte, size: oldRoot.sizeBytes }, copy);
      const newBytes = plan.rootSectors * sectorSize;
      await truncate(copy, newBytes);
      await run('e2fsck', ['-f', '-y', copy], { okExitCodes: [1, 2], purpose: 'check ROOT before growing it' });
      await run('resize2fs', [copy], { purpose: `grow the ROOT filesystem to ${plan.rootSectors} sectors` });
      await writeRangeBack(copy, image, { offset: plan.rootFirstLba * sectorSize, size: newBytes });
    } finally {
      await rm(copy, { force: true });
    }
    return plan;
  }
  const scope = new ResourceScope();
  try {
    const device = await attachLoop(priv, scope, image, { offset: plan.rootFirstLba * sectorSize, size: plan.rootSectors * sectorSize }, { label: 'ROOT' });
    // resize2fs insists on a freshly checked filesystem; 1 and 2 mean "errors fixed", which is still a usable fs.
    await priv.run('e2fsck', ['-f', '-y', device], { okExitCodes: [1, 2], purpose: 'check ROOT before growing it' });
    await priv.run('resize2fs', [device], { purpose: `grow the ROOT filesystem to ${plan.rootSectors} sectors` });
  } finally {
    await scope.release();
  }
  const failure = scope.releaseFailure();
  if (failure) throw failure;
  return plan;
}

/** Sparse private copy of an image (cp keeps holes, so an 8 GiB image costs what it holds). */
export async function sparseCopy(source: string, destination: string): Promise<void> {
  await run('cp', ['--sparse=always', '--', source, destination], { purpose: `copy ${source}` });
}
