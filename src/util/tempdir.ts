import { chmod, lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

/** A private temp dir; `remove()` is idempotent and also copes with read-only dirs from extracted images. */
export async function makeTempDir(prefix: string, parent = os.tmpdir()): Promise<TempDir> {
  const dir = await mkdtemp(path.join(parent, prefix));
  let removed = false;
  return {
    path: dir,
    async remove() {
      if (removed) return;
      try {
        await rm(dir, { recursive: true, force: true });
      } catch {
        // Extracted images may hold 0555 dirs that a non-root user cannot empty.
        await makeWritable(dir);
        await rm(dir, { recursive: true, force: true });
      }
      removed = true;
    },
  };
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => undefined);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const child = path.join(dir, name);
    const st = await lstat(child).catch(() => undefined);
    if (st?.isDirectory()) await makeWritable(child);
  }
}
