import { DIGEST_CHUNK, pieceDigests, zeroPieceDigest } from '../util/chunked-digest.js';

/**
 * How the cache proves a big blob (the base image, compressed and decompressed): the SHA-256 of
 * each 4 MiB piece that is not all zeros, recorded when the blob enters. Checking them reads only
 * the pieces that hold data, several at a time, where one plain SHA-256 would read an 8 GiB
 * image's holes too, on one core.
 */
export interface PiecesRecord {
  size: number;
  /** By piece index; a piece not listed is all zeros. */
  digests: Record<string, string>;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The digests a record's pieces field lists, or undefined when it is malformed. */
export function piecesOf(pieces: PiecesRecord | undefined): Map<number, string> | undefined {
  if (typeof pieces !== 'object' || pieces === null || pieces.size !== DIGEST_CHUNK || typeof pieces.digests !== 'object' || pieces.digests === null) return undefined;
  const map = new Map<number, string>();
  for (const [index, digest] of Object.entries(pieces.digests)) {
    if (!/^\d+$/.test(index) || typeof digest !== 'string' || !HEX64.test(digest)) return undefined;
    map.set(Number(index), digest);
  }
  return map;
}

/** What is wrong with `blob` against its piece digests, or undefined when every piece matches. */
export async function pieceMismatch(blob: string, size: number, expected: Map<number, string>): Promise<string | undefined> {
  const actual = await pieceDigests(blob);
  for (const [index, digest] of actual) {
    const length = Math.min(DIGEST_CHUNK, size - index * DIGEST_CHUNK);
    if (digest !== (expected.get(index) ?? zeroPieceDigest(length))) {
      return `its 4 MiB piece ${index} (bytes ${index * DIGEST_CHUNK}-${index * DIGEST_CHUNK + length - 1}) does not match its recorded SHA-256`;
    }
  }
  return undefined;
}

