import { run } from './exec.js';

/** A byte range [start, end) of a file that holds data (everything else is a hole). */
export interface Extent {
  start: number;
  end: number;
}

/**
 * Pure: the data extents in `filefrag -v` output, merged and clamped to the file size, or
 * undefined when the output is not understood (callers then read the whole file).
 */
export function parseFilefrag(text: string, fileSize: number): Extent[] | undefined {
  const header = /\((\d+) blocks? of (\d+) bytes\)/.exec(text);
  if (!header) return undefined;
  const blockSize = Number(header[2]);
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) return undefined;
  if (/: 0 extents found/.test(text)) return [];
  const extents: Extent[] = [];
  let rows = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):/.exec(line);
    if (!m) continue;
    rows++;
    const start = Number(m[1]) * blockSize;
    const end = Math.min((Number(m[2]) + 1) * blockSize, fileSize);
    if (!Number.isSafeInteger(start) || start >= end) continue;
    const last = extents.at(-1);
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else extents.push({ start, end });
  }
  const found = /: (\d+) extents? found/.exec(text);
  // filefrag -v lists every mapped extent; its summary counts physically contiguous runs, which
  // can only be fewer. Fewer rows than that means we misread the listing.
  if (!found || rows < Number(found[1])) return undefined;
  return extents;
}

/**
 * Where a file holds data, from the kernel's extent map (FIEMAP through filefrag), so
 * holes can be skipped instead of read: reading 7 GiB of holes costs more than hashing them.
 */
export async function dataExtents(file: string, fileSize: number): Promise<Extent[] | undefined> {
  try {
    const { stdout } = await run('filefrag', ['-v', file], { purpose: 'map the data extents of an image' });
    return parseFilefrag(stdout, fileSize);
  } catch {
    return undefined; // no FIEMAP here (tmpfs, some network filesystems): read everything
  }
}
