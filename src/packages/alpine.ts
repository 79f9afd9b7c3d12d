/**
 * An Alpine repository read the way apk reads it, without apk: APKINDEX.tar.gz's RSA signature
 * checked against Alpine's keys, its package records parsed, dependencies (names, so:, cmd:, pc:
 * provides) followed, and each .apk checked against the index: its control segment's SHA-1 is the
 * index's C: field, and the control's datahash is the SHA-256 of its data segment. So every byte
 * unpacked is tied to the index signature.
 *
 * Formats (apk-tools 2.x, see its doc/apk-package.5 and apk-v2 index format): an .apk and the
 * index are concatenated gzip streams, each a tar segment: [signature], control, [data]. The
 * signature tar holds `.SIGN.RSA.<key>` (PKCS#1 v1.5 over SHA-1) or `.SIGN.RSA256.<key>` (SHA-256)
 * of the compressed bytes of the stream after it.
 */
import { createHash, verify } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { InputError, VerificationError } from '../errors.js';
import { tarFiles } from '../util/tar.js';

/** One gzip member: its compressed bytes (header to trailer) and what they inflate to. */
export interface GzipMember {
  raw: Buffer;
  data: Buffer;
}

/** Split concatenated gzip streams at their real boundaries (which signatures are made over). */
export function gzipMembers(buf: Buffer, label: string): GzipMember[] {
  const members: GzipMember[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf[at] !== 0x1f || buf[at + 1] !== 0x8b || buf[at + 2] !== 8) throw new VerificationError(`${label}: no gzip stream at byte ${at}`, 'the file is not an Alpine package or index, or it is damaged');
    const flags = buf[at + 3]!;
    let p = at + 10;
    if (flags & 4) p += 2 + buf.readUInt16LE(p); // FEXTRA
    if (flags & 8) p = buf.indexOf(0, p) + 1; // FNAME
    if (flags & 16) p = buf.indexOf(0, p) + 1; // FCOMMENT
    if (flags & 2) p += 2; // FHCRC
    if (p <= at || p > buf.length) throw new VerificationError(`${label}: truncated gzip header at byte ${at}`);
    let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      inflated = inflateRawSync(buf.subarray(p), { info: true }) as unknown as typeof inflated;
    } catch (err) {
      throw new VerificationError(`${label}: damaged gzip stream at byte ${at} (${(err as Error).message})`);
    }
    const end = p + inflated.engine.bytesWritten + 8;
    if (end > buf.length) throw new VerificationError(`${label}: gzip stream at byte ${at} is truncated`);
    members.push({ raw: buf.subarray(at, end), data: inflated.buffer });
    at = end;
  }
  return members;
}

/** The members of a tar segment by name; apk's segments end without tar's zero blocks (abuild-tar --cut), which the reader accepts. */
async function namedMembers(segment: Buffer): Promise<Array<{ name: string; data: Buffer }>> {
  return (await tarFiles(segment)).map(({ entry, data }) => ({ name: entry.path, data }));
}

/** The trusted keys: file name -> PEM text. */
export type TrustedKeys = ReadonlyMap<string, string>;

/**
 * Check the signature segment of SIGNED (an index or package) over the member after it. Returns
 * the members and the key that signed. An unknown key, a missing or bad signature is refused.
 */
export async function verifySignedStreams(buf: Buffer, keys: TrustedKeys, label: string): Promise<{ members: GzipMember[]; key: string }> {
  const members = gzipMembers(buf, label);
  const sig = (await namedMembers(members[0]?.data ?? Buffer.alloc(0))).find((f) => /^\.SIGN\.RSA(256)?\./.test(f.name));
  if (!sig || members.length < 2) throw new VerificationError(`${label} is not signed (no .SIGN.RSA entry)`, 'Alpine signs every index and package; this one was not made by Alpine\'s builders or was altered');
  const m = /^\.SIGN\.RSA(256)?\.(.+)$/.exec(sig.name)!;
  const key = m[2]!;
  const pem = keys.get(key);
  if (pem === undefined) throw new VerificationError(`${label} is signed by ${key}, which is not a trusted key (trusted: ${[...keys.keys()].join(', ') || 'none'})`, 'use the repository of the architecture asked for, or give the key\'s directory with the recipe option keys=DIR');
  const ok = verify(m[1] ? 'sha256' : 'sha1', members[1]!.raw, pem, sig.data);
  if (!ok) throw new VerificationError(`${label}: the signature by ${key} does not match`, 'the file was altered or damaged on the way; do not use it');
  return { members, key };
}

