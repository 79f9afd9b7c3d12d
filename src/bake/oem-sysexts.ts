/**
 * The vendors' OEM sysexts: a given `--oem-sysext` file, or `oem-<id>.raw` fetched from beside
 * the image, signature-checked when the release publishes `oem-<id>.raw.sig` (Flatcar does), and
 * cached once verified. Each id is fetched once however many vendors need it, and what each id
 * turned out to be (where from, digest) is kept for the manifest and for `--replay`.
 */
import { stat } from 'node:fs/promises';
import type { ResolvedRelease } from '../flatcar-release/resolve.js';
import { sha256File } from '../util/hash.js';
import { SignatureVerifier } from '../verify/gpg.js';
import type { BakeContext } from './context.js';
import { fetchFiles, fetchSigningKey, RELEASE_NAMESPACE, releaseFileKey } from './downloads.js';

/** One OEM sysext a vendor image carries, as the manifest records it. */
export interface ManifestOemSysext {
  /** The OEM id (`qemu` for `oem-qemu.raw`). */
  id: string;
  /** Where it came from: the release server's URL, or the `--oem-sysext` path. */
  source: string;
  sha256: string;
  size: number;
}

/** The OEM sysexts of one bake (one release). */
export interface OemSysexts {
  /** The file for OEM id ID (undefined: none to be had); fetched at most once. */
  resolve(release: ResolvedRelease, id: string): Promise<string | undefined>;
  /** Every id resolved to a file so far, sorted by id. */
  records(): ManifestOemSysext[];
}

export function oemSysexts(ctx: BakeContext, given: ReadonlyMap<string, string>): OemSysexts {
  const pending = new Map<string, Promise<string | undefined>>();
  const recorded = new Map<string, ManifestOemSysext>();

  const fetchOne = async (release: ResolvedRelease, id: string): Promise<string | undefined> => {
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
    recorded.set(id, { id, source: url, sha256: raw.sha256, size: raw.size });
    return raw.path;
  };

  const givenOne = async (id: string, file: string): Promise<string> => {
    // A missing file is the vendor writer's error to report (write.ts): record only what exists.
    const info = await stat(file).catch(() => undefined);
    if (info?.isFile()) recorded.set(id, { id, source: file, sha256: await sha256File(file), size: info.size });
    return file;
  };

  return {
    resolve(release, id) {
      let promise = pending.get(id);
      if (!promise) {
        const file = given.get(id);
        if (file) promise = givenOne(id, file);
        else if (ctx.options.noOemSysext) promise = Promise.resolve(undefined);
        else promise = fetchOne(release, id);
        pending.set(id, promise);
      }
      return promise;
    },
    records: () => [...recorded.values()].sort((a, b) => a.id.localeCompare(b.id)),
  };
}
