import { randomBytes } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { CommandError, DiskFormatError, MissingToolError } from '../errors.js';
import { commandFailure, run, start, which } from '../util/exec.js';

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

/** execa hands any descriptor number to the child unchanged; its types only list 3 to 9. */
const descriptor = (fd: number) => fd as 3;

/** `tool -dc`: compressed bytes from our pipe on stdin, decompressed ones into `fd`. */
const startDecompressor = (tool: string, fd: number, signal: AbortSignal | undefined) =>
  start(tool, ['-dc'], { stdin: 'pipe', stdout: descriptor(fd), stderr: 'pipe', cancelSignal: signal, encoding: 'buffer' });

/**
 * The sparse writer reads its stdin descriptor as it is. `cp --sparse=always /dev/stdin` did not:
 * cp opens /dev/stdin anew, which for a FIFO waits for a writer, and a decompressor that had
 * already exited (damaged input fails at once) left it waiting forever. dd seeks over all-zero
 * 64 KiB output blocks (holes) and sets the final size itself when the image ends in zeros.
 */
const WRITER = 'dd';
const writerArgs = (dest: string) => [`of=${dest}`, 'ibs=1M', 'obs=64K', 'conv=sparse,notrunc', 'status=none'];
const startWriter = (dest: string, fd: number, signal: AbortSignal | undefined) =>
  start(WRITER, writerArgs(dest), { stdin: descriptor(fd), stdout: 'ignore', stderr: 'pipe', cancelSignal: signal });

/** Resolves when STREAM can take more, or will never take any (destroyed, now or later). */
function drainedOrGone(stream: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> {
  return new Promise<void>((resolve) => {
    if (stream.destroyed) return resolve();
    const done = () => {
      stream.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    stream.on('drain', done).on('close', done).on('error', done);
  });
}

const tail = (text: unknown) =>
  Buffer.from((text ?? '') as Uint8Array)
    .toString('utf8')
    .trim()
    .split('\n')
    .slice(-3)
    .join(' ');

/**
 * Streams a .bz2 file through the decompressor into a sparse file at `dest` (which must not
 * exist). On failure the partial `dest` is removed.
 *
 * The 8 GiB of decompressed bytes never pass through Node: the decompressor writes into a
 * FIFO that `dd conv=sparse` reads, which turns runs of zeros into holes. Node only feeds
 * the compressed bytes (so progress is exact, and a download still in progress can be
 * followed); this path costs what `lbzip2 -dc | dd conv=sparse` costs in a shell.
 */
export async function decompressBz2ToSparse(
  /** A .bz2 file, or a stream of its bytes (a download still in progress). */
  source: string | { stream: AsyncIterable<Buffer>; label: string },
  dest: string,
  options: { onProgress?: DecompressProgress; signal?: AbortSignal; tool?: string } = {},
): Promise<{ size: number; tool: string }> {
  const tool = options.tool ?? (await pickBzip2Decompressor());
  const input = typeof source === 'string' ? await open(source, 'r') : undefined;
  const total = input ? (await input.stat()).size : 0;
  const label = typeof source === 'string' ? source : source.label;
  const fifo = `${dest}.${randomBytes(4).toString('hex')}.fifo`;
  let decompressor: ReturnType<typeof startDecompressor> | undefined;
  let writer: ReturnType<typeof startWriter> | undefined;
  try {
    // 'wx': never clobber; dd then writes into this file, keeping its mode.
    await (await open(dest, 'wx', 0o644)).close();
    // A pipe from the decompressor to dd, made from a FIFO: both ends are opened here (each open
    // waits for the other, so both are in flight at once), handed to the children, then closed,
    // so dd sees end-of-file exactly when the decompressor exits.
    await run('mkfifo', ['-m', '600', fifo], { purpose: 'make the pipe for the decompressor' });
    const readEnd = open(fifo, 'r');
    const writeEnd = await open(fifo, 'w').catch(async (error: unknown) => {
      // A pending open for reading would hold a thread forever: give it a writer, then let go.
      await (await open(fifo, 'r+')).close();
      await (await readEnd).close();
      throw error;
    });
    const reader = await readEnd;
    try {
      writer = startWriter(dest, reader.fd, options.signal);
      decompressor = startDecompressor(tool, writeEnd.fd, options.signal);
    } finally {
      await Promise.all([reader.close(), writeEnd.close()]);
      await rm(fifo, { force: true });
    }
    const child: ReturnType<typeof startDecompressor> = decompressor;
    let consumed = 0;
    const stdin = child.stdin!;
    stdin.on('error', () => undefined); // the child died; its exit status tells why
    const chunks: AsyncIterable<Buffer> =
      typeof source === 'string' ? input!.createReadStream({ highWaterMark: 1 << 20, autoClose: false }) : source.stream;
    const feeding = (async () => {
      try {
        for await (const chunk of chunks) {
          // A decompressor that exited (damaged input) ends the feed: execa may already have
          // destroyed its stdin without an 'error', and a destroyed stream never drains.
          if (stdin.destroyed) break;
          consumed += chunk.length;
          options.onProgress?.(consumed, total);
          if (!stdin.write(chunk)) await drainedOrGone(stdin);
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
    const [decompressed, written] = await Promise.all([child, writer]);
    await feeding;
    // Not installed, or cancelled: the runner's own words.
    for (const [file, args, ended] of [[tool, ['-dc'], decompressed], [WRITER, writerArgs(dest), written]] as const) {
      const failure = commandFailure(file, args, ended, { stderr: tail(ended.stderr) }, { signal: options.signal });
      if (failure && !(failure instanceof CommandError && !ended.isCanceled)) throw failure;
    }
    // A writer that failed (disk full) explains a decompressor killed by a broken pipe.
    if (written.exitCode !== 0) {
      const why = tail(written.stderr);
      throw new CommandError(
        `cannot write the decompressed image to ${dest}: ${WRITER} exited with status ${written.exitCode}${why ? `: ${why}` : ''}`,
        WRITER,
        written.exitCode,
        why,
        /No space left/i.test(why) ? 'the disk is full: the image needs about 1 GiB of real space (8 GiB apparent); free some or use --cache-dir elsewhere' : undefined,
      );
    }
    if (decompressed.exitCode !== 0) {
      const why = tail(decompressed.stderr);
      throw new DiskFormatError(
        `cannot decompress ${label}: ${tool} exited with status ${decompressed.exitCode}${why ? `: ${why}` : ''}`,
        'the download is damaged or not a bzip2 file: re-download it (use --no-cache or remove it from the cache)',
      );
    }
    return { size: (await stat(dest)).size, tool };
  } catch (error) {
    decompressor?.kill();
    writer?.kill();
    await Promise.allSettled([decompressor, writer]);
    await rm(dest, { force: true });
    throw error;
  } finally {
    await rm(fifo, { force: true });
    await input?.close();
  }
}
