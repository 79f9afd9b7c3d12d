/** Small text files (SHA256SUMS, schedules, API answers) through the download layer, so --mirror applies. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { download } from '../net/download.js';
import { makeTempDir } from '../util/tempdir.js';

export interface FetchOptions {
  mirror?: string;
  signal?: AbortSignal;
  retries?: number;
}

/** The body of URL as UTF-8. */
export async function fetchText(url: string, options: FetchOptions = {}): Promise<string> {
  const temp = await makeTempDir('flatbake-release-text-');
  try {
    const dest = path.join(temp.path, 'body');
    const label = new URL(url).pathname.split('/').pop() || url;
    await download({ url, dest, label }, { mirror: options.mirror, signal: options.signal, retries: options.retries });
    return await readFile(dest, 'utf8');
  } finally {
    await temp.remove();
  }
}
