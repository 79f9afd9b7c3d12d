/** Copying a partition's byte range out of an image and back, keeping holes. */
import { open, stat, truncate, writeFile } from 'node:fs/promises';
import { DiskFormatError, InputError } from '../../errors.js';
import { run } from '../../util/exec.js';
import { dataExtents } from '../../util/extents.js';
import type { EditablePartition, PartitionRange } from '../../backend/editor.js';

/** Zero runs this long become holes, as with dd bs=1M conv=sparse. */
const PIECE = 1024 * 1024;
const ZERO = Buffer.alloc(PIECE);

/**
 * Copies the data of `source` in [sourceOffset, +size) to `dest` at destOffset, reading only
 * the extents the kernel maps (a grown 6 GiB ROOT is mostly hole: dd would read all of it)
 * and writing no all-zero piece. False when there is no extent map: the caller uses dd.
 */
async function copyData(source: string, sourceOffset: number, dest: string, destOffset: number, size: number): Promise<boolean> {
  const extents = await dataExtents(source, (await stat(source)).size);
  if (!extents) return false;
  const from = await open(source, 'r');
  try {
    const to = await open(dest, 'r+');
    try {
      const buf = Buffer.alloc(PIECE);
      for (const extent of extents) {
        const end = Math.min(extent.end, sourceOffset + size);
        // Pieces stay aligned to the range, so zero runs are judged as dd judges them.
        let pos = Math.max(extent.start, sourceOffset);
        while (pos < end) {
          const len = Math.min(PIECE - ((pos - sourceOffset) % PIECE), end - pos);
          const { bytesRead } = await from.read(buf, 0, len, pos);
          if (bytesRead !== len) throw new DiskFormatError(`short read from ${source} at byte ${pos}`);
          const piece = buf.subarray(0, len);
          if (!piece.equals(ZERO.subarray(0, len))) {
            let written = 0;
            while (written < len) written += (await to.write(piece, written, len - written, destOffset + pos - sourceOffset + written)).bytesWritten;
          }
          pos += len;
        }
      }
      await to.sync();
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
  return true;
}

/** Copies the range into `dest` (created); zero blocks become holes, so a mostly empty partition costs little. */
export async function extractRange(image: string, range: PartitionRange, dest: string): Promise<void> {
  await writeFile(dest, '');
  await truncate(dest, range.size);
  if (await copyData(image, range.offset, dest, 0, range.size)) return;
  await run(
    'dd',
    [`if=${image}`, `of=${dest}`, 'bs=1M', `skip=${range.offset}`, `count=${range.size}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse,notrunc', 'status=none'],
    { purpose: 'copy a partition out of the image' },
  );
}

/**
 * Replaces the range with `source` (exactly the range's size). The range is
 * first turned into a hole so the sparse copy leaves no stale bytes behind;
 * where the filesystem cannot punch holes, every byte is written instead.
 */
export async function writeRangeBack(source: string, image: string, range: PartitionRange): Promise<void> {
  const size = (await stat(source)).size;
  if (size !== range.size) throw new DiskFormatError(`internal: ${source} has ${size} bytes, the partition ${range.size}`);
  let punched = true;
  try {
    await run('fallocate', ['--punch-hole', '--offset', String(range.offset), '--length', String(range.size), image], { purpose: 'clear the partition' });
  } catch {
    punched = false;
  }
  if (punched && (await copyData(source, 0, image, range.offset, range.size))) return;
  await run(
    'dd',
    [`if=${source}`, `of=${image}`, 'bs=1M', `seek=${range.offset}`, 'oflag=seek_bytes', punched ? 'conv=notrunc,sparse,fsync' : 'conv=notrunc,fsync', 'status=none'],
    { purpose: 'write the partition back into the image' },
  );
}

/** The range must be whole integers and lie inside a regular image file. */
export async function checkRange(image: string, range: PartitionRange, partition: EditablePartition): Promise<void> {
  const { offset, size } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(size) || size <= 0) {
    throw new InputError(`invalid byte range offset=${offset} size=${size} for ${partition}`);
  }
  let info;
  try {
    info = await stat(image);
  } catch (err) {
    throw new InputError(`cannot open disk image ${image}: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (!info.isFile()) throw new InputError(`${image} is not a regular file`, 'offline editing works on image files; block devices need the mount path');
  if (info.size < offset + size) {
    throw new InputError(`${partition} (bytes ${offset}..${offset + size}) lies beyond the end of ${image} (${info.size} bytes)`);
  }
}
