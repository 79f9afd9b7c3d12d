import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { downloadAll, type DownloadRequest } from '../net/download.js';
import { IMAGE_BZ2_FILE, VERSION_FILE } from '../defaults.js';
import type { ResolvedRelease } from '../flatcar-release/resolve.js';
import { parseSha256Sums } from '../verify/sha256sums.js';
import { tryLock } from '../util/leftovers.js';
import type { BakeContext } from './context.js';
import type { SysextArg } from './inputs.js';

/** A file we have locally, fetched now or found in the cache. */
export interface FetchedFile {
  url: string;
  path: string;
  sha256: string;
  size: number;
  fromCache: boolean;
  /** Downloads only: see DownloadResult.rewritten. */
  rewritten?: boolean;
  /** What the cache recorded when the file was verified (cache hits only). */
  cacheMeta?: Record<string, unknown>;
  /** The cache key it is (or will be) stored under, when not its URL. */
  cacheKey?: string;
  /** A cache hit whose bytes were not hashed, because the caller said it would not read them. */
  unchecked?: boolean;
}

export interface ReleaseFiles {
  image: FetchedFile;
  imageSig: FetchedFile;
  versionTxt: FetchedFile;
  versionTxtSig: FetchedFile;
}

export interface FetchedSysext {
  name: string;
  fileName: string;
  file: FetchedFile;
  conf?: FetchedFile;
}

/** Where downloads land: inside the cache when it is on (so they can be moved in), else the work dir. */
async function downloadDir(ctx: BakeContext): Promise<string> {
  const dir = ctx.cache.dir ? path.join(ctx.cache.dir, 'downloads') : ctx.workDir;
  await mkdir(dir, { recursive: true });
  return dir;
}

/** A stable name per URL so an interrupted download's .part is found and resumed by the next run. */
function downloadName(url: string): string {
  const tag = createHash('sha256').update(url).digest('hex').slice(0, 16);
  return `${tag}-${path.posix.basename(new URL(url).pathname) || 'file'}`;
}

/**
 * Where this run downloads NAME: the shared, resumable `<dir>/<name>` when it takes that name's
 * lock, or a private name in its work dir when another live run is fetching the same file. So
 * any number of bakes can share a cache: no two write one .part, rename it or remove it.
 */
async function privateDownload(ctx: BakeContext, dir: string, name: string): Promise<string> {
  if (dir === ctx.workDir) return path.join(dir, name);
  const shared = path.join(dir, name);
  const lock = await tryLock(`${shared}.lock`);
  if ('holder' in lock) return path.join(ctx.workDir, name);
  ctx.scope.defer(`unlock ${shared}`, lock.release);
  return shared;
}

export const RELEASE_NAMESPACE = 'release';
export const SYSEXT_NAMESPACE = 'sysext';

/**
 * Fetches what is not cached yet, in parallel. `cacheKey(url)` returns the
 * namespace and key a verified copy is stored under; a hit skips the download.
 */
export async function fetchFiles(
  ctx: BakeContext,
  wanted: Array<{ url: string; label: string; optional?: boolean; expectedSha256?: string; cache?: { namespace: string; key: string; unread?: (sha256: string) => Promise<boolean> } }>,
  /** Told where each file that is not cached is being downloaded to (`<dest>.part` while in progress). */
  onDownload?: (index: number, dest: string) => void,
): Promise<Array<FetchedFile | undefined>> {
  const results: Array<FetchedFile | undefined> = new Array(wanted.length);
  const requests: DownloadRequest[] = [];
  const requestIndex: number[] = [];
  const dir = await downloadDir(ctx);
  for (const [i, want] of wanted.entries()) {
    const hit = want.cache ? await ctx.cache.lookup(want.cache.namespace, want.cache.key, { unread: want.cache.unread }) : undefined;
    const cacheKey = want.cache && want.cache.key !== want.url ? { cacheKey: want.cache.key } : {};
    if (hit && (!want.expectedSha256 || hit.sha256 === want.expectedSha256.toLowerCase())) {
      results[i] = { url: want.url, path: hit.path, sha256: hit.sha256, size: hit.size, fromCache: true, cacheMeta: hit.meta, ...cacheKey, ...(hit.unchecked ? { unchecked: true } : {}) };
      continue;
    }
    const dest = await privateDownload(ctx, dir, downloadName(want.url));
    // A finished file of an earlier, failed run was never verified: fetch it again.
    await rm(dest, { force: true });
    ctx.scope.defer(`remove ${dest}`, () => rm(dest, { force: true }));
    // Not flushed: a download lands in the work dir (this run's only) or is linked into the
    // cache, whose lookups prove every blob before use (a torn one is dropped and fetched again).
    requests.push({ url: want.url, dest, label: want.label, optional: want.optional, expectedSha256: want.expectedSha256, durable: false });
    requestIndex.push(i);
  }
  requests.forEach((request, j) => onDownload?.(requestIndex[j]!, request.dest));
  const fetched = await downloadAll(requests, { ...ctx.net, concurrency: 4 });
  fetched.forEach((result, j) => {
    const i = requestIndex[j]!;
    const cache = wanted[i]!.cache;
    const cacheKey = cache && cache.key !== wanted[i]!.url ? { cacheKey: cache.key } : {};
    if (result) results[i] = { url: wanted[i]!.url, path: result.path, sha256: result.sha256, size: result.size, fromCache: false, rewritten: result.rewritten, ...cacheKey };
  });
  return results;
}

