import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { decompressBz2ToSparse, pickBzip2Decompressor } from '../image/decompress.js';
import { followGrowingFile } from '../image/follow.js';
import { DIGEST_CHUNK } from '../util/chunked-digest.js';
import { run } from '../util/exec.js';
import { SCRATCH_PREFIXES } from '../util/leftovers.js';
import { ownedPrefix } from '../util/owner.js';
import { parseVersionTxt, type VersionInfo } from '../flatcar-release/resolve.js';
import { InputError } from '../errors.js';
import { SignatureVerifier } from '../verify/gpg.js';
import type { BakeContext } from './context.js';
import { provenFile, RELEASE_NAMESPACE, type FetchedFile, type ReleaseFiles } from './downloads.js';

export const DECOMPRESSED_NAMESPACE = 'decompressed';
/** How often a decompression's output size is read for its progress line. */
const DECOMPRESS_POLL_MS = 500;

export interface VerifiedRelease {
  version: VersionInfo;
  /** Fingerprint of the key that signed the image; undefined with --insecure-skip-verify. */
  fingerprint?: string;
  verified: boolean;
}

/**
 * Checks the detached signatures of the image and version.txt. A cached image
 * whose recorded signature digest and key match is not hashed again: it was
 * verified before it entered the cache.
 */
export async function verifyRelease(ctx: BakeContext, files: ReleaseFiles, keyFile: string | undefined, expectedVersion: string): Promise<VerifiedRelease> {
  const version = parseVersionTxt(await readFile(files.versionTxt.path, 'utf8'), expectedVersion);
  if (ctx.options.insecureSkipVerify || !keyFile) {
    ctx.report.warn('--insecure-skip-verify: the image and version.txt are NOT signature-checked; do not ship this image');
    return { version, verified: false };
  }
  const verifier = await SignatureVerifier.withKey(keyFile);
  try {
    const versionCheck = await verifier.verify(files.versionTxt.path, files.versionTxtSig.path, 'version.txt');
    const meta = files.image.cacheMeta;
    const alreadyVerified =
      files.image.fromCache &&
      meta?.signatureSha256 === files.imageSig.sha256 &&
      typeof meta?.fingerprint === 'string' &&
      verifier.keyFingerprints.some((fp) => meta.fingerprint === fp || String(meta.fingerprint).endsWith(fp) || fp.endsWith(String(meta.fingerprint)));
    let fingerprint: string;
    if (alreadyVerified) {
      fingerprint = String(meta!.fingerprint);
    } else {
      // A cached .bz2 left unhashed (its decompression is cached) is read by gpg now: proven
      // first, so a damaged one is fetched again instead of failing as a false BADSIG.
      files = { ...files, image: await provenFile(ctx, files.image, RELEASE_NAMESPACE) };
      const check = await verifier.verify(files.image.path, files.imageSig.path, path.basename(new URL(files.image.url).pathname));
      fingerprint = check.fingerprint;
      if (check.expiredKey) ctx.report.warn('the image was signed by a key that has expired since; the signature itself is good');
    }
    ctx.report.step('verify', `signatures of the image and version.txt are good (key ${fingerprint})${alreadyVerified ? ', image verified when cached' : ''}`);
    await cacheVerified(ctx, files, fingerprint, versionCheck.fingerprint);
    return { version, fingerprint, verified: true };
  } finally {
    await verifier.close();
  }
}

/** Verified release files enter the cache; before verification nothing does. */
async function cacheVerified(ctx: BakeContext, files: ReleaseFiles, fingerprint: string, versionFingerprint: string): Promise<void> {
  const store = async (file: FetchedFile, meta: Record<string, unknown>, pieces?: Map<number, string>) => {
    if (file.fromCache) return;
    await ctx.cache.store(RELEASE_NAMESPACE, file.cacheKey ?? file.url, file.path, { sha256: file.sha256, size: file.size, meta, move: false, ...(pieces ? { pieces } : {}) });
  };
  // With its piece digests, so a later use can prove its 400+ MB in parallel.
  await store(files.image, { fingerprint, signatureSha256: files.imageSig.sha256 }, new Map());
  await store(files.imageSig, {});
  await store(files.versionTxt, { fingerprint: versionFingerprint, signatureSha256: files.versionTxtSig.sha256 });
  await store(files.versionTxtSig, {});
}

export interface BaseImage {
  /** The pristine decompressed image (read-only: it may be the cache's blob). */
  path: string;
  size: number;
  fromCache: boolean;
  tool?: string;
  /** Digests of the base's 4 MiB pieces that hold data, by piece index, when the cache knows them (a cached base: all of them). */
  chunks?: Map<number, string>;
  /**
   * A fresh decompression not yet in the cache: moves it there and records its piece digests
   * (those given; the others are hashed then), by which every later use proves it. Call it once
   * the image is staged: it renames the file.
   */
  keep?: (chunks?: Map<number, string>) => Promise<void>;
}

/** The cached decompression of the .bz2 with this SHA-256, proven piece by piece (once per run). */
export function cachedBase(ctx: BakeContext, compressedSha256: string) {
  return ctx.cache.lookup(DECOMPRESSED_NAMESPACE, `bz2:${compressedSha256}`);
}

/** What to decompress: a finished .bz2 (`unchecked`: see CacheEntry), or one still downloading (followed as it grows). */
export type CompressedSource =
  | { path: string; sha256: string; unchecked?: boolean }
  | { following: string; downloaded: Promise<{ path: string; sha256: string; size: number; rewritten?: boolean }> };

