import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dataExtents, type Extent } from './extents.js';

/**
 * The chunked SHA-256 of a file: the SHA-256 of the list of SHA-256 digests of its
 * consecutive 4 MiB pieces (the last may be shorter), each written as 64 lowercase hex
 * characters and a newline. It needs only coreutils to check:
 *
 *     split -b 4M --filter=sha256sum FILE | cut -c1-64 | sha256sum
 *
 * Why not a plain SHA-256 for disk images: an 8 GiB image is mostly holes, and a plain digest
 * must push every zero through SHA-256 (4+ CPU-seconds), while here a piece that is all hole
 * has a known digest, and a piece the bake did not touch keeps the digest it had in the base.
 */
export const DIGEST_CHUNK = 4 * 1024 * 1024;

export interface ChunkedDigest {
  /** The digest of the piece list. */
  sha256: string;
  /** Each piece's SHA-256, in order. */
  chunks: string[];
}

const zeroDigests = new Map<number, string>();
function zeroDigest(length: number): string {
  let digest = zeroDigests.get(length);
  if (digest === undefined) {
    digest = createHash('sha256').update(Buffer.alloc(length)).digest('hex');
    zeroDigests.set(length, digest);
  }
  return digest;
}

/** Pure: the digest of a piece list (see above). */
export function digestOfChunks(chunks: readonly string[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(`${chunk}\n`);
  return hash.digest('hex');
}

/** Pure: which pieces of a `size`-byte file hold any data, given its data extents (sorted). */
export function chunksWithData(extents: readonly Extent[], size: number, chunkSize = DIGEST_CHUNK): Set<number> {
  const withData = new Set<number>();
  const last = Math.ceil(size / chunkSize) - 1;
  for (const { start, end } of extents) {
    if (end <= start) continue;
    const first = Math.floor(start / chunkSize);
    const stop = Math.min(Math.floor((end - 1) / chunkSize), last);
    for (let i = first; i <= stop; i++) withData.add(i);
  }
  return withData;
}

/**
 * The chunked SHA-256 of a file. Pieces that are all hole (from the kernel's extent map) are
 * not read; `known(i)` may supply a piece's digest from elsewhere (the base image's piece, when
 * the caller knows the bake left it alone). Without an extent map every piece is read.
 */
export async function chunkedSha256(
  file: string,
  options: { known?: (index: number) => string | undefined; onBytes?: (bytes: number) => void } = {},
): Promise<ChunkedDigest> {
  const chunks = await pieceDigests(file, { known: options.known, onBytes: options.onBytes });
  const list = Array.from({ length: chunks.size }, (_, i) => chunks.get(i)!);
  return { sha256: digestOfChunks(list), chunks: list };
}

/** How many pieces are read at once (on libuv's thread pool) while one is hashed. */
const PARALLEL = Math.max(2, Math.min(4, availableParallelism()));

/**
 * The digests of the pieces `wanted` selects that hold data (all of them when it is absent;
 * pieces that are all hole are left out, unless all pieces are wanted). A file's untouched
 * pieces can be hashed this way from the base image while the bake edits its copy. Reads run on
 * the thread pool, several at a time, while the main thread hashes the piece read last (SHA-256
 * with the CPU's SHA extensions outruns the copy a read makes). WebCrypto's digest, used here
 * before, hashed off the main thread but copied every 4 MiB piece into a fresh buffer first:
 * proving the bench image's 490 MB of data cost 1.0 CPU-s that way, 0.63 CPU-s this way.
 */
export async function pieceDigests(
  file: string,
  options: { wanted?: (index: number) => boolean; known?: (index: number) => string | undefined; onBytes?: (bytes: number) => void } = {},
): Promise<Map<number, string>> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const extents = await dataExtents(file, size);
    const withData = extents ? chunksWithData(extents, size) : undefined;
    const count = Math.ceil(size / DIGEST_CHUNK);
    const digests = new Map<number, string>();
    const toRead: number[] = [];
    const length = (i: number) => Math.min(DIGEST_CHUNK, size - i * DIGEST_CHUNK);
    for (let i = 0; i < count; i++) {
      const known = options.known?.(i);
      if (options.wanted && !options.wanted(i)) {
        continue; // not asked for
      } else if (known !== undefined) {
        digests.set(i, known);
      } else if (withData && !withData.has(i)) {
        if (!options.wanted) digests.set(i, zeroDigest(length(i)));
      } else {
        toRead.push(i);
        continue;
      }
      options.onBytes?.(length(i));
    }
    let next = 0;
    const worker = async () => {
      const buffer = Buffer.allocUnsafe(DIGEST_CHUNK);
      while (next < toRead.length) {
        const i = toRead[next++]!;
        const start = i * DIGEST_CHUNK;
        const n = length(i);
        let filled = 0;
        while (filled < n) {
          const { bytesRead } = await handle.read(buffer, filled, n - filled, start + filled);
          if (bytesRead === 0) throw new Error(`${file} changed while it was hashed`);
          filled += bytesRead;
        }
        // Hashed here, on the main thread, while the other workers' reads are in flight.
        digests.set(i, createHash('sha256').update(buffer.subarray(0, n)).digest('hex'));
        options.onBytes?.(n);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, toRead.length) }, worker));
    return new Map([...digests].sort((a, b) => a[0] - b[0]));
  } finally {
    await handle.close();
  }
}

/** Pure: the digest of an all-zero piece of `length` bytes (what a hole reads as). */
export function zeroPieceDigest(length: number): string {
  return zeroDigest(length);
}
