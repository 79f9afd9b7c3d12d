/**
 * Building a sysext from a recipe, top to bottom:
 * validate -> cached image? -> resolve -> checksums -> fetch -> unpack -> install -> pack -> publish -> cache.
 *
 * Downloads are verified against upstream checksum files where the upstream publishes them,
 * fetched in parallel, resumable (their .part files live in the cache dir), and cached by URL
 * and digest. Whole images are cached by recipeCacheKey(), which covers the recipe's code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { constants, copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cache } from '../cache/cache.js';
import { InputError, VerificationError } from '../errors.js';
import { downloadAll, type DownloadRequest } from '../net/download.js';
import { fetchWholeFile } from '../net/fetch-text.js';
import { createSysext } from '../sysext/create.js';
import { copyFileAtomic } from '../util/atomic-write.js';
import { makeTempDir } from '../util/tempdir.js';
import type { Reporter } from '../util/report.js';
import { sha256File } from '../util/hash.js';
import { extractArchive } from './archive.js';
import { findChecksum } from './checksums.js';
import { makeContext } from './context.js';
import { recipeFileName } from './names.js';
import { urlBaseName, validateDownloads, validateRequest, type FetchFile, type FetchText, type Recipe, type RecipeDownload, type RecipeInput } from './recipe.js';
import { normalizeArch, type Arch } from '../arch.js';

export interface BuildRecipeOptions {
  recipe: Recipe;
  version: string;
  /** x86-64 or arm64 (aliases accepted). */
  arch: string;
  outputDir: string;
  mirror?: string;
  cache: Cache;
  report: Reporter;
  signal?: AbortSignal;
  variant?: string;
  options?: Record<string, string>;
  /** Parallel downloads, default 4. */
  concurrency?: number;
  /** Replace an existing output file (default: yes, a rebuild of the same name is the same thing). */
  force?: boolean;
  /** Download retries (tests lower it). */
  retries?: number;
  sourceDateEpoch?: number;
  /** Build even when the cache holds the image (a replay must fetch the inputs to check them). */
  rebuild?: boolean;
  /** Told the fetched inputs before anything is installed; throws to refuse them (bake --replay). */
  checkInputs?: (inputs: BuildRecipeResult['inputs']) => void;
}

export interface BuildRecipeResult {
  path: string;
  sha256: string;
  size: number;
  /** The image came from the cache of earlier builds. */
  cached: boolean;
  /** Digests of the upstream files the image was made from (for a cached image, as its cache entry recorded them). */
  inputs: Array<{ url: string; sha256: string; verified: boolean }>;
}

const BUILD_NAMESPACE = 'recipe-builds';
const DOWNLOAD_NAMESPACE = 'recipe-downloads';

// Sibling modules by this module's own extension: .js when built, .ts when run from source (tests).
const OWN_EXT = path.extname(fileURLToPath(import.meta.url));
const FRAMEWORK_FILES = ['recipe', 'build', 'context', 'archive', 'checksums', 'versions'].map((f) => new URL(`${f}${OWN_EXT}`, import.meta.url));
const contentHashes = new Map<string, string>();

/** SHA-256 of a module's file, memoised (modules do not change while the process runs). */
function moduleHash(url: string | URL): string {
  const key = String(url);
  let hash = contentHashes.get(key);
  if (hash === undefined) {
    hash = createHash('sha256').update(readFileSync(fileURLToPath(url))).digest('hex');
    contentHashes.set(key, hash);
  }
  return hash;
}

/**
 * The cache key of a built image: recipe, version, architecture, variant and options, plus the
 * content of the recipe's module and of the framework, so editing either invalidates its builds.
 */
export function recipeCacheKey(recipe: Recipe, version: string, arch: Arch, extra: { variant?: string; options?: Record<string, string> } = {}): string {
  const options = Object.entries(extra.options ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',');
  const code = createHash('sha256');
  code.update(moduleHash(recipe.source));
  for (const f of FRAMEWORK_FILES) code.update(moduleHash(f));
  return ['recipe-build-v1', recipe.name, version, arch, extra.variant ?? '', options, code.digest('hex')].join('\n');
}

function downloadKey(url: string, sha256: string | undefined): string {
  // Versioned release URLs do not change; a file without a published digest is kept by URL alone.
  return `${url}\n${sha256 ?? 'unverified'}`;
}

/** Where a download's bytes go: in the cache dir (so a rerun resumes), else in the build's temp dir. */
function downloadDest(cache: Cache, work: string, d: { url: string }): string {
  const id = createHash('sha256').update(d.url).digest('hex').slice(0, 32);
  const base = cache.dir !== undefined ? path.join(cache.dir, 'partial', 'recipes') : path.join(work, 'downloads');
  return path.join(base, id, urlBaseName(d.url) || 'file');
}

/** A file resolve() asked for, fetched into the work dir (never cached: indexes change). */
function fetchFileVia(url: string, work: string, options: BuildRecipeOptions): Promise<string> {
  const dest = path.join(work, 'text', createHash('sha256').update(url).digest('hex').slice(0, 32), urlBaseName(url) || 'file');
  return fetchWholeFile(url, dest, { mirror: options.mirror, signal: options.signal, retries: options.retries, label: urlBaseName(url) || url });
}

