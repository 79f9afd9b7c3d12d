/**
 * Writing into the release directory: every file is written under a hidden temporary name beside
 * its final one and renamed when complete, so a name in the output always means a whole file.
 */
import { randomBytes } from 'node:crypto';
import { constants, copyFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { VerificationError } from '../errors.js';
import { sha256File } from '../util/hash.js';

/** `.NAME.<pid>.<random>.tmp` in FILE's directory (same file system: the rename is atomic). */
export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Is NAME one of our temporary names? */
export function isTempName(name: string): boolean {
  return /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/.test(name);
}

export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = tempNameFor(file);
  try {
    await writeFile(tmp, content);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Copy FROM to TO (a reflink where the file system can), checking the copy's digest against
 * EXPECTED before it gets its name. The copy, not a link: TO stays the user's to change.
 */
export async function publishCopy(from: string, to: string, expected?: { sha256: string; what: string }): Promise<{ sha256: string; size: number }> {
  const tmp = tempNameFor(to);
  try {
    await copyFile(from, tmp, constants.COPYFILE_FICLONE);
    const sha256 = await sha256File(tmp);
    if (expected !== undefined && sha256 !== expected.sha256) {
      throw new VerificationError(`SHA-256 mismatch for ${from}: ${expected.what} says ${expected.sha256}, the file has ${sha256}`, 'the file is damaged or not the one listed; it was not used');
    }
    const { size } = await stat(tmp);
    await rename(tmp, to);
    return { sha256, size };
  } finally {
    await rm(tmp, { force: true });
  }
}
