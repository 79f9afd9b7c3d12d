import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * SHA-256 of a file, streamed (images are gigabytes). With `resume`, the hash state of the
 * file's first `resume.offset` bytes is already known (it is copied, not consumed), and only
 * the rest is read.
 */
export async function sha256File(file: string, onBytes?: (bytes: number) => void, resume?: { offset: number; hash: Hash }): Promise<string> {
  const hash = resume ? resume.hash.copy() : createHash('sha256');
  if (resume) onBytes?.(resume.offset);
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20, start: resume?.offset ?? 0 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}