interface VerifiedDownload extends RecipeDownload {
  expected: string | undefined;
}

/** Fetch each checksum file once and attach the digest it gives to its download. */
async function resolveDigests(downloads: readonly RecipeDownload[], work: string, options: BuildRecipeOptions): Promise<VerifiedDownload[]> {
  const sources = [...new Set(downloads.flatMap((d) => (d.checksum ? [d.checksum.url] : [])))];
  const requests: DownloadRequest[] = sources.map((url, i) => ({ url, dest: path.join(work, 'checksums', String(i), urlBaseName(url) || 'checksums'), label: urlBaseName(url) || url }));
  if (requests.length > 0) options.report.step('recipe', `fetching ${requests.length} checksum file(s)`);
  await downloadAll(requests, { mirror: options.mirror, signal: options.signal, progress: options.report.progress, concurrency: options.concurrency, retries: options.retries });
  const texts = new Map<string, string>();
  for (const [i, url] of sources.entries()) texts.set(url, await readFile(requests[i]!.dest, 'utf8'));
  return downloads.map((d) => {
    if (!d.checksum) return { ...d, expected: d.sha256 };
    const published = findChecksum(texts.get(d.checksum.url)!, d.checksum.format, d.checksum.entry ?? urlBaseName(d.url), d.checksum.url);
    if (d.sha256 !== undefined && d.sha256 !== published) {
      throw new VerificationError(
        `recipe pins ${d.sha256} for ${d.url} but ${d.checksum.url} says ${published}`,
        'upstream republished the file or the recipe pins the wrong digest: check the release page, then fix the recipe\'s sha256 (or drop it and keep the checksum file)',
      );
    }
    return { ...d, expected: published };
  });
}

/**
 * Downloads in progress in this process, by cache key: two builds that need the same file (two
 * kubernetes versions share the CNI plugins) would otherwise write the same .part at once.
 */
const inFlight = new Map<string, Promise<unknown>>();

/** Every download as a verified local file: from the cache, else fetched (in parallel) and cached. */
async function fetchAll(downloads: readonly VerifiedDownload[], work: string, options: BuildRecipeOptions): Promise<{ files: Map<string, string>; inputs: BuildRecipeResult['inputs'] }> {
  const { cache } = options;
  const files = new Map<string, string>();
  const inputs: BuildRecipeResult['inputs'] = [];
  let missing: VerifiedDownload[] = [];
  const fromCache = async (d: VerifiedDownload) => {
    const hit = await cache.lookup(DOWNLOAD_NAMESPACE, downloadKey(d.url, d.expected));
    if (!hit) return false;
    files.set(d.id, hit.path);
    inputs.push({ url: d.url, sha256: hit.sha256, verified: d.expected !== undefined });
    return true;
  };
  for (const d of downloads) if (!(await fromCache(d))) missing.push(d);
  // Wait for another build already fetching the same file, then take it from the cache.
  const others = missing.filter((d) => inFlight.has(downloadKey(d.url, d.expected)));
  if (others.length > 0) {
    await Promise.all(others.map((d) => inFlight.get(downloadKey(d.url, d.expected))!.catch(() => undefined)));
    const stillMissing: VerifiedDownload[] = [];
    for (const d of missing) if (!(others.includes(d) && (await fromCache(d)))) stillMissing.push(d);
    missing = stillMissing;
  }
  if (missing.length > 0) options.report.step('recipe', `downloading ${missing.map((d) => urlBaseName(d.url)).join(', ')}`);
  const requests: DownloadRequest[] = missing.map((d) => ({ url: d.url, dest: downloadDest(cache, work, d), label: urlBaseName(d.url) || d.id, expectedSha256: d.expected }));
  const fetching = (async () => {
    // A complete file left by an earlier run would be overwritten by the download anyway; drop it so
    // only its .part (resumable) counts.
    for (const r of requests) await rm(r.dest, { force: true });
    const results = await downloadAll(requests, { mirror: options.mirror, signal: options.signal, progress: options.report.progress, concurrency: options.concurrency, retries: options.retries });
    for (const [i, d] of missing.entries()) {
      const result = results[i]!;
      const stored = await cache.store(DOWNLOAD_NAMESPACE, downloadKey(d.url, d.expected), result.path, { sha256: result.sha256, size: result.size, meta: { url: d.url }, move: true });
      files.set(d.id, stored?.path ?? result.path);
      inputs.push({ url: d.url, sha256: result.sha256, verified: d.expected !== undefined });
    }
  })();
  const keys = missing.map((d) => downloadKey(d.url, d.expected));
  for (const key of keys) inFlight.set(key, fetching);
  try {
    await fetching;
  } finally {
    for (const key of keys) if (inFlight.get(key) === fetching) inFlight.delete(key);
  }
  return { files, inputs };
}

function prefixed(prefix: string, record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [`${prefix}${k}`, v]));
}

