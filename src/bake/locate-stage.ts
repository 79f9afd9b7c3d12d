/**
 * Step 5, locate + stage: where each sysext goes, where ROOT and OEM are in the base's GPT, and
 * a private copy of the base to bake. The pieces of the image the bake cannot change are hashed
 * from the base meanwhile, for the digest step.
 */
import path from 'node:path';
import { IMAGE_FILE } from '../defaults.js';
import { readGptFromFile } from '../gpt/file.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptPartition, GptTable } from '../gpt/types.js';
import { throwIfInterrupted } from '../util/scope.js';
import { stageImage } from './base-image.js';
import type { BakeContext } from './context.js';
import type { Fetched } from './fetch-stage.js';
import type { SysextToInject } from './inject.js';
import { untouchedBasePieces } from './digest-stage.js';
import { checkRootSize } from './root-stage.js';
import { checkSysupdateInputs, placeSysexts } from './sysupdate-stage.js';
import type { BakePlan } from './validate.js';

export interface Staged {
  /** The private copy the next steps write, in the work dir. */
  image: string;
  /** The base's GPT (the staged copy's until ROOT grows). */
  table: GptTable;
  /** ROOT of the base. */
  root: GptPartition;
  /** The sysexts, each with the partition and directory it goes to. */
  placed: SysextToInject[];
  /** Digests of the base's pieces the bake cannot change; only when the generic image is published. */
  basePieces?: Promise<Map<number, string>>;
}

export async function locateAndStage(ctx: BakeContext, plan: BakePlan, fetched: Fetched): Promise<Staged> {
  const { options } = plan;
  if (options.sysupdate) checkSysupdateInputs(fetched.sysexts.toInject, options.fetch);
  const placed = await placeSysexts(fetched.sysexts.toInject, plan.target, options.arch, ctx.report);
  throwIfInterrupted();

  // locate, on the base (the staged copy is the same bytes), so that hashing the pieces the bake
  // cannot change runs alongside the copy.
  const base = fetched.base.image;
  const table = await readGptFromFile(base.path);
  const root = locateFlatcarPartition(table, 'ROOT');
  const oem = locateFlatcarPartition(table, 'OEM');
  ctx.report.step('locate', `ROOT is partition ${root.number} at byte ${root.startByte} (${root.sizeBytes} bytes), OEM is partition ${oem.number}; ${plan.backend.name} backend`);
  // The bake writes only these partitions; the digest of every other piece of the image is the
  // base's, hashed while the copy is made and edited (or known from the cache).
  checkRootSize(table, options.rootSize);
  // A ROOT that grows takes the disk's new end with it, and the GPT headers change.
  const rootChanged = options.rootSize !== undefined && options.rootSize > root.sizeBytes ? [{ startByte: 0, sizeBytes: table.firstUsableLba * table.sectorSize }, { startByte: root.startByte, sizeBytes: Infinity }] : [root];
  const changed = placed.some((s) => s.place.partition === 'oem') ? [...rootChanged, oem] : rootChanged;
  const basePieces = plan.selection.generic ? untouchedBasePieces(base, changed) : undefined;
  basePieces?.catch(() => undefined);

  // stage: a private copy; the base (perhaps the cache's) is never written
  const image = path.join(ctx.workDir, IMAGE_FILE);
  await stageImage(ctx, base, image);
  // A fresh base goes into the cache after the generic image is digested (which yields the
  // base's piece digests).
  return { image, table, root, placed, ...(basePieces ? { basePieces } : {}) };
}
