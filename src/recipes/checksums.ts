/**
 * Upstream checksum files: find the SHA-256 of one file in them. Pure.
 */
import { VerificationError } from '../errors.js';

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Names in checksum files come as `name`, `*name` (binary mode), `./name` or `dir/name`. */
function entryName(raw: string): string {
  return raw.replace(/^\*/, '').replace(/^\.\//, '');
}

/**
 * The digest for ENTRY in TEXT, lower-case. `bare`: the first word is the digest.
 * `sha256sum`: one `<hex> <name>` per line; an exact name match wins over a match of
 * the last path segment. Throws VerificationError when there is no (or more than one
 * conflicting) digest, naming SOURCE so the user knows which file was wrong.
 */
export function findChecksum(text: string, format: 'sha256sum' | 'bare' | 'github-release', entry: string, source: string): string {
  if (format === 'github-release') return githubAssetDigest(text, entry, source);
  if (format === 'bare') {
    const first = text.trim().split(/\s+/)[0] ?? '';
    if (!HEX64.test(first)) throw new VerificationError(`${source} does not hold a SHA-256 digest (expected 64 hex digits, got "${first.slice(0, 80)}")`);
    return first.toLowerCase();
  }
  const exact: string[] = [];
  const byBase: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64})\s+(.+?)\s*$/.exec(line.trim());
    if (!m) continue;
    const name = entryName(m[2]!);
    const digest = m[1]!.toLowerCase();
    if (name === entry) exact.push(digest);
    else if (name.slice(name.lastIndexOf('/') + 1) === entry) byBase.push(digest);
  }
  const candidates = [...new Set(exact.length > 0 ? exact : byBase)];
  if (candidates.length === 0) throw new VerificationError(`${source} lists no SHA-256 for ${entry}`, 'the checksum file does not match the release; check the version and architecture');
  if (candidates.length > 1) throw new VerificationError(`${source} lists conflicting SHA-256 digests for ${entry}`);
  return candidates[0]!;
}

/** `assets[].digest` (`sha256:<hex>`) of the asset called ENTRY in a GitHub API release JSON. */
function githubAssetDigest(text: string, entry: string, source: string): string {
  let release: unknown;
  try {
    release = JSON.parse(text);
  } catch {
    throw new VerificationError(`${source} is not JSON (expected a GitHub API release)`);
  }
  const assets = (release as { assets?: unknown }).assets;
  const asset = Array.isArray(assets) ? (assets as Array<{ name?: unknown; digest?: unknown }>).find((a) => a.name === entry) : undefined;
  if (!asset) throw new VerificationError(`${source} lists no asset ${entry}`, 'check the version and architecture');
  const m = typeof asset.digest === 'string' ? /^sha256:([0-9a-fA-F]{64})$/.exec(asset.digest) : null;
  if (!m) throw new VerificationError(`${source} publishes no SHA-256 digest for ${entry}`, 'GitHub records asset digests only for releases since mid-2025; older releases cannot be verified');
  return m[1]!.toLowerCase();
}
