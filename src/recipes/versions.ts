/**
 * Upstream version order and version-ranged recipe data: a recipe states what changes between
 * upstream releases (asset names, archive layouts) as a table of ranges; and the latest release's
 * tag of a dependency. Pure but for latestReleaseTag, which asks the fetcher it is given.
 */
import { InputError } from '../errors.js';

/** [major, minor, patch, ...], the pre-release part (after `-`) and nothing of `+build`. */
function parse(version: string): { numbers: number[]; pre: string | undefined } {
  const plain = version.replace(/^v/, '').split('+')[0]!;
  const dash = plain.indexOf('-');
  const core = dash >= 0 ? plain.slice(0, dash) : plain;
  const numbers = core.split('.').map((n) => Number.parseInt(n, 10));
  if (numbers.some((n) => !Number.isSafeInteger(n))) throw new Error(`not a version: ${version}`);
  return { numbers, pre: dash >= 0 ? plain.slice(dash + 1) : undefined };
}

/**
 * Semver-like order of upstream versions: a leading `v` and `+build` are ignored, numbers compare
 * numerically, and a pre-release (`0.15.0-rc.1`) comes before its release.
 */
export function compareUpstreamVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < Math.max(pa.numbers.length, pb.numbers.length); i++) {
    const d = (pa.numbers[i] ?? 0) - (pb.numbers[i] ?? 0);
    if (d !== 0) return d;
  }
  if (pa.pre === pb.pre) return 0;
  if (pa.pre === undefined) return 1;
  if (pb.pre === undefined) return -1;
  return pa.pre.localeCompare(pb.pre, 'en', { numeric: true });
}

export function versionAtLeast(version: string, minimum: string): boolean {
  return compareUpstreamVersions(version, minimum) >= 0;
}

/** One row of a version table: applies to versions >= since (the first row has no since). */
export type VersionRange<T> = T & { since?: string };

/**
 * The row of TABLE for VERSION: the last row whose `since` the version reaches. Rows are in
 * ascending order of `since`, the first without one (it covers everything older).
 */
export function forVersion<T>(table: readonly VersionRange<T>[], version: string): T {
  let found = table[0];
  if (!found || found.since !== undefined) throw new Error('a version table starts with a row without since');
  for (const row of table.slice(1)) if (row.since !== undefined && versionAtLeast(version, row.since)) found = row;
  return found;
}

/**
 * The tag of a GitHub project's latest release (`url`: its `/releases/latest` API address), for a
 * dependency whose version the user may leave out. `option` and `example` go into the hint.
 */
export async function latestReleaseTag(fetchText: (url: string) => Promise<string>, url: string, tagPattern: RegExp, option: string, example: string): Promise<string> {
  let tag: unknown;
  try {
    tag = (JSON.parse(await fetchText(url)) as { tag_name?: unknown } | null)?.tag_name;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  if (typeof tag !== 'string' || !tagPattern.test(tag)) throw new InputError(`${url} gave no usable tag_name`, `pass the ${option} option, e.g. ${example}`);
  return tag;
}
