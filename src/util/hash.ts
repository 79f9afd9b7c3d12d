import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** SHA-256 of a file, streamed (images are gigabytes). */
export async function sha256File(file: string, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}

const CHUNK = 4 << 20;
const ZEROS = Buffer.alloc(CHUNK);

/**
 * SHA-256 of a sparse file using its data extents: data is read, holes are hashed as zeros from
 * memory. Falls back to reading everything when the extent map is not available. The file must
 * not change while this runs. It need not be flushed first: the extent map of ext4, XFS and
 * btrfs includes data not yet written back (delayed allocation).
 */
export async function sha256SparseFile(file: string, onBytes?: (bytes: number) => void): Promise<string> {
  const { open } = await import('node:fs/promises');
  const { dataExtents } = await import('./extents.js');
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const extents = await dataExtents(file, size);
    if (!extents) return await sha256File(file, onBytes);
    const hash = createHash('sha256');
    let position = 0;
    const buffer = Buffer.allocUnsafe(CHUNK);
    const zeros = (length: number) => {
      for (let left = length; left > 0; left -= CHUNK) {
        const n = Math.min(CHUNK, left);
        hash.update(n === CHUNK ? ZEROS : ZEROS.subarray(0, n));
        onBytes?.(n);
      }
    };
    for (const extent of extents) {
      if (extent.end <= position) continue;
      const start = Math.max(extent.start, position);
      zeros(start - position);
      for (let offset = start; offset < extent.end; ) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, extent.end - offset), offset);
        if (bytesRead === 0) throw new Error(`${file} changed while it was hashed`);
        hash.update(buffer.subarray(0, bytesRead));
        onBytes?.(bytesRead);
        offset += bytesRead;
      }
      position = extent.end;
    }
    zeros(size - position);
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}
