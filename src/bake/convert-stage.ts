/**
 * Step 7, convert: each --vendor image from the baked image, in parallel; a failed vendor spoils
 * no other. The results start with the generic image's failure when its ROOT could not hold the
 * sysexts (the disk vendors' could).
 */
import path from 'node:path';
import { locateFlatcarPartition } from '../gpt/locate.js';
import { resolvedRelease, type ResolvedRelease } from '../flatcar-release/resolve.js';
import { throwIfInterrupted } from '../util/scope.js';
import { writeVendorImages, type VendorResult, type VendorSelection } from '../platforms/index.js';
import type { BakeContext } from './context.js';
import type { Fetched } from './fetch-stage.js';
import type { Injected } from './inject-stage.js';
import { checkReplayedOem } from './replay.js';
import type { Staged } from './locate-stage.js';
import { genericTooSmall, vendorsThatHold } from './root-stage.js';
import type { BakePlan } from './validate.js';

export async function convert(ctx: BakeContext, plan: BakePlan, fetched: Fetched, staged: Staged, injected: Injected): Promise<VendorResult[]> {
  const { options, selection } = plan;
  const generic = selection.generic && injected.tooSmall ? genericTooSmall(injected.tooSmall) : undefined;
  if (generic) ctx.report.warn(`generic image failed: ${generic.error!.message}`);
  const bakedRoot = locateFlatcarPartition(injected.table, 'ROOT');
  const held = options.rootSize === undefined ? vendorsThatHold(selection, staged.root.sizeSectors, bakedRoot.sizeSectors, staged.table.sectorSize) : { selection, failed: [] };
  for (const f of held.failed) ctx.report.warn(`vendor ${f.vendor} failed: ${f.error!.message}`);
  const release = fetched.base.resolved ?? resolvedRelease(options.releaseServer, injected.release.version, options.arch);
  // A replay holds the OEM sysexts to the recorded digests before any vendor starts (a refusal
  // inside one vendor would be that vendor's failure, and the others would still be written).
  if (options.replayed && held.selection.vendors.length) await checkReplayedOem(ctx, options.replayed, fetched.oem, release, held.selection);
  const written = held.selection.vendors.length
    ? await writeVendors(ctx, plan, staged.image, held.selection, release, fetched, bakedRoot.sizeSectors, staged.placed.map((s) => s.name))
    : [];
  const results = [...(generic ? [generic] : []), ...held.failed, ...written];
  throwIfInterrupted();
  return results;
}

/** Writes every selected vendor image from the baked image, in parallel; failures are per vendor. */
async function writeVendors(
  ctx: BakeContext,
  plan: BakePlan,
  bakedImage: string,
  selection: VendorSelection,
  release: ResolvedRelease,
  fetched: Fetched,
  /** ROOT of the baked image, in sectors: no vendor's ROOT ends up smaller (--root-size beyond a layout). */
  minRootSectors?: number,
  /** Names of the baked sysexts (pxe and iso warn that they lack them). */
  bakedSysexts: readonly string[] = [],
): Promise<VendorResult[]> {
  return writeVendorImages({
    bakedImage,
    vendors: selection.vendors.map((v) => v.id),
    workDir: path.join(ctx.workDir, 'vendors'),
    version: release.version,
    arch: release.arch,
    oemSysexts: (id) => fetched.oem.resolve(release, id),
    skipMissingOemSysext: ctx.options.noOemSysext,
    backend: plan.backend,
    minRootSectors,
    bakedSysexts,
    scope: ctx.scope,
    report: ctx.report,
  });
}
