/**
 * Small files fetched whole: release indexes (releases.json), SHA256SUMS, version listings and
 * API answers. They go through download(), so --mirror, retries, timeouts and cancellation
 * apply, but never resume: an index changes between runs, and the tail of a new one appended to
 * the head of an old one would be a file nobody published.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../util/tempdir.js';
import { download, type DownloadOptions } from './download.js';

export type FetchTextOptions = Pick<DownloadOptions, 'mirror' | 'signal' | 'retries' | 'backoffMs' | 'timeoutMs' | 'onRetry' | 'progress'> & {
  /** How progress and errors name the file; default: the last component of the URL's path. */
  label?: string;
};

const labelOf = (url: string, options: FetchTextOptions) => options.label ?? (new URL(url).pathname.split('/').pop() || url);

/** URL's body at DEST (any `.part` left there is dropped first); returns DEST. */
export async function fetchWholeFile(url: string, dest: string, options: FetchTextOptions = {}): Promise<string> {
  await rm(`${dest}.part`, { force: true });
  // Picked one by one: callers pass wider option objects.
  const { mirror, signal, retries, backoffMs, timeoutMs, onRetry, progress } = options;
  await download({ url, dest, label: labelOf(url, options) }, { mirror, signal, retries, backoffMs, timeoutMs, onRetry, progress });
  return dest;
}

/**
 * The body of URL as UTF-8. `dir`: a scratch directory of the caller's to fetch into (the file
 * is removed after reading); without it a private temp dir is made and removed.
 */
export async function fetchText(url: string, options: FetchTextOptions & { dir?: string } = {}): Promise<string> {
  const { dir, ...rest } = options;
  const temp = dir === undefined ? await makeTempDir('flatbake-text-') : undefined;
  // Named for the URL, so texts fetched at once into one dir do not meet.
  const dest = path.join(temp?.path ?? dir!, `text-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`);
  try {
    return await readFile(await fetchWholeFile(url, dest, rest), 'utf8');
  } finally {
    await (temp ? temp.remove() : rm(dest, { force: true }));
  }
}