/**
 * The cache key of a release file: its board, version and name, not the URL it came from. A
 * versioned release's files never change, and each is signed: the same file from another
 * mirror or release server is a cache hit, and a signature check still guards what it pairs with.
 */
export function releaseFileKey(release: Pick<ResolvedRelease, 'board' | 'version'>, name: string): string {
  return `flatcar:${release.board}:${release.version}:${name}`;
}

/**
 * A cache hit whose bytes were not hashed (FetchedFile.unchecked: nobody was going to read them)
 * that is to be read after all: proven now, by the cache's lookup, before anyone reads it. A
 * damaged one is dropped with a warning and downloaded again, and must then have the digest the
 * cache recorded (whatever was made from the cached bytes, the decompressed image, stays valid).
 */
export async function provenFile(ctx: BakeContext, file: FetchedFile, namespace: string): Promise<FetchedFile> {
  if (!file.unchecked) return file;
  const label = path.posix.basename(new URL(file.url).pathname) || 'file';
  const [proven] = await fetchFiles(ctx, [{ url: file.url, label, expectedSha256: file.sha256, cache: { namespace, key: file.cacheKey ?? file.url } }]);
  return proven!;
}

/** The image, version.txt and their signatures. */
export async function fetchReleaseFiles(
  ctx: BakeContext,
  release: ResolvedRelease,
  /** Called with the image's `.part` path when it is downloaded (not when it comes from the cache). */
  onImageDownload?: (partFile: string) => void,
  /** Whether a cached image with this SHA-256 will not be read (see LookupOptions.unread). */
  imageUnread?: (sha256: string) => Promise<boolean>,
): Promise<ReleaseFiles> {
  const names = [IMAGE_BZ2_FILE, `${IMAGE_BZ2_FILE}.sig`, VERSION_FILE, `${VERSION_FILE}.sig`];
  const files = await fetchFiles(
    ctx,
    names.map((name, i) => {
      const url = `${release.baseUrl}/${name}`;
      return { url, label: name, cache: { namespace: RELEASE_NAMESPACE, key: releaseFileKey(release, name), ...(i === 0 && imageUnread ? { unread: imageUnread } : {}) } };
    }),
    (index, dest) => {
      if (index === 0) onImageDownload?.(`${dest}.part`);
    },
  );
  const [image, imageSig, versionTxt, versionTxtSig] = files as FetchedFile[];
  const cached = files.filter((f) => f?.fromCache).length;
  ctx.report.step('fetch', `release ${release.version}: ${cached === files.length ? 'all files from the cache' : `${files.length - cached} downloaded, ${cached} from the cache`}`);
  return { image: image!, imageSig: imageSig!, versionTxt: versionTxt!, versionTxtSig: versionTxtSig! };
}

const signingKeys = new WeakMap<BakeContext, Promise<string>>();

/** The OpenPGP key: a local file, or a URL fetched fresh each run (keys rotate); once per bake. */
export function fetchSigningKey(ctx: BakeContext): Promise<string> {
  let key = signingKeys.get(ctx);
  if (!key) signingKeys.set(ctx, (key = fetchSigningKeyOnce(ctx)));
  return key;
}

async function fetchSigningKeyOnce(ctx: BakeContext): Promise<string> {
  const key = ctx.options.signingKey;
  if (/^https?:\/\//.test(key)) {
    const [fetched] = await fetchFiles(ctx, [{ url: key, label: path.posix.basename(new URL(key).pathname) || 'signing key' }]);
    return fetched!.path;
  }
  try {
    if (!(await stat(key)).isFile()) throw new Error('not a file');
  } catch {
    throw new InputError(`signing key ${key} not found`, 'give --signing-key a readable file or an http(s) URL');
  }
  return key;
}

/**
 * With --fetch: the bakery's SHA256SUMS first (fresh: the bakery's "latest"
 * moves), then each sysext (cached by digest) and its optional NAME.conf.
 */
export async function fetchBakerySysexts(ctx: BakeContext, sysexts: readonly SysextArg[]): Promise<FetchedSysext[]> {
  const base = ctx.options.bakeryUrl.replace(/\/+$/, '');
  const [sumsFile] = await fetchFiles(ctx, [{ url: `${base}/SHA256SUMS`, label: 'SHA256SUMS' }]);
  const sums = parseSha256Sums(await readFile(sumsFile!.path, 'utf8'), `${base}/SHA256SUMS`);
  const wanted = sysexts.flatMap((s) => {
    const digest = sums.get(s.file);
    if (!digest) {
      throw new InputError(`${s.file} is not listed in the bakery's SHA256SUMS`, `check the file name; the bakery at ${base} lists ${[...sums.keys()].filter((k) => k.endsWith('.raw')).slice(0, 8).join(', ') || 'no .raw files'}`);
    }
    return [
      { url: `${base}/${s.file}`, label: s.file, expectedSha256: digest, cache: { namespace: SYSEXT_NAMESPACE, key: digest } },
      { url: `${base}/${s.name}.conf`, label: `${s.name}.conf`, optional: true },
    ];
  });
  const files = await fetchFiles(ctx, wanted);
  ctx.report.step('fetch', `${sysexts.length} sysext(s) from ${base}, checked against SHA256SUMS`);
  return sysexts.map((s, i) => ({ name: s.name, fileName: s.file, file: files[2 * i]!, conf: files[2 * i + 1] }));
}