/**
 * Decompresses the .bz2 to a sparse file, or finds it in the cache keyed by the compressed
 * file's digest. A download in progress is decompressed as it arrives, so a cold bake costs
 * about max(download, decompression) instead of their sum; a download that cut its file back
 * while it was read is decompressed again from the final file. Nothing is returned before
 * `verified` resolves, so decompression overlaps signature checking; the caller puts a fresh
 * result into the cache with `keep`.
 */
export async function decompressBase(
  ctx: BakeContext,
  source: CompressedSource,
  verified: Promise<unknown>,
  signal: AbortSignal = ctx.signal,
): Promise<BaseImage> {
  if ('path' in source) {
    const hit = await cachedBase(ctx, source.sha256);
    if (hit) {
      await verified;
      ctx.report.step('decompress', 'base image from the cache (its pieces proven)');
      return { path: hit.path, size: hit.size, fromCache: true, chunks: hit.pieces };
    }
    // The .bz2's bytes were left unhashed because this decompression was cached; it is gone now.
    if (source.unchecked) throw new InputError('the cached base image went away while this run used it', 'run the bake again');
  }
  const dir = ctx.cache.dir ? path.join(ctx.cache.dir, 'downloads') : ctx.workDir;
  await mkdir(dir, { recursive: true });
  // Named for our pid: the next run removes it if we are killed (util/leftovers).
  const dest = path.join(dir, `${ownedPrefix(SCRATCH_PREFIXES.cacheDownloads)}${randomBytes(6).toString('hex')}.bin`);
  ctx.scope.defer(`remove ${dest}`, () => rm(dest, { force: true }));
  // While the download runs, the compressed size is known once it ends (for the percentage).
  let downloadedSize: number | undefined;
  if (!('path' in source)) source.downloaded.then((d) => (downloadedSize = d.size), () => undefined);
  const run = async (input: Parameters<typeof decompressBz2ToSparse>[0], label: string) => {
    // The task counts the bytes written (the image's size grows as dd writes it); how far it is
    // comes from the compressed bytes read, when their total is known (a finished file).
    const tool = await pickBzip2Decompressor();
    const task = ctx.report.progress.start(`${label} (${tool})`);
    let written = 0;
    const poll = setInterval(() => {
      stat(dest).then(
        (st) => {
          if (st.size > written) task.advance(st.size - written);
          written = Math.max(written, st.size);
        },
        () => undefined,
      );
    }, DECOMPRESS_POLL_MS);
    try {
      const result = await decompressBz2ToSparse(input, dest, {
        signal,
        tool,
        onProgress: (done, total) => {
          const of = total || downloadedSize;
          if (of) task.estimate(done / of);
        },
      });
      task.succeed({ bytes: result.size });
      return result;
    } catch (error) {
      task.fail();
      throw error;
    } finally {
      clearInterval(poll);
    }
  };

  let compressed: { path: string; sha256: string };
  let result: Awaited<ReturnType<typeof decompressBz2ToSparse>>;
  if ('path' in source) {
    compressed = source;
    result = await run(source.path, 'decompress flatcar_production_image.bin.bz2');
  } else {
    let read = 0;
    const stream = (async function* () {
      for await (const chunk of followGrowingFile(source.following, source.downloaded, signal)) {
        read += chunk.length;
        yield chunk;
      }
    })();
    const attempt = await run({ stream, label: 'flatcar_production_image.bin.bz2' }, 'decompress flatcar_production_image.bin.bz2 while it downloads').then(
      (r) => ({ ok: true as const, r }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const downloaded = await source.downloaded; // a failed download explains a failed decompression best
    compressed = downloaded;
    // A file that only ever grew at its end, read to its final size, was read as it is now.
    const sameBytes = attempt.ok && downloaded.rewritten === false && read === downloaded.size;
    if (attempt.ok && sameBytes) {
      result = attempt.r;
    } else {
      signal.throwIfAborted();
      // The download restarted (or the stream was damaged): decompress the finished file itself.
      if (attempt.ok) ctx.report.step('decompress', 'the download restarted while it was decompressed: decompressing the finished file again');
      await rm(dest, { force: true });
      result = await run(compressed.path, 'decompress flatcar_production_image.bin.bz2');
    }
  }
  await verified; // never cache (or use) an image whose signature failed
  let kept = false;
  const keep = async (chunks?: Map<number, string>) => {
    if (kept) return;
    kept = true;
    // Not flushed first (fdatasync wrote its 400+ MB of data out in the cold bake's path): every
    // use proves the blob piece by piece, so one torn by a crash is dropped and decompressed again.
    // Hashing 8 GiB would slow every cold bake; the blob is named by a digest derived from the
    // compressed file's (distinct from that file's own blob), which identifies the content just as well.
    await ctx.cache.store(DECOMPRESSED_NAMESPACE, `bz2:${compressed.sha256}`, dest, {
      sha256: createHash('sha256').update(`flatbake-decompressed\0${compressed.sha256}`).digest('hex'),
      size: result.size,
      move: true,
      meta: { decompressedFrom: compressed.sha256 },
      pieces: chunks ?? new Map(),
    });
  };
  // Without a cache the decompression lives in the work dir and goes with it.
  return { path: dest, size: result.size, fromCache: false, tool: result.tool, ...(ctx.cache.dir ? { keep } : {}) };
}

/** A private, writable copy of the base image; holes stay holes. */
export async function stageImage(ctx: BakeContext, base: BaseImage, dest: string): Promise<void> {
  ctx.scope.defer(`remove ${dest}`, () => rm(dest, { force: true }));
  try {
    await run('cp', ['--sparse=always', '--reflink=auto', base.path, dest], { purpose: 'copy the base image' });
  } catch (error) {
    await rm(dest, { force: true });
    throw error;
  }
}

