/**
 * Step 4, verify + decompress: the base image, checked against its signatures and decompressed
 * while it downloads (step 3 starts the download; both overlap), or a local --image.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedRelease } from '../flatcar-release/resolve.js';
import { sha256SparseFile } from '../util/hash.js';
import { cachedBase, decompressBase, verifyRelease, type BaseImage } from './base-image.js';
import type { BakeContext } from './context.js';
import { fetchReleaseFiles, fetchSigningKey } from './downloads.js';
import type { ReleaseInfo } from './manifest.js';

/** The base image ready to stage, and what the manifest says about it. */
export interface VerifiedBase {
  image: BaseImage;
  /** From the release and its version.txt; undefined for --image (its os-release names it, read once staged). */
  release?: ReleaseInfo;
  /** The release it was fetched from; undefined for --image. */
  resolved?: ResolvedRelease;
  signature: { verified: boolean; fingerprint?: string };
  /** URL or local path of what was read (the .bz2 or the local .bin). */
  source: string;
  sha256: string;
  size: number;
}

/**
 * Marks a derived promise as handled where it is made: its failure is the failure of the promise
 * it derives from, which is awaited. Without this, a download that fails before the consumer of
 * the derived promise attaches to it would end the process with Node's unhandled-rejection dump.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** A release's base image: downloaded (or cached), signature-checked and decompressed, overlapped. */
export async function releaseBase(ctx: BakeContext, release: ResolvedRelease): Promise<VerifiedBase> {
  let imageDownload: ((part: string | undefined) => void) | undefined;
  const imageDownloadStarted = new Promise<string | undefined>((resolve) => (imageDownload = resolve));
  // A cached .bz2 whose decompression is cached (and proven) is not read, so not hashed either.
  const filesPromise = fetchReleaseFiles(ctx, release, (part) => imageDownload!(part), async (sha256) => (await cachedBase(ctx, sha256)) !== undefined);
  filesPromise.then(() => imageDownload!(undefined), () => imageDownload!(undefined));
  const keyPromise = ctx.options.insecureSkipVerify ? Promise.resolve(undefined) : fetchSigningKey(ctx);
  // Nothing is cached, staged or published before the signatures pass; decompression overlaps
  // the download (when there is one) and the signature check.
  const verification = Promise.all([filesPromise, keyPromise]).then(([files, keyFile]) => verifyRelease(ctx, files, keyFile, release.version));
  verification.catch(() => undefined);
  // A failed download or signature stops the decompression at once instead of after it.
  const stop = new AbortController();
  filesPromise.catch(() => stop.abort());
  verification.catch(() => stop.abort());
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const part = await imageDownloadStarted;
  const decompressing = part
    ? decompressBase(ctx, { following: part, downloaded: handled(filesPromise.then((f) => f.image)) }, verification, signal)
    : filesPromise.then((files) => decompressBase(ctx, files.image, verification, signal));
  // Everything settles before an error is thrown (nothing may still write into the work dir);
  // a download failure explains a bad image best, then a signature failure, then bzip2's error.
  const settled = await Promise.allSettled([filesPromise, verification, decompressing]);
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
  const [files, verified, image] = await Promise.all([filesPromise, verification, decompressing]);
  return {
    image,
    release: {
      version: release.version,
      channel: release.channel,
      board: release.board,
      arch: release.arch,
      build: verified.version.build,
      sdkVersion: verified.version.sdkVersion,
    },
    resolved: release,
    signature: { verified: verified.verified, fingerprint: verified.fingerprint },
    source: files.image.url,
    sha256: files.image.sha256,
    size: files.image.size,
  };
}

/** --image: a local .bin (used as is) or .bin.bz2 (decompressed, cached by digest). Not signature-checked. */
export async function localBase(ctx: BakeContext, file: string): Promise<VerifiedBase> {
  ctx.report.warn(`using the local image ${file}: it is not signature-checked`);
  // A local .bin is 8 GiB of mostly holes: hash them from memory, not through the kernel.
  const sha256 = await sha256SparseFile(file);
  const size = (await stat(file)).size;
  const image: BaseImage = file.endsWith('.bz2')
    ? await decompressBase(ctx, { path: file, sha256 }, Promise.resolve())
    : { path: path.resolve(file), size, fromCache: false };
  return { image, signature: { verified: false }, source: path.resolve(file), sha256, size };
}

/**
 * Puts a freshly decompressed base into the cache with its piece digests (those known; the
 * cache hashes the others). A cache that cannot be written costs the next bake time, not this
 * one its result: it warns.
 */
export async function keepBase(ctx: BakeContext, base: BaseImage, chunks?: Map<number, string>): Promise<void> {
  try {
    if (base.keep) await base.keep(chunks);
  } catch (error) {
    ctx.report.warn(`could not keep the base image in the cache: ${(error as Error).message}`);
  }
}
