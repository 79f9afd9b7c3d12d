/** Copying a partition's byte range out of an image and back, keeping holes. */
import { stat, truncate } from 'node:fs/promises';
import { DiskFormatError } from '../../errors.js';
import { run } from '../../util/exec.js';
import type { PartitionRange } from './editor.js';

/** Copies the range into `dest` (created); zero blocks become holes, so a mostly empty partition costs little. */
export async function extractRange(image: string, range: PartitionRange, dest: string): Promise<void> {
  await run(
    'dd',
    [`if=${image}`, `of=${dest}`, 'bs=1M', `skip=${range.offset}`, `count=${range.size}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none'],
    { purpose: 'copy a partition out of the image' },
  );
  // conv=sparse leaves trailing zeros unwritten: give the file its full length.
  await truncate(dest, range.size);
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
  await run(
    'dd',
    [`if=${source}`, `of=${image}`, 'bs=1M', `seek=${range.offset}`, 'oflag=seek_bytes', punched ? 'conv=notrunc,sparse,fsync' : 'conv=notrunc,fsync', 'status=none'],
    { purpose: 'write the partition back into the image' },
  );
}
