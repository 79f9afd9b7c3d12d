/**
 * Version ranges of recipe files (`>=3.21.0`, `>=1.0 <2`): where an upstream changed its layout
 * or file names from one release on. Pure.
 */

/** Numeric parts compare as numbers, others as text; a leading v is ignored (v1.2 = 1.2). */
export function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split(/[.+~-]/);
  const pb = b.replace(/^v/, '').split(/[.+~-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : undefined;
    const ny = /^\d+$/.test(y) ? Number(y) : undefined;
    const c = nx !== undefined && ny !== undefined ? nx - ny : x.localeCompare(y);
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}

const COMPARATOR = /(>=|<=|>|<|=)\s*(v?\d[0-9A-Za-z.+~-]*)/g;

/** Whether VERSION satisfies every comparator of RANGE. */
export function versionInRange(version: string, range: string): boolean {
  const comparators = [...range.matchAll(COMPARATOR)];
  if (comparators.length === 0) throw new Error(`version range "${range}" has no comparator`);
  return comparators.every(([, op, bound]) => {
    const c = compareVersions(version, bound!);
    switch (op) {
      case '>=': return c >= 0;
      case '<=': return c <= 0;
      case '>': return c > 0;
      case '<': return c < 0;
      default: return c === 0;
    }
  });
}
