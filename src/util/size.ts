/** Sizes the user types (`6G`, `512M`, `1073741824`) and sizes we print. */
import { UsageError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
export const MiB = 2 ** 20;

/**
 * Bytes from a whole number with an optional binary suffix K, M, G or T (`KiB`, `K` and `k`
 * alike: disk tools such as sgdisk, truncate and resize2fs read them as powers of 1024).
 * `multipleOf` refuses sizes a filesystem cannot use whole (e.g. a partial ext4 block).
 */
export function parseSize(value: string, flag: string, multipleOf = 1): number {
  const m = /^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(value);
  const bytes = m ? Number(m[1]) * UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!m || !Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(`${flag} '${value}' is not a size`, `give bytes or a whole number with K, M, G or T (powers of 1024), e.g. ${flag} 6G`);
  }
  if (bytes % multipleOf !== 0) {
    throw new UsageError(`${flag} '${value}' is not a multiple of ${multipleOf} bytes`, `round it, e.g. ${flag} ${formatSizeArg(Math.ceil(bytes / multipleOf) * multipleOf)}`);
  }
  return bytes;
}

/** The shortest exact way to write `bytes` as parseSize reads it (`384M`, `6G`, `4096`). */
export function formatSizeArg(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    if (bytes >= UNITS[unit]! && bytes % UNITS[unit]! === 0) return `${bytes / UNITS[unit]!}${unit}`;
  }
  return String(bytes);
}

/** `123 MiB`, rounded up so that a "needs" is never understated. */
export function mib(bytes: number): string {
  return `${Math.ceil(bytes / MiB)} MiB`;
}