export interface ApkPackage {
  name: string;
  version: string;
  arch: string;
  /** C: `Q1` + base64 SHA-1 of the package's control segment. */
  checksum: string;
  size: number;
  /** D: dependencies (conflicts `!x` dropped; version constraints stripped). */
  depends: string[];
  /** p: provides (`so:libc.musl-x86_64.so.1`, `cmd:btop`), versions stripped. */
  provides: string[];
  /** Which repository (main, community) listed it. */
  repo: string;
}

const stripVersion = (dep: string) => dep.replace(/[<>=~].*$/, '');

/** Parse an APKINDEX text: records of `X:value` lines separated by blank lines. */
export function parseApkIndex(text: string, repo: string): ApkPackage[] {
  const packages: ApkPackage[] = [];
  for (const record of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of record.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!);
    }
    const name = fields.get('P');
    if (!name) continue;
    packages.push({
      name,
      version: fields.get('V') ?? '',
      arch: fields.get('A') ?? '',
      checksum: fields.get('C') ?? '',
      size: Number(fields.get('S') ?? 0),
      depends: (fields.get('D') ?? '').split(/\s+/).filter((d) => d !== '' && !d.startsWith('!')).map(stripVersion),
      provides: (fields.get('p') ?? '').split(/\s+/).filter((d) => d !== '').map(stripVersion),
      repo,
    });
  }
  return packages;
}

/** The verified index of one repository: signature checked, APKINDEX parsed. */
export async function readApkIndex(buf: Buffer, keys: TrustedKeys, repo: string, label: string): Promise<ApkPackage[]> {
  const { members } = await verifySignedStreams(buf, keys, label);
  const index = (await namedMembers(members[1]!.data)).find((f) => f.name === 'APKINDEX');
  if (!index) throw new VerificationError(`${label} has no APKINDEX member`);
  return parseApkIndex(index.data.toString('utf8'), repo);
}

/**
 * ROOTS and everything they depend on, as apk would install them: a dependency is a package name
 * or something a package provides (so:, cmd:, pc:); the first repository listed wins, as in
 * /etc/apk/repositories order.
 */
export function apkClosure(packages: readonly ApkPackage[], roots: readonly string[]): ApkPackage[] {
  const byName = new Map<string, ApkPackage>();
  const providers = new Map<string, ApkPackage>();
  for (const p of packages) {
    if (!byName.has(p.name)) byName.set(p.name, p);
    for (const v of p.provides) if (!providers.has(v)) providers.set(v, p);
  }
  const chosen = new Map<string, ApkPackage>();
  const queue: Array<{ want: string; by: string }> = roots.map((r) => ({ want: r, by: 'the recipe' }));
  while (queue.length > 0) {
    const { want, by } = queue.shift()!;
    const pkg = byName.get(want) ?? providers.get(want);
    if (!pkg) throw new InputError(`${by} needs ${want}, which no package of the index provides`, 'the repositories are incomplete (main and community are both needed) or from another release');
    if (chosen.has(pkg.name)) continue;
    chosen.set(pkg.name, pkg);
    for (const dep of pkg.depends) queue.push({ want: dep, by: `${pkg.name} ${pkg.version}` });
  }
  return [...chosen.values()];
}

/**
 * Check a downloaded .apk against its index record and return its data segment (a tar.gz):
 * C: covers the control segment, whose .PKGINFO datahash covers the data segment.
 */
export async function verifyApk(buf: Buffer, pkg: Pick<ApkPackage, 'name' | 'checksum'>, label: string): Promise<GzipMember> {
  const members = gzipMembers(buf, label);
  if (members.length !== 3) throw new VerificationError(`${label} has ${members.length} gzip streams, not the 3 of a signed package (signature, control, data)`);
  const [, control, data] = members as [GzipMember, GzipMember, GzipMember];
  const m = /^Q([12])(.+)$/.exec(pkg.checksum);
  if (!m) throw new VerificationError(`the index gives ${pkg.name} no usable checksum (C:${pkg.checksum})`);
  const actual = createHash(m[1] === '1' ? 'sha1' : 'sha256').update(control.raw).digest('base64');
  if (actual !== m[2]) throw new VerificationError(`${label}: its control segment has checksum Q${m[1]}${actual}, the signed index says ${pkg.checksum}`, 'the package was altered or does not belong to this index; do not use it');
  const pkginfo = (await namedMembers(control.data)).find((f) => f.name === '.PKGINFO')?.data.toString('utf8') ?? '';
  const datahash = /^datahash = ([0-9a-f]{64})$/m.exec(pkginfo)?.[1];
  if (!datahash) throw new VerificationError(`${label}: .PKGINFO has no datahash`);
  const dataSha = createHash('sha256').update(data.raw).digest('hex');
  if (dataSha !== datahash) throw new VerificationError(`${label}: its data segment has SHA-256 ${dataSha}, its signed control says ${datahash}`, 'the package was altered; do not use it');
  return data;
}
