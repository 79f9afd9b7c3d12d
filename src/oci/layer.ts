import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { execa } from 'execa';
import { CommandError, MissingToolError, VerificationError } from '../errors.js';
import type { LayerCompression } from './manifest.js';
import { readTar } from './tar.js';
import type { LayerStats, RootfsWriter } from './apply.js';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * What the bytes are, whatever the media type says: some registries and
 * tools label gzip layers as plain tar and the other way round.
 */
export async function sniffCompression(file: string): Promise<LayerCompression> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    if (bytesRead >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
    if (bytesRead >= 4 && head.equals(ZSTD_MAGIC)) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/** The uncompressed tar stream of a layer blob, and how to learn whether the decompressor succeeded. */
interface TarSource {
  stream: AsyncIterable<Buffer>;
  /** Resolves when the decompressor exited cleanly; rejects with its error. */
  finished: () => Promise<void>;
  /** Stop the decompressor early (on an error while applying). */
  abort: () => void;
}

function openTarSource(file: string, compression: LayerCompression, signal?: AbortSignal): TarSource {
  if (compression === 'none') {
    const stream = createReadStream(file, { highWaterMark: 1 << 20 });
    return { stream, finished: async () => undefined, abort: () => stream.destroy() };
  }
  if (compression === 'gzip') {
    const input = createReadStream(file, { highWaterMark: 1 << 20 });
    const gunzip = createGunzip();
    input.on('error', (err) => gunzip.destroy(err));
    input.pipe(gunzip);
    return {
      stream: gunzip,
      finished: async () => undefined,
      abort: () => {
        input.destroy();
        gunzip.destroy();
      },
    };
  }
  // Node 20's zlib has no zstd: the host's zstd decompresses, streamed through a pipe.
  let stopped = false;
  const child = execa('zstd', ['-d', '-c', '-q', '--', file], { buffer: { stdout: false, stderr: true }, stdin: 'ignore', cancelSignal: signal, reject: false });
  return {
    stream: child.stdout as AsyncIterable<Buffer>,
    finished: async () => {
      const result = await child;
      // Stopped by abort(): the caller already has the error that made it stop.
      if (result.isTerminated && stopped) return;
      if ((result as { code?: string }).code === 'ENOENT') {
        throw new MissingToolError('zstd is not installed (needed to decompress zstd image layers)', 'install the zstd package; `flatbake doctor` lists the host tools');
      }
      if (result.exitCode !== 0) {
        const stderr = String(result.stderr ?? '').trim();
        throw new CommandError(`zstd could not decompress ${file} (status ${result.exitCode})${stderr ? `: ${stderr}` : ''}`, `zstd -d -c ${file}`, result.exitCode, stderr);
      }
    },
    abort: () => {
      stopped = true;
      // Give zstd a moment to fail on its own: corrupt input usually makes it exit with a clear
      // message right after the garbage that broke the tar parser; a healthy zstd blocked on a
      // pipe nobody reads is killed.
      const timer = setTimeout(() => child.kill(), 1000);
      void child.finally(() => clearTimeout(timer));
    },
  };
}

/** Passes chunks through while hashing them: the image config's diff_id is the digest of the uncompressed tar. */
async function* hashing(source: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}

export interface ApplyLayerFileOptions {
  /** Label used in messages, e.g. `2/5 sha256:abcd...`. */
  name: string;
  /** `sha256:...` of the uncompressed tar, from the image config; checked when given. */
  diffId?: string;
  signal?: AbortSignal;
}

/** Decompress one layer blob (compression sniffed from its bytes) and apply it to the rootfs. */
export async function applyLayerFile(writer: RootfsWriter, file: string, options: ApplyLayerFileOptions): Promise<LayerStats & { compression: LayerCompression; diffId: string }> {
  const compression = await sniffCompression(file);
  const source = openTarSource(file, compression, options.signal);
  const hash = createHash('sha256');
  let stats: LayerStats;
  try {
    stats = await writer.applyLayer(readTar(hashing(source.stream, hash)), options.name);
  } catch (err) {
    source.abort();
    // The decompressor's own failure (a missing tool, corrupt data) explains more than the parse error it caused.
    await source.finished();
    throw err;
  }
  await source.finished();
  const diffId = `sha256:${hash.digest('hex')}`;
  if (options.diffId !== undefined && options.diffId !== diffId) {
    throw new VerificationError(
      `layer ${options.name}: uncompressed content has digest ${diffId}, but the image config says ${options.diffId}`,
      'the layer does not belong to this image; the rootfs was not completed',
    );
  }
  return { ...stats, compression, diffId };
}
