import path from 'node:path';
import { InputError } from '../errors.js';
import type { Privileged } from '../privileged/privileged.js';
import type { ResolvedRelease } from '../flatcar-release/resolve.js';
import { SignatureVerifier } from '../verify/gpg.js';
import { writeVendorImages, type VendorResult, type VendorSelection } from '../platforms/index.js';
import type { BakeContext } from './context.js';
import { fetchFiles, fetchSigningKey, RELEASE_NAMESPACE } from './fetch-stage.js';

/** `--oem-sysext` files by OEM id: `oem-<id>.raw` (or `oem-<id>-<version>.raw`). */
export function oemSysextsByName(files: readonly string[]): Map<string, string> {
  const byId = new Map<string, string>();
  for (const file of files) {
    const m = /^oem-([a-z0-9][a-z0-9_]*)(?:-[0-9][^/]*)?\.raw$/.exec(path.basename(file));
    if (!m) {
      throw new InputError(`--oem-sysext ${file}: the name must be oem-<id>.raw`, 'name it as Flatcar publishes it beside the image, e.g. oem-azure.raw');
    }
    byId.set(m[1]!, path.resolve(file));
  }
  return byId;
}

/**
 * The OEM sysexts a vendor needs: a given `--oem-sysext` file, or `oem-<id>.raw` fetched from
 * beside the image, signature-checked when the release publishes `oem-<id>.raw.sig` (Flatcar
 * does), and cached once verified. Each id is fetched once however many vendors need it.
 */
function oemSysextResolver(ctx: BakeContext, release: ResolvedRelease): (id: string) => Promise<string | undefined> {
  const given = oemSysextsByName(ctx.options.oemSysexts ?? []);
  const pending = new Map<string, Promise<string | undefined>>();
  const fetchOne = async (id: string): Promise<string | undefined> => {
    const url = `${release.baseUrl}/oem-${id}.raw`;
    const [raw, sig] = await fetchFiles(ctx, [
      { url, label: `oem-${id}.raw`, optional: true, cache: { namespace: RELEASE_NAMESPACE, key: url } },
      { url: `${url}.sig`, label: `oem-${id}.raw.sig`, optional: true, cache: { namespace: RELEASE_NAMESPACE, key: `${url}.sig` } },
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
      await ctx.cache.store(RELEASE_NAMESPACE, url, raw.path, { sha256: raw.sha256, size: raw.size, meta: { signatureSha256: sig.sha256 } });
      if (!sig.fromCache) await ctx.cache.store(RELEASE_NAMESPACE, `${url}.sig`, sig.path, { sha256: sig.sha256, size: sig.size });
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
export async function writeVendors(
  ctx: BakeContext,
  priv: Privileged | undefined,
  bakedImage: string,
  selection: VendorSelection,
  release: ResolvedRelease,
  /** ROOT of the baked image, in sectors: no vendor's ROOT ends up smaller (--root-size beyond a layout). */
  minRootSectors?: number,
  /** Names of the baked sysexts (pxe and iso warn that they lack them). */
  bakedSysexts: readonly string[] = [],
): Promise<VendorResult[]> {
  if (selection.vendors.length === 0) return [];
  return writeVendorImages({
    bakedImage,
    vendors: selection.vendors.map((v) => v.id),
    workDir: path.join(ctx.workDir, 'vendors'),
    version: release.version,
    arch: release.arch,
    oemSysexts: oemSysextResolver(ctx, release),
    skipMissingOemSysext: ctx.options.noOemSysext,
    priv,
    minRootSectors,
    bakedSysexts,
    scope: ctx.scope,
    report: ctx.report,
  });
}
