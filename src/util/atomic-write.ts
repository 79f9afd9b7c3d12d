/**
 * Replacing a file so that its name always means a whole file: the bytes go to a hidden temporary
 * name beside it (same directory, so the same file system and rename(2) is atomic), reach the disk
 * (fsync), and only then take the name; the directory is synced last so the new name survives a
 * crash too. A failure removes the temporary file and leaves the old one as it was.
 */
import { randomBytes } from 'node:crypto';
import { constants, copyFile, link, open, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** `.NAME.<pid>.<random>.tmp` in FILE's directory. */
export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Is NAME (a file name, no directory) one of tempNameFor's names? */
export function isTempName(name: string): boolean {
  return /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/.test(name);
}

/** Flushes a file's (or a directory's entries') data to the disk. */
export async function syncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Gives the complete file TMP (on FILE's file system) the name FILE: synced first, then renamed,
 * then FILE's directory synced. `noReplace`: an existing FILE is kept and the call fails with
 * EEXIST (link(2) refuses where rename(2) would replace); TMP is removed either way. `sync:
 * false` skips both flushes (the name still never shows a partial file while the system runs):
 * for files whose every reader proves them anyway, where a crash may cost a redo, not a lie.
 */
export async function commitFile(tmp: string, file: string, options: { noReplace?: boolean; sync?: boolean } = {}): Promise<void> {
  const sync = options.sync ?? true;
  if (sync) await syncPath(tmp);
  if (options.noReplace) {
    try {
      await link(tmp, file);
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  } else {
    await rename(tmp, file);
  }
  if (sync) await syncPath(path.dirname(file));
}

/**
 * Writes FILE through a temporary name beside it: `write` fills the path it is given, then
 * commitFile gives it FILE's name. Whatever fails, the temporary file goes.
 */
export async function replaceFile<T>(file: string, write: (tmp: string) => Promise<T>, options: { noReplace?: boolean } = {}): Promise<T> {
  const tmp = tempNameFor(file);
  try {
    const result = await write(tmp);
    await commitFile(tmp, file, options);
    return result;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** FILE now holds CONTENT, or (on failure) what it held before. */
export function writeFileAtomic(file: string, content: string | Uint8Array, options: { mode?: number; noReplace?: boolean } = {}): Promise<void> {
  return replaceFile(file, (tmp) => writeFile(tmp, content, options.mode === undefined ? {} : { mode: options.mode }), options);
}

/** TO becomes a copy of FROM (a reflink where the file system can); `check` may refuse the copy before it gets its name. */
export function copyFileAtomic<T>(from: string, to: string, check: (tmp: string) => Promise<T>): Promise<T> {
  return replaceFile(to, async (tmp) => {
    await copyFile(from, tmp, constants.COPYFILE_FICLONE);
    return check(tmp);
  });
}
