/**
 * Which Flatcar releases can have which vendor image. Flatcar's SDK
 * (`flatcar/scripts`) changed its vendor set and each vendor's OEM form over
 * time; vendors.json records, per vendor, the eras read from the SDK at its
 * release tags. A bake asks here before it downloads anything, and refuses a
 * vendor the release's SDK would not write with an OEM sysext (flatbake cannot
 * write OEM packages: their files were never published on their own). Pure.
 */
import { UsageError } from '../errors.js';
import type { ReleaseEra, VendorRecord } from './types.js';
import type { Arch } from '../arch.js';

/** `4593.2.5` -> 4593; anything else (an image whose os-release we could not read) -> undefined. */
export function majorOf(version: string): number | undefined {
  const m = /^(\d+)\.\d+\.\d+$/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/** The era a Flatcar major falls in (eras run from their `from` to the next one's), or undefined before the first. */
export function eraOf(record: VendorRecord, major: number): ReleaseEra | undefined {
  let found: ReleaseEra | undefined;
  for (const era of record.releases) if (era.from <= major) found = era;
  return found;
}

function writable(era: ReleaseEra, arch?: Arch): boolean {
  return (era.oem === 'sysext' || era.oem === 'none') && (arch === undefined || era.architectures.includes(arch));
}

/**
 * The majors flatbake can write the vendor for (for `arch`, or for any), as
 * `4722 and later`, `3760 to 4721`, joined by commas; `none` when there are none.
 */
export function supportedReleases(record: VendorRecord, arch?: Arch): string {
  const ranges: string[] = [];
  const eras = record.releases;
  for (let i = 0; i < eras.length; i++) {
    if (!writable(eras[i]!, arch)) continue;
    let j = i;
    while (j + 1 < eras.length && writable(eras[j + 1]!, arch)) j++;
    const next = eras[j + 1];
    ranges.push(next ? `${eras[i]!.from} to ${next.from - 1}` : `${eras[i]!.from} and later`);
    i = j;
  }
  return ranges.length ? ranges.join(', ') : 'none';
}

/** Why the SDK of `major` has no `arch` image of `record` that flatbake can write; undefined when it has one. */
export function releaseRefusal(record: VendorRecord, major: number, arch: Arch): string | undefined {
  const era = eraOf(record, major);
  const id = record.id;
  if (!era || era.oem === 'absent') return `Flatcar ${major} has no ${id} image (Flatcar's SDK of that release does not write one)`;
  if (era.oem === 'package') {
    return `Flatcar ${major} writes ${id} with an OEM package, not an OEM sysext (no oem-${record.oem?.id ?? id}.raw is published), and flatbake can only install OEM sysexts`;
  }
  if (!era.architectures.includes(arch)) return `Flatcar ${major} has no ${arch} ${id} image (its OEM is built for ${era.architectures.join(', ')} only)`;
  return undefined;
}

/**
 * Refuses, before anything is downloaded, the vendors the release cannot have
 * as its SDK would write them. An unparsable version (a local image without
 * VERSION_ID) checks nothing: the caller warns.
 */
export function refuseUnsupportedVendors(vendors: readonly VendorRecord[], version: string, arch: Arch): void {
  const major = majorOf(version);
  if (major === undefined) return;
  const problems = vendors.flatMap((v) => {
    const why = releaseRefusal(v, major, arch);
    return why ? [{ v, why }] : [];
  });
  if (problems.length === 0) return;
  const first = problems[0]!;
  const hint = problems.map(({ v }) => `${v.id} (${arch}) is written for Flatcar ${supportedReleases(v, arch)}`).join('; ');
  throw new UsageError(
    `${first.why}${problems.length > 1 ? `; also ${problems.slice(1).map((p) => p.v.id).join(', ')}` : ''}`,
    `pick a --release whose major fits: ${hint} (\`flatbake vendors\` lists them)`,
  );
}
