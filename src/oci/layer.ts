import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { InputError, VerificationError } from '../errors.js';
import type { LayerCompression } from './manifest.js';
import { readTar } from '../util/tar.js';
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
  // Node >= 22.15 decompresses zstd itself: no child process to start, stop or reap.
  const stream = zstdStream(file);
  let aborted = false;
  return {
    stream: stream.output,
    finished: async () => {
      // Stopped by a parse error: corrupt input usually fails the decoder (its frame checksum) a
      // little after the garbage that broke the tar parser, and that error explains more. Decode
      // the blob again, unread, for up to a second to find out.
      const failure = aborted ? await zstdFailure(file, 1000) : await stream.failure;
      if (failure !== undefined) {
        throw new InputError(`zstd could not decompress ${file}: ${failure.message}`, 'the layer blob is damaged; pull the image again');
      }
    },
    abort: () => {
      aborted = true;
      stream.stop();
    },
  };
}

/** A zstd decoder over a file, and the decoder's own failure (not a reader stopping early). */
function zstdStream(file: string): { output: NodeJS.ReadableStream & AsyncIterable<Buffer>; failure: Promise<Error | undefined>; stop: () => void } {
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  const output = createZstdDecompress();
  let failure: Error | undefined;
  output.on('error', (err) => {
    if (!stoppedEarly(err)) failure ??= err;
  });
  input.on('error', (err) => output.destroy(err));
  input.pipe(output);
  const ended = finished(output).catch(() => undefined);
  return {
    output,
    failure: ended.then(() => failure),
    stop: () => {
      input.destroy();
      output.destroy();
    },
  };
}

/** Decode a whole zstd file to nowhere for at most `ms`; its failure, if it fails in that time. */
async function zstdFailure(file: string, ms: number): Promise<Error | undefined> {
  const stream = zstdStream(file);
  stream.output.resume();
  const timer = setTimeout(stream.stop, ms);
  try {
    return await stream.failure;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A reader that stops early (the tar parser refusing an entry) destroys the stream with
 * ABORT_ERR or ERR_STREAM_PREMATURE_CLOSE: that is us stopping, not a fault in the data.
 */
function stoppedEarly(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ABORT_ERR' || code === 'ERR_STREAM_PREMATURE_CLOSE';
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
