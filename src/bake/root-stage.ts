/**
 * Growing ROOT before the sysexts go in: to `--root-size`, or (a run that writes disk vendor
 * images) to what the sysexts need, each vendor's layout then growing it further; the generic
 * image then fails alone when its ROOT could not hold them. Growth is
 * the vendor layouts' own (src/platforms/layout.ts): only ROOT and the backup GPT move, every
 * other partition keeps its bytes, and the new space stays a hole.
 */
import { UsageError, InputError } from '../errors.js';
import { readGptFromFile } from '../gpt/file.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import type { Backend } from '../backend/index.js';
import { formatSizeArg, mib } from '../util/size.js';
import { growImageToLayout } from '../platforms/layout.js';
import type { VendorRegistry, VendorResult, VendorSelection } from '../platforms/index.js';
import type { BakeContext } from './context.js';
import { NoRoomError, rootSizeHint, suggestRootBytes } from './room.js';

/** Refuses a --root-size below the base image's ROOT before anything is copied. */
export function checkRootSize(table: GptTable, rootBytes: number | undefined): void {
  if (rootBytes === undefined) return;
  const root = locateFlatcarPartition(table, 'ROOT');
  if (rootBytes < root.sizeBytes) {
    throw new UsageError(
      `--root-size ${formatSizeArg(rootBytes)} is smaller than the image's ROOT (${root.sizeBytes} bytes): ROOT can only grow`,
      `leave --root-size out, or give at least ${formatSizeArg(root.sizeBytes)}`,
    );
  }
}

/** Grows ROOT of the staged image to `rootBytes` and returns the new table. */
export async function growRoot(ctx: BakeContext, backend: Backend, registry: VendorRegistry, image: string, rootBytes: number): Promise<GptTable> {
  const before = await readGptFromFile(image);
  const root = locateFlatcarPartition(before, 'ROOT');
  if (rootBytes === root.sizeBytes) return before;
  const plan = await growImageToLayout(backend, image, rootBytes / before.sectorSize, registry.settings.diskAlignmentSectors);
  ctx.report.step('grow', `ROOT from ${mib(root.sizeBytes)} to ${mib(plan.rootSectors * before.sectorSize)}, disk ${plan.diskSectors} sectors`);
  return readGptFromFile(image);
}

/**
 * Runs `inject` on the staged image; when ROOT is too small and `autoGrow` allows it (the run
 * writes disk vendors, whose layouts grow ROOT anyway), grows ROOT to the size the check suggests
 * and runs it again. Otherwise the error says which --root-size would fit. `tooSmall` is the first
 * shortage (with that hint) when ROOT had to grow: the generic image, which keeps the base's ROOT
 * (or --root-size's), cannot hold the set and fails alone.
 */
export async function injectWithRoom<T>(
  ctx: BakeContext,
  backend: Backend,
  registry: VendorRegistry,
  image: string,
  table: GptTable,
  inject: (table: GptTable) => Promise<T>,
  autoGrow: boolean,
): Promise<{ injected: T; table: GptTable; tooSmall?: NoRoomError }> {
  let tooSmall: NoRoomError | undefined;
  // Two growths at most: the suggestion has slack, a second round covers a filesystem that
  // spends more on new block groups than its counts show.
  for (let round = 0; ; round++) {
    try {
      return { injected: await inject(table), table, ...(tooSmall ? { tooSmall } : {}) };
    } catch (error) {
      if (!(error instanceof NoRoomError) || error.partition !== 'ROOT') throw error;
      const root = locateFlatcarPartition(table, 'ROOT');
      const withHint = error.withHint(rootSizeHint(root.sizeBytes, error));
      if (!autoGrow || round >= 2) throw withHint;
      tooSmall ??= withHint;
      ctx.report.step('grow', `the sysexts need ${mib(error.missingBytes)} more than ROOT has free: growing it before the vendor layouts`);
      table = await growRoot(ctx, backend, registry, image, suggestRootBytes(root.sizeBytes, error));
    }
  }
}

/** The generic image's result when its ROOT could not hold the set: a failure with the numbers and the --root-size that fits. */
export function genericTooSmall(tooSmall: NoRoomError): VendorResult {
  return { vendor: 'generic', ok: false, outputs: [], error: new InputError(`${tooSmall.message}; ${tooSmall.hint}`, tooSmall.hint) };
}

/**
 * After ROOT grew for a vendor-only run: the disk vendors whose layout ROOT is smaller than the
 * grown one cannot hold the sysexts. They fail alone, with the numbers; the rest are written.
 */
export function vendorsThatHold(selection: VendorSelection, baseRootSectors: number, grownRootSectors: number, sectorSize: number): { selection: VendorSelection; failed: VendorResult[] } {
  const failed: VendorResult[] = [];
  const vendors = selection.vendors.filter((v) => {
    if (v.kind !== 'disk' || !v.layout) return true;
    const layoutSectors = v.layout.rootSectors ?? baseRootSectors;
    if (layoutSectors >= grownRootSectors) return true;
    const error = new InputError(
      `its ${v.layout.name} layout gives ROOT ${mib(layoutSectors * sectorSize)}, the sysexts need ROOT grown to about ${mib(grownRootSectors * sectorSize)}`,
      `--root-size ${formatSizeArg(grownRootSectors * sectorSize)} grows ROOT for every vendor`,
    );
    failed.push({ vendor: v.id, ok: false, outputs: [], error });
    return false;
  });
  return { selection: { ...selection, vendors }, failed };
}
