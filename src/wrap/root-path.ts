/**
 * Paths inside a root file system tree, resolved as a process chrooted there would see them.
 *
 * A rootfs taken from a distribution is full of absolute symlinks (/lib64/ld-linux-x86-64.so.2 ->
 * /lib/x86_64-linux-gnu/..., /etc/alternatives/...). Following them with the host's resolver would
 * read the HOST's files; here every symlink is followed inside ROOT and `..` stops at ROOT.
 */
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';

/** Linux gives up after 40 symlinks (ELOOP); so do we. */
const MAX_SYMLINKS = 40;

/** A symlink loop inside the rootfs: bad input, reported like any other. */
export class RootPathLoopError extends InputError {}

/**
 * The canonical absolute path (inside ROOT) that IN_ROOT_PATH names, every symlink followed
 * within ROOT; undefined if some component does not exist or is not a directory where one is needed.
 */
export async function resolveInRoot(root: string, inRootPath: string): Promise<string | undefined> {
  const resolved: string[] = [];
  const pending = inRootPath.split('/').filter((s) => s !== '' && s !== '.').reverse();
  let links = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    const st = await lstat(candidate).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new RootPathLoopError(`too many levels of symbolic links resolving ${inRootPath} in ${root}`);
      const target = await readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.push(...target.split('/').filter((s) => s !== '' && s !== '.').reverse());
      continue;
    }
    if (pending.length > 0 && !st.isDirectory()) return undefined;
    resolved.push(part);
  }
  return `/${resolved.join('/')}`;
}

/** The host path of an in-root path (no resolution: callers pass resolved paths). */
export function hostPath(root: string, inRootPath: string): string {
  return path.join(root, inRootPath);
}
