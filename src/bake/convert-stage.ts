/**
 * Step 7, convert: each --vendor image from the baked image, in parallel; a failed vendor spoils
 * no other. The results start with the generic image's failure when its ROOT could not hold the
 * sysexts (the disk vendors' could).
 */
import path from 'node:path';
import { locateFlatcarPartition } from '../gpt/locate.js';
import { resolvedRelease, type ResolvedRelease } from '../flatcar-release/resolve.js';
import { throwIfInterrupted } from '../util/scope.js';
import { SignatureVerifier } from '../verify/gpg.js';
import { writeVendorImages, type VendorResult, type VendorSelection } from '../platforms/index.js';
import type { BakeContext } from './context.js';
import { fetchFiles, fetchSigningKey, RELEASE_NAMESPACE, releaseFileKey } from './downloads.js';
import type { Fetched } from './fetch-stage.js';
import type { Injected } from './inject-stage.js';
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
  const written = held.selection.vendors.length
    ? await writeVendors(ctx, plan, staged.image, held.selection, fetched.base.resolved ?? resolvedRelease(options.releaseServer, injected.release.version, options.arch), bakedRoot.sizeSectors, staged.placed.map((s) => s.name))
    : [];
  const results = [...(generic ? [generic] : []), ...held.failed, ...written];
  throwIfInterrupted();
  return results;
}

/**
 * The OEM sysexts a vendor needs: a given `--oem-sysext` file, or `oem-<id>.raw` fetched from
 * beside the image, signature-checked when the release publishes `oem-<id>.raw.sig` (Flatcar
 * does), and cached once verified. Each id is fetched once however many vendors need it.
 */
function oemSysextResolver(ctx: BakeContext, given: ReadonlyMap<string, string>, release: ResolvedRelease): (id: string) => Promise<string | undefined> {
  const pending = new Map<string, Promise<string | undefined>>();
  const fetchOne = async (id: string): Promise<string | undefined> => {
    const url = `${release.baseUrl}/oem-${id}.raw`;
    // Keyed by board, version and name like the image (downloads.ts): another mirror is a hit.
    const key = releaseFileKey(release, `oem-${id}.raw`);
    const [raw, sig] = await fetchFiles(ctx, [
      { url, label: `oem-${id}.raw`, optional: true, cache: { namespace: RELEASE_NAMESPACE, key } },
      { url: `${url}.sig`, label: `oem-${id}.raw.sig`, optional: true, cache: { namespace: RELEASE_NAMESPACE, key: `${key}.sig` } },
    ]);
    if (!raw) return undefined;
    if (ctx.options.insecureSkipVerify) {
      ctx.report.warn(`oem-${id}.raw is NOT signature-checked (--insecure-skip-verify)`);
    } else if (!sig) {
      ctx.report.warn(`the release publishes no signature for oem-${id}.raw; it is used unverified`);
    } else if (!raw.fromCache) {
      const verifier = await SignatureVerifier.withKey(await fetchSigningKey(ctx));
      try {
        await verifier.verify(raw.path, sig.path, `oem-${id}.raw`);
      } finally {
        await verifier.close();
      }
      await ctx.cache.store(RELEASE_NAMESPACE, key, raw.path, { sha256: raw.sha256, size: raw.size, meta: { signatureSha256: sig.sha256 } });
      if (!sig.fromCache) await ctx.cache.store(RELEASE_NAMESPACE, `${key}.sig`, sig.path, { sha256: sig.sha256, size: sig.size });
    }
    ctx.report.step('fetch', `oem-${id}.raw${raw.fromCache ? ' from the cache' : ''}${sig && !ctx.options.insecureSkipVerify ? ', signature good' : ''}`);
    return raw.path;
  };
  return (id) => {
    const file = given.get(id);
    if (file) return Promise.resolve(file);
    if (ctx.options.noOemSysext) return Promise.resolve(undefined);
    let promise = pending.get(id);
    if (!promise) pending.set(id, (promise = fetchOne(id)));
    return promise;
  };
}

/** Writes every selected vendor image from the baked image, in parallel; failures are per vendor. */
async function writeVendors(
  ctx: BakeContext,
  plan: BakePlan,
  bakedImage: string,
  selection: VendorSelection,
  release: ResolvedRelease,
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
    oemSysexts: oemSysextResolver(ctx, plan.oemSysexts, release),
    skipMissingOemSysext: ctx.options.noOemSysext,
    backend: plan.backend,
    minRootSectors,
    bakedSysexts,
    scope: ctx.scope,
    report: ctx.report,
  });
}
