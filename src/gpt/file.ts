/** File and block-device I/O for the GPT code; everything else in src/gpt is pure. */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { parseGpt, type ParseOptions } from './parse.js';
import type { ByteReader, GptTable } from './types.js';
import type { DiskWrite } from './write.js';

export interface FileByteReader extends ByteReader {
  readonly path: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function openError(path: string, err: unknown): InputError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : String((err as Error).message);
  return new InputError(`cannot open disk image ${path}: ${why}`, 'check the path (and run as root for block devices)', { cause: err });
}

/** fstat reports 0 bytes for block devices; the kernel publishes their size in 512-byte units in sysfs. */
async function blockDeviceSize(path: string, rdev: bigint): Promise<number> {
  // glibc's dev_t layout: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  const sysfs = `/sys/dev/block/${major}:${minor}/size`;
  try {
    return Number((await readFile(sysfs, 'utf8')).trim()) * 512;
  } catch (err) {
    throw new InputError(`cannot tell the size of block device ${path} (${sysfs} unreadable)`, 'is /sys mounted?', { cause: err });
  }
}

/** A ByteReader over a regular file or block device. Close it (or use `await using`). */
export async function fileReader(path: string): Promise<FileByteReader> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw openError(path, err);
  }
  let size: number;
  try {
    const st = await handle.stat({ bigint: true });
    if (st.isBlockDevice()) size = await blockDeviceSize(path, st.rdev);
    else if (st.isFile()) size = Number(st.size);
    else throw new InputError(`${path} is neither a regular file nor a block device`, 'pass a disk image file or a device');
  } catch (err) {
    await handle.close();
    throw err;
  }
  const close = () => handle.close();
  return {
    path,
    size,
    async read(offset: number, length: number): Promise<Buffer> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
        throw new RangeError(`read of ${length} bytes at ${offset} is outside ${path} (${size} bytes)`);
      }
      const buf = Buffer.alloc(length);
      let done = 0;
      // read() may return less than asked; loop until EOF so only a real short file yields a short buffer.
      while (done < length) {
        const { bytesRead } = await handle.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === length ? buf : buf.subarray(0, done);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Opens `path`, parses its GPT and closes it again. */
export async function readGptFromFile(path: string, options: ParseOptions = {}): Promise<GptTable> {
  const reader = await fileReader(path);
  try {
    return await parseGpt(reader, options);
  } finally {
    await reader.close();
  }
}

/**
 * Applies the output of growGpt() to an image file: extends the file to
 * `sizeBytes` first (so the new backup location exists), then writes the
 * pieces in the order given and syncs.
 */
export async function applyDiskWrites(path: string, writes: readonly DiskWrite[], sizeBytes?: number): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r+');
  } catch (err) {
    throw openError(path, err);
  }
  try {
    const st = await handle.stat();
    if (sizeBytes !== undefined && st.isFile()) {
      if (sizeBytes < st.size) {
        throw new InputError(`refusing to shrink ${path} from ${st.size} to ${sizeBytes} bytes`);
      }
      if (sizeBytes > st.size) await handle.truncate(sizeBytes);
    }
    for (const w of writes) {
      let done = 0;
      while (done < w.data.length) {
        const { bytesWritten } = await handle.write(w.data, done, w.data.length - done, w.offset + done);
        done += bytesWritten;
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}