/** Copy (not link) a cached image out: the cache's blob must never be changed through the output. */
function publishCopy(from: string, to: string): Promise<void> {
  return copyFileAtomic(from, to, async () => undefined);
}

/** Cache a private copy of the image (the output file stays the user's to change or delete). */
async function storeImage(cache: Cache, key: string, image: string, options: { sha256: string; size: number; meta: Record<string, unknown> }): Promise<void> {
  if (cache.dir === undefined) return;
  const dir = path.join(cache.dir, 'partial', 'recipes');
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.image-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await copyFile(image, tmp, constants.COPYFILE_FICLONE);
    await cache.store(BUILD_NAMESPACE, key, tmp, { ...options, move: true });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The inputs a cached image's entry recorded (entries written before they were recorded have none). */
function cachedInputs(meta: Record<string, unknown>): BuildRecipeResult['inputs'] {
  const inputs = meta['inputs'];
  if (!Array.isArray(inputs)) return [];
  return inputs.filter((i): i is BuildRecipeResult['inputs'][number] => typeof i?.url === 'string' && typeof i?.sha256 === 'string' && typeof i?.verified === 'boolean');
}

export async function buildRecipeWith(options: BuildRecipeOptions): Promise<BuildRecipeResult> {
  const { recipe, version, report, cache } = options;
  const { arch, upstreamArch, options: recipeOptions } = validateRequest(recipe, { version, arch: options.arch, variant: options.variant, options: options.options }, normalizeArch);
  const outputDir = path.resolve(options.outputDir);
  await mkdir(outputDir, { recursive: true });
  const finalPath = path.join(outputDir, recipeFileName(recipe.name, version, arch));
  if (options.force === false && (await stat(finalPath).catch(() => undefined))) {
    throw new InputError(`${finalPath} exists`, 'pass --force to replace it');
  }

  const temp = await makeTempDir('flatbake-recipe-');
  try {
    const work = path.join(temp.path, 'work');
    const root = path.join(temp.path, 'root');
    await mkdir(work, { recursive: true });
    await mkdir(path.join(root, 'usr'), { recursive: true });

    const base = { version, arch, upstreamArch, variant: options.variant, options: recipeOptions };
    const fetchFile: FetchFile = (url) => fetchFileVia(url, work, options);
    const fetchText: FetchText = async (url) => readFile(await fetchFile(url), 'utf8');
    // Resolved values ("latest" dependency versions) are part of the key: a new latest is a new image.
    const params = recipe.resolve ? await recipe.resolve(base, fetchText, fetchFile) : {};
    const key = recipeCacheKey(recipe, version, arch, { variant: options.variant, options: { ...recipeOptions, ...prefixed('resolved.', params) } });
    const cachedImage = options.rebuild ? undefined : await cache.lookup(BUILD_NAMESPACE, key);
    if (cachedImage) {
      report.step('recipe', `${path.basename(finalPath)} from the cache`);
      await publishCopy(cachedImage.path, finalPath);
      return { path: finalPath, sha256: cachedImage.sha256, size: cachedImage.size, cached: true, inputs: cachedInputs(cachedImage.meta) };
    }
    const input: RecipeInput = { ...base, params };
    const downloads = recipe.downloads(input);
    validateDownloads(recipe, downloads);

    const verified = await resolveDigests(downloads, work, options);
    const { files, inputs } = await fetchAll(verified, work, options);
    options.checkInputs?.(inputs);

    const dirs = new Map<string, string>();
    for (const d of downloads) {
      const kind = d.extract ?? 'none';
      if (kind === 'none') continue;
      const dir = path.join(work, 'unpacked', d.id);
      await extractArchive(files.get(d.id)!, kind, dir, options.signal);
      dirs.set(d.id, dir);
    }

    report.step('recipe', `installing ${recipe.name} ${version} (${arch}${options.variant ? `, ${options.variant}` : ''})`);
    await recipe.install(makeContext(input, root, work, { files, dirs }, report, options.signal));

    const packDir = path.join(temp.path, 'out');
    const created = await createSysext({
      sourceDir: root,
      name: recipe.name,
      outputDir: packDir,
      os: recipe.os,
      arch,
      reload: recipe.reload,
      sourceDateEpoch: options.sourceDateEpoch,
      force: true,
    });
    for (const f of created.findings.filter((f) => f.severity === 'warning')) report.warn(`${recipe.name}: ${f.path ? `${f.path}: ` : ''}${f.message}`);

    // The name appears only when the copy is complete and has the built image's digest.
    await copyFileAtomic(created.path, finalPath, async (staged) => {
      if ((await sha256File(staged)) !== created.sha256) throw new Error(`copy of ${created.path} changed its content`);
    });
    await storeImage(cache, key, created.path, { sha256: created.sha256, size: created.size, meta: { recipe: recipe.name, version, arch, variant: options.variant ?? null, inputs } }).catch((err: unknown) => {
      report.warn(`could not cache the ${recipe.name} image: ${err instanceof Error ? err.message : String(err)}`);
    });
    return { path: finalPath, sha256: created.sha256, size: created.size, cached: false, inputs };
  } finally {
    await temp.remove();
  }
}
