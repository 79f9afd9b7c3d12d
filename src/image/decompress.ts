import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { CommandError, DiskFormatError, MissingToolError } from '../errors.js';
import { which } from '../util/exec.js';

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
  execa(tool, ['-dc'], { stdin: 'pipe', stdout: descriptor(fd), stderr: 'pipe', reject: false, cancelSignal: signal, encoding: 'buffer' });

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
 * FIFO that `cp --sparse=always` reads, which turns runs of zeros into holes. Node only feeds
 * the compressed bytes (so progress is exact, and a download still in progress can be
 * followed); this path costs what `lbzip2 -dc | cp --sparse=always` costs in a shell.
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
  let writer: ResultPromise | undefined;
  try {
    // 'wx': never clobber; cp then writes into this file, keeping its mode.
    await (await open(dest, 'wx', 0o644)).close();
    // A pipe from the decompressor to cp, made from a FIFO: both ends are opened here (each open
    // waits for the other, so both are in flight at once), handed to the children, then closed,
    // so cp sees end-of-file exactly when the decompressor exits.
    await execa('mkfifo', ['-m', '600', fifo]);
    const readEnd = open(fifo, 'r');
    const writeEnd = await open(fifo, 'w').catch(async (error: unknown) => {
      // A pending open for reading would hold a thread forever: give it a writer, then let go.
      await (await open(fifo, 'r+')).close();
      await (await readEnd).close();
      throw error;
    });
    const reader = await readEnd;
    try {
      writer = execa('cp', ['--sparse=always', '/dev/stdin', dest], { stdin: descriptor(reader.fd), reject: false, cancelSignal: options.signal });
      decompressor = startDecompressor(tool, writeEnd.fd, options.signal);
    } finally {
      await Promise.all([reader.close(), writeEnd.close()]);
      await rm(fifo, { force: true });
    }
    const child: ReturnType<typeof startDecompressor> = decompressor;
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
    const [decompressed, written] = await Promise.all([child, writer]);
    await feeding;
    if (decompressed.isCanceled || written.isCanceled) {
      throw options.signal?.reason ?? new CommandError(`${tool} was cancelled`, tool, undefined, '');
    }
    // A writer that failed (disk full) explains a decompressor killed by a broken pipe.
    if (written.exitCode !== 0) {
      const why = tail(written.stderr);
      throw new CommandError(
        `cannot write the decompressed image to ${dest}: cp exited with status ${written.exitCode}${why ? `: ${why}` : ''}`,
        'cp',
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
