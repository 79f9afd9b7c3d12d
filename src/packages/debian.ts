/**
 * A Debian repository read the way apt reads it, without apt: the suite's InRelease checked with
 * gpgv against a keyring (Debian's archive keyring by default), the architecture's Packages.xz
 * checked against the SHA256 the signed release gives, its stanzas parsed, and a package's
 * Depends/Pre-Depends followed recursively. Each resulting .deb carries the SHA256 of its Packages
 * stanza, which the recipe framework checks on download; so every byte is tied to the signature.
 *
 * Format references: Debian Policy 5.1 (control syntax), 7.1 (relationship fields), and the
 * repository format (https://wiki.debian.org/DebianRepository/Format).
 */
import { access, readFile, rm } from 'node:fs/promises';
import { InputError, VerificationError } from '../errors.js';
import { run } from '../util/exec.js';
import { parseGpgStatus } from '../verify/gpg.js';
import { sha256File } from '../util/hash.js';

/** Where Debian's archive keyring package (debian-archive-keyring) puts its keys. */
export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
export const DEBIAN_ARCHIVE = 'https://deb.debian.org/debian';

/** One stanza of a control file: field names as written, values with continuation lines joined by \n. */
export type Stanza = Record<string, string>;

/** Parse RFC822-style stanzas (Packages, Release); field names are matched case-insensitively by callers via `field()`. */
export function parseStanzas(text: string): Stanza[] {
  const stanzas: Stanza[] = [];
  let current: Stanza = {};
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(current).length > 0) stanzas.push(current);
      current = {};
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (last !== undefined) current[last] += `\n${line.trim()}`;
      continue;
    }
    const m = /^([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    last = m[1]!;
    current[last] = m[2]!.trimEnd();
  }
  if (Object.keys(current).length > 0) stanzas.push(current);
  return stanzas;
}

/** The SHA256 section of a Release file: index path -> digest and size. */
export function parseReleaseHashes(release: Stanza): Map<string, { sha256: string; size: number }> {
  const hashes = new Map<string, { sha256: string; size: number }>();
  for (const line of (release.SHA256 ?? '').split('\n')) {
    const m = /^([0-9a-f]{64})\s+(\d+)\s+(\S+)$/.exec(line.trim());
    if (m) hashes.set(m[3]!, { sha256: m[1]!, size: Number(m[2]) });
  }
  return hashes;
}

export interface DebPackage {
  name: string;
  version: string;
  architecture: string;
  /** Depends and Pre-Depends: a list of alternatives (`a | b`), each a package name. */
  depends: string[][];
  /** Virtual packages this one provides. */
  provides: string[];
  filename: string;
  size: number;
  sha256: string;
}

/** `libc6 (>= 2.34), libgcc-s1 | libgcc1, foo:any` -> [[libc6], [libgcc-s1, libgcc1], [foo]]. */
export function parseRelations(value: string | undefined): string[][] {
  if (value === undefined || value.trim() === '') return [];
  return value.split(',').map((group) => group.split('|').map((alt) => alt.trim().replace(/\s*\(.*?\)/g, '').replace(/\s*\[.*?\]/g, '').replace(/\s*<.*?>/g, '').replace(/:\w+$/, '').trim()).filter((n) => n !== ''));
}

/** Packages stanzas -> packages by name (an index of one suite holds one version of each). */
export function parsePackages(text: string): Map<string, DebPackage> {
  const packages = new Map<string, DebPackage>();
  for (const s of parseStanzas(text)) {
    if (!s.Package || !s.Filename || !s.SHA256) continue;
    packages.set(s.Package, {
      name: s.Package,
      version: s.Version ?? '',
      architecture: s.Architecture ?? '',
      depends: [...parseRelations(s['Pre-Depends']), ...parseRelations(s.Depends)],
      provides: parseRelations(s.Provides).flat(),
      filename: s.Filename,
      size: Number(s.Size ?? 0),
      sha256: s.SHA256,
    });
  }
  return packages;
}

