import { execa } from 'execa';
import { open, rm } from 'node:fs/promises';
import { CommandError, DiskFormatError, MissingToolError } from '../errors.js';
import { which } from '../util/exec.js';
import { SparseWriter, type DigestSnapshot } from './sparse-writer.js';
import { createHash } from 'node:crypto';

export interface DecompressProgress {
  /** Compressed bytes consumed so far. */
  (consumed: number, total: number): void;
}

/** Parallel decompressors first: lbzip2 and pbzip2 use every core; bzip2 is the fallback. */
export async function pickBzip2Decompressor(): Promise<string> {
  for (const tool of ['lbzip2', 'pbzip2', 'bzip2']) {
    if (await which(tool)) return tool;
  }
  throw new MissingToolError('no bzip2 decompressor found (lbzip2, pbzip2 or bzip2)', 'install lbzip2 (Debian package lbzip2) or run scripts/setup.sh');
}

/**
 * Streams a .bz2 file through the decompressor into a sparse file at `dest`
 * (which must not exist). On failure the partial `dest` is removed.
 */
export async function decompressBz2ToSparse(
  /** A .bz2 file, or a stream of its bytes (a download still in progress). */
  source: string | { stream: AsyncIterable<Buffer>; label: string },
  dest: string,
  options: { onProgress?: DecompressProgress; signal?: AbortSignal; tool?: string; digestSnapshotEvery?: number } = {},
): Promise<{ size: number; tool: string; snapshots: DigestSnapshot[] }> {
  const tool = options.tool ?? (await pickBzip2Decompressor());
  const input = typeof source === 'string' ? await open(source, 'r') : undefined;
  const total = input ? (await input.stat()).size : 0;
  const label = typeof source === 'string' ? source : source.label;
  let writer: SparseWriter | undefined;
  try {
    writer = await SparseWriter.create(
      dest,
      options.digestSnapshotEvery ? { hash: createHash('sha256'), snapshotEvery: options.digestSnapshotEvery } : undefined,
    );
    // Feed the compressed file through Node so progress is exact and needs no polling.
    const child = execa(tool, ['-dc'], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: { stdout: false, stderr: true },
      reject: false,
      cancelSignal: options.signal,
      encoding: 'buffer',
    });
    let consumed = 0;
    const stdin = child.stdin!;
    let stdinBroken = false;
    stdin.on('error', () => (stdinBroken = true)); // the child died; its exit status tells why
    const chunks: AsyncIterable<Buffer> =
      typeof source === 'string' ? input!.createReadStream({ highWaterMark: 1 << 20, autoClose: false }) : source.stream;
    const feeding = (async () => {
      try {
        for await (const chunk of chunks) {
          if (stdinBroken) break;
          consumed += chunk.length;
          options.onProgress?.(consumed, total);
          if (!stdin.write(chunk)) {
            await new Promise<void>((resolve) => {
              const done = () => {
                stdin.off('drain', done).off('close', done);
                resolve();
              };
              stdin.on('drain', done).on('close', done);
            });
          }
        }
      } catch (error) {
        child.kill();
        throw error;
      } finally {
        stdin.end();
      }
    })();
    // A failed feed (the download broke) must not be reported as a bzip2 error.
    feeding.catch(() => undefined);
    for await (const chunk of child.stdout!) {
      await writer.write(chunk as Buffer);
    }
    await feeding;
    const result = await child;
    if (result.exitCode !== 0) {
      const stderr = Buffer.from(result.stderr as unknown as Uint8Array).toString('utf8').trim();
      if (result.isCanceled) throw options.signal?.reason ?? new CommandError(`${tool} was cancelled`, tool, undefined, '');
      throw new DiskFormatError(
        `cannot decompress ${label}: ${tool} exited with status ${result.exitCode}${stderr ? `: ${stderr.split('\n').slice(-3).join(' ')}` : ''}`,
        'the download is damaged or not a bzip2 file: re-download it (use --no-cache or remove it from the cache)',
      );
    }
    const snapshots = writer.snapshots;
    const size = await writer.finish();
    writer = undefined;
    return { size, tool, snapshots };
  } catch (error) {
    await writer?.abort();
    await rm(dest, { force: true });
    throw error;
  } finally {
    await input?.close();
  }
}
