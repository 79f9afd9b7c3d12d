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
export function findChecksum(text: string, format: 'sha256sum' | 'bare', entry: string, source: string): string {
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
