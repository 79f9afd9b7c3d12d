/**
 * Copying into the release directory: through util/atomic-write, so a name in the output always
 * means a whole file.
 */
import { stat } from 'node:fs/promises';
import { VerificationError } from '../errors.js';
import { copyFileAtomic } from '../util/atomic-write.js';
import { sha256File } from '../util/hash.js';

/**
 * Copy FROM to TO (a reflink where the file system can), checking the copy's digest against
 * EXPECTED before it gets its name. The copy, not a link: TO stays the user's to change.
 */
export async function publishCopy(from: string, to: string, expected?: { sha256: string; what: string }): Promise<{ sha256: string; size: number }> {
  return copyFileAtomic(from, to, async (tmp) => {
    const sha256 = await sha256File(tmp);
    if (expected !== undefined && sha256 !== expected.sha256) {
      throw new VerificationError(`SHA-256 mismatch for ${from}: ${expected.what} says ${expected.sha256}, the file has ${sha256}`, 'the file is damaged or not the one listed; it was not used');
    }
    const { size } = await stat(tmp);
    return { sha256, size };
  });
}