/** `1:2.5.1-4` -> `2.5.1` (epoch and Debian revision dropped): the upstream version the bakery lists. */
export function upstreamVersion(debianVersion: string): string {
  return debianVersion.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

/**
 * ROOTS and everything they depend on, in a stable order (roots first, then breadth first).
 * Of alternatives the first that exists (as a package or provided by one) is taken, as apt
 * does for a fresh install; a dependency in EXCLUDE is left out (the host has it). A dependency
 * nothing satisfies is an error naming who needs it.
 */
export function dependencyClosure(index: ReadonlyMap<string, DebPackage>, roots: readonly string[], exclude: ReadonlySet<string> = new Set()): DebPackage[] {
  const providers = new Map<string, DebPackage>();
  for (const p of index.values()) for (const v of p.provides) if (!providers.has(v)) providers.set(v, p);
  const find = (name: string) => index.get(name) ?? providers.get(name);
  const chosen = new Map<string, DebPackage>();
  const queue: Array<{ pkg: DebPackage; from: string }> = [];
  for (const root of roots) {
    const pkg = index.get(root);
    if (!pkg) throw new InputError(`the Debian index has no package ${root}`, 'check the package name and the suite');
    queue.push({ pkg, from: 'the recipe' });
  }
  while (queue.length > 0) {
    const { pkg } = queue.shift()!;
    if (chosen.has(pkg.name)) continue;
    chosen.set(pkg.name, pkg);
    for (const alternatives of pkg.depends) {
      if (alternatives.some((a) => exclude.has(a))) continue;
      const dep = alternatives.map(find).find((p) => p !== undefined);
      if (!dep) throw new InputError(`${pkg.name} ${pkg.version} depends on ${alternatives.join(' | ')}, which no package of the index provides`, 'the index is incomplete or from another suite; check the mirror');
      if (!chosen.has(dep.name)) queue.push({ pkg: dep, from: pkg.name });
    }
  }
  return [...chosen.values()];
}

/**
 * Check INRELEASE (a clearsigned Release) with gpgv against KEYRING and return the signed text.
 * Only what gpgv wrote out as signed is returned: text around the signature block is never read.
 */
export async function verifyInRelease(inRelease: string, keyring: string, label: string): Promise<string> {
  if (!(await access(keyring).then(() => true, () => false))) {
    throw new InputError(`the keyring ${keyring} does not exist`, keyring === DEBIAN_ARCHIVE_KEYRING ? 'install debian-archive-keyring (scripts/setup.sh does)' : 'give a binary OpenPGP keyring (gpg --export KEY > FILE) with the recipe option keyring=FILE');
  }
  const signed = `${inRelease}.signed`;
  await rm(signed, { force: true });
  const result = await run('gpgv', ['--status-fd', '1', '--keyring', keyring, '--output', signed, inRelease], { purpose: `verify ${label}`, okExitCodes: [1, 2] });
  const status = parseGpgStatus(result.stdout);
  if (!status.good || result.exitCode !== 0) {
    const why = status.problems[0] ?? `gpgv did not report a valid signature (${result.stderr.trim().split('\n').pop() ?? `exit status ${result.exitCode}`})`;
    throw new VerificationError(`${label} failed its signature check: ${why}`, `the index is not signed by a key of ${keyring}; a mirror that re-signs needs its own keyring (recipe option keyring=FILE)`);
  }
  return readFile(signed, 'utf8');
}

/** Check a fetched index file against the signed Release's entry for PATH; returns its text. */
export async function verifiedIndexFile(release: Stanza, indexPath: string, file: string): Promise<void> {
  const entry = parseReleaseHashes(release).get(indexPath);
  if (!entry) throw new VerificationError(`the signed Release lists no ${indexPath}`, 'the suite does not publish this component or architecture');
  const actual = await sha256File(file);
  if (actual !== entry.sha256) throw new VerificationError(`${indexPath} has SHA256 ${actual}, the signed Release says ${entry.sha256}`, 'the mirror serves an index that does not belong to its Release (mid-sync, or altered); try again later or another mirror');
}

export interface DebianIndexRequest {
  /** The archive's base URL, e.g. https://deb.debian.org/debian. */
  archive: string;
  suite: string;
  component: string;
  /** Debian's architecture name (amd64, arm64). */
  architecture: string;
  keyring: string;
  /** Fetch a URL to a local file (through the mirror and retries of the caller). */
  fetchFile(url: string): Promise<string>;
}

/** The verified package index of one suite, component and architecture. */
export async function fetchDebianIndex(request: DebianIndexRequest): Promise<Map<string, DebPackage>> {
  const dists = `${request.archive}/dists/${request.suite}`;
  const inRelease = await request.fetchFile(`${dists}/InRelease`);
  const release = parseStanzas(await verifyInRelease(inRelease, request.keyring, `${request.suite}'s InRelease`))[0] ?? {};
  if (release.Codename !== request.suite && release.Suite !== request.suite) {
    throw new VerificationError(`the InRelease served for ${request.suite} is signed but belongs to ${release.Codename ?? release.Suite ?? 'no suite'}`, 'the mirror points this suite at another release');
  }
  const indexPath = `${request.component}/binary-${request.architecture}/Packages.xz`;
  const compressed = await request.fetchFile(`${dists}/${indexPath}`);
  await verifiedIndexFile(release, indexPath, compressed);
  const text = (await run('xz', ['-dc', compressed], { purpose: `decompress ${indexPath}`, binary: true })).bytes!.toString('utf8');
  return parsePackages(text);
}

/** Read a Packages file from disk (plain text). */
export async function readPackagesFile(file: string): Promise<Map<string, DebPackage>> {
  return parsePackages(await readFile(file, 'utf8'));
}
