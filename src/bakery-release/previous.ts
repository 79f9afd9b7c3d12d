/**
 * --previous: an earlier release (a directory or a URL) whose images are carried over instead of
 * rebuilt. Its SHA256SUMS says which images it has and what their bytes must be; a carried image
 * is checked against it before it gets its name in the output.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cache } from '../cache/cache.js';
import { InputError } from '../errors.js';
import { download } from '../net/download.js';
import type { ProgressSink } from '../net/progress.js';
import { parseRecipeFileName } from '../recipes/index.js';
import { makeTempDir } from '../util/tempdir.js';
import { sha256File } from '../util/hash.js';
import { parseSha256Sums } from '../verify/sha256sums.js';
import { fetchText, type FetchTextOptions } from '../net/fetch-text.js';
import { publishCopy } from './publish.js';

export interface PreviousRelease {
  /** As given: a URL or a directory. */
  location: string;
  kind: 'dir' | 'url';
  /** The directory, or the URL with a trailing slash (file names resolve against it). */
  base: string;
  /** `.raw` image name -> SHA-256, from its SHA256SUMS. */
  images: Map<string, string>;
}

/** Carried images are cached by digest, so a rerun does not download them again. */
const CARRY_NAMESPACE = 'release-carried';

export async function openPreviousRelease(location: string, options: FetchTextOptions = {}): Promise<PreviousRelease> {
  let kind: PreviousRelease['kind'];
  let base: string;
  let text: string;
  if (/^https?:\/\//i.test(location)) {
    kind = 'url';
    base = location.endsWith('/') ? location : `${location}/`;
    text = await fetchText(new URL('SHA256SUMS', base).href, options);
  } else {
    kind = 'dir';
    base = path.resolve(location.startsWith('file:') ? fileURLToPath(location) : location);
    const sums = path.join(base, 'SHA256SUMS');
    text = await readFile(sums, 'utf8').catch((err: unknown) => {
      const code = (err as { code?: string }).code;
      throw new InputError(`cannot read the previous release's ${sums}: ${code ?? String(err)}`, '--previous takes a release directory or URL that holds SHA256SUMS');
    });
  }
  const all = parseSha256Sums(text, kind === 'url' ? new URL('SHA256SUMS', base).href : path.join(base, 'SHA256SUMS'));
  // Other files a release may list (transfers, notes) are not images to carry.
  const images = new Map([...all].filter(([name]) => !name.includes('/') && parseRecipeFileName(name) !== undefined));
  return { location, kind, base, images };
}

/** Does FILE exist with this digest? (A rerun, or --previous being --output, left it in place.) */
async function hasDigest(file: string, sha256: string): Promise<boolean> {
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return false;
  return (await sha256File(file)) === sha256;
}

export interface CarryOptions extends FetchTextOptions {
  cache: Cache;
  progress?: ProgressSink;
}

export interface CarryResult {
  path: string;
  sha256: string;
  size: number;
  /** Where the bytes came from: the previous release's file or URL. */
  from: string;
}

/**
 * Put the previous release's NAME into OUTPUTDIR, verified against its SHA256SUMS. The file gets
 * its name only when complete and verified; a download is staged in the cache (resumable) or a
 * temp dir, never under a temporary name in the output.
 */
export async function carryImage(previous: PreviousRelease, name: string, outputDir: string, options: CarryOptions): Promise<CarryResult> {
  const expected = previous.images.get(name);
  if (expected === undefined) throw new Error(`${name} is not in the previous release`);
  const dest = path.join(outputDir, name);
  const done = async (from: string): Promise<CarryResult> => ({ path: dest, sha256: expected, size: (await stat(dest)).size, from });

  if (previous.kind === 'dir') {
    const source = path.join(previous.base, name);
    if (await hasDigest(dest, expected)) return done(source);
    await publishCopy(source, dest, { sha256: expected, what: "the previous release's SHA256SUMS" });
    return done(source);
  }

  const url = new URL(name, previous.base).href;
  if (await hasDigest(dest, expected)) return done(url);
  const hit = await options.cache.lookup(CARRY_NAMESPACE, expected);
  if (hit) {
    await publishCopy(hit.path, dest, { sha256: expected, what: "the previous release's SHA256SUMS" });
    return done(url);
  }
  const { cache } = options;
  // In the cache dir a lost download resumes on the next run; without a cache, a temp dir.
  const temp = cache.dir === undefined ? await makeTempDir('flatbake-carry-') : undefined;
  const stageDir = temp?.path ?? path.join(cache.dir!, 'partial', 'release', createHash('sha256').update(url).digest('hex').slice(0, 32));
  const staged = path.join(stageDir, name);
  try {
    const result = (await download({ url, dest: staged, label: name, expectedSha256: expected }, { mirror: options.mirror, signal: options.signal, retries: options.retries, progress: options.progress }))!;
    const stored = await cache.store(CARRY_NAMESPACE, expected, result.path, { sha256: result.sha256, size: result.size, meta: { url }, move: true });
    await publishCopy(stored?.path ?? result.path, dest, { sha256: expected, what: "the previous release's SHA256SUMS" });
    // Done with the staging dir; after a failure it stays, holding the .part a rerun resumes.
    await rm(stageDir, { recursive: true, force: true });
    return done(url);
  } finally {
    await temp?.remove();
  }
}
