import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { decompressBz2ToSparse } from '../image/decompress.js';
import type { DigestSnapshot } from '../image/sparse-writer.js';
import { run } from '../util/exec.js';
import { parseVersionTxt, type VersionInfo } from '../release/resolve.js';
import { SignatureVerifier } from '../verify/gpg.js';
import type { BakeContext } from './context.js';
import { RELEASE_NAMESPACE, type FetchedFile, type ReleaseFiles } from './fetch-stage.js';

export const DECOMPRESSED_NAMESPACE = 'decompressed';

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
  const store = async (file: FetchedFile, meta: Record<string, unknown>) => {
    if (file.fromCache) return;
    await ctx.cache.store(RELEASE_NAMESPACE, file.url, file.path, { sha256: file.sha256, size: file.size, meta, move: false });
  };
  await store(files.image, { fingerprint, signatureSha256: files.imageSig.sha256 });
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
  /** SHA-256 states of the image's prefixes, taken while decompressing (fresh decompressions only). */
  digestSnapshots?: DigestSnapshot[];
}

/** How often decompression keeps a SHA-256 state: a few dozen small copies for an 8 GiB image. */
const DIGEST_SNAPSHOT_EVERY = 256 * 1024 * 1024;

/**
 * Decompresses the .bz2 to a sparse file, or finds it in the cache keyed by
 * the compressed file's digest. The result enters the cache only once
 * `verified` resolves, so decompression can overlap signature checking.
 */
export async function decompressBase(ctx: BakeContext, compressed: { path: string; sha256: string }, verified: Promise<unknown>): Promise<BaseImage> {
  const key = `bz2:${compressed.sha256}`;
  const hit = await ctx.cache.lookup(DECOMPRESSED_NAMESPACE, key);
  if (hit) {
    await verified;
    ctx.report.step('decompress', 'base image from the cache');
    return { path: hit.path, size: hit.size, fromCache: true };
  }
  const dir = ctx.cache.dir ? path.join(ctx.cache.dir, 'downloads') : ctx.workDir;
  await mkdir(dir, { recursive: true });
  const dest = path.join(dir, `decompress-${randomBytes(6).toString('hex')}.bin`);
  ctx.scope.defer(`remove ${dest}`, () => rm(dest, { force: true }));
  const task = ctx.report.progress.start('decompress flatcar_production_image.bin.bz2');
  let result;
  try {
    result = await decompressBz2ToSparse(compressed.path, dest, {
      signal: ctx.signal,
      onProgress: (done, total) => task.update(done, total),
      // Hashing while lbzip2 works saves most of the output digest later: only the part after
      // the first partition the bake changes is read again.
      digestSnapshotEvery: DIGEST_SNAPSHOT_EVERY,
    });
    task.succeed();
  } catch (error) {
    task.fail();
    throw error;
  }
  await verified; // never cache (or use) an image whose signature failed
  ctx.report.step('decompress', `${result.size} bytes, sparse (${result.tool})`);
  // Hashing 8 GiB would slow every cold bake; the blob is named by a digest derived from the
  // compressed file's (distinct from that file's own blob), which identifies the content just as well.
  const stored = await ctx.cache.store(DECOMPRESSED_NAMESPACE, key, dest, {
    sha256: createHash('sha256').update(`flatbake-decompressed\0${compressed.sha256}`).digest('hex'),
    size: result.size,
    move: true,
    meta: { decompressedFrom: compressed.sha256 },
  });
  return { path: stored?.path ?? dest, size: result.size, fromCache: false, tool: result.tool, digestSnapshots: result.snapshots };
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

