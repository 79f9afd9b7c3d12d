import type { Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

/** A SHA-256 state after the first `offset` bytes of the stream: hashing can resume from it. */
export interface DigestSnapshot {
  offset: number;
  hash: Hash;
}

/** Block size for hole detection: runs of zeros at least this long become holes. */
const BLOCK = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

function isZero(buffer: Buffer, start: number, end: number): boolean {
  // memcmp against a zero block is far faster than a JS loop
  for (let offset = start; offset < end; offset += BLOCK) {
    const stop = Math.min(offset + BLOCK, end);
    if (buffer.compare(ZERO_BLOCK, 0, stop - offset, offset, stop) !== 0) return false;
  }
  return true;
}

/**
 * Writes a byte stream to a file, leaving holes where whole blocks are zero,
 * so an 8 GiB image that is mostly zeros takes only the space of its data.
 */
export class SparseWriter {
  private position = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private hashed = 0;
  readonly snapshots: DigestSnapshot[] = [];

  private constructor(
    private readonly handle: FileHandle,
    private readonly digest?: { hash: Hash; snapshotEvery: number },
  ) {}

  /**
   * With `digest`, every byte also goes into the hash, and a copy of its state is kept every
   * `snapshotEvery` bytes: a later digest of a file that shares this prefix starts from there.
   */
  static async create(path: string, digest?: { hash: Hash; snapshotEvery: number }): Promise<SparseWriter> {
    // 'wx': never clobber; callers write to a fresh temp name and rename when done
    return new SparseWriter(await open(path, 'wx', 0o644), digest);
  }

  private updateDigest(chunk: Buffer): void {
    if (!this.digest) return;
    const { hash, snapshotEvery } = this.digest;
    let offset = 0;
    while (offset < chunk.length) {
      const nextBoundary = (Math.floor(this.hashed / snapshotEvery) + 1) * snapshotEvery;
      const take = Math.min(chunk.length - offset, nextBoundary - this.hashed);
      hash.update(chunk.subarray(offset, offset + take));
      this.hashed += take;
      offset += take;
      if (this.hashed === nextBoundary) this.snapshots.push({ offset: this.hashed, hash: hash.copy() });
    }
  }

  get bytesWritten(): number {
    return this.position + this.pendingBytes;
  }

  async write(chunk: Buffer): Promise<void> {
    this.updateDigest(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= BLOCK * 16) await this.flush(false);
  }

  private async flush(final: boolean): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    // Keep a partial trailing block for the next round so block boundaries stay aligned.
    const usable = final ? data.length : data.length - (data.length % BLOCK);
    let offset = 0;
    while (offset < usable) {
      const end = Math.min(offset + BLOCK, usable);
      if (!isZero(data, offset, end)) {
        // Coalesce consecutive non-zero blocks into one write.
        let runEnd = end;
        while (runEnd < usable && !isZero(data, runEnd, Math.min(runEnd + BLOCK, usable))) {
          runEnd = Math.min(runEnd + BLOCK, usable);
        }
        await this.handle.write(data, offset, runEnd - offset, this.position + offset);
        offset = runEnd;
      } else {
        offset = end;
      }
    }
    this.position += usable;
    const rest = data.subarray(usable);
    this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.pendingBytes = rest.length;
  }

  /** Flushes, sets the final size (trailing holes included) and closes. Returns the size. */
  async finish(): Promise<number> {
    await this.flush(true);
    await this.handle.truncate(this.position);
    await this.handle.sync();
    await this.handle.close();
    return this.position;
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
