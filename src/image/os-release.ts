import { lstat, mkdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError } from '../errors.js';
import { parseShellVars } from '../flatcar-release/resolve.js';
import { run } from '../util/exec.js';

const OS_RELEASE = '/usr/lib/os-release';
const MAX_HOPS = 40; // the kernel's limit on symlinks in one lookup

/**
 * Reads /usr/lib/os-release from a tree holding USR-A's files at `root` (what the booted system
 * sees at /usr), following symlinks the way the booted system would, but never out of the
 * tree: an absolute target is the booted system's path, not the host's, and one that leaves
 * /usr points at a file this partition does not hold. `materialize`, when given, is asked for
 * each path (relative to /usr) before it is looked at (the offline reader restores it then).
 */
export async function readOsReleaseInUsrTree(root: string, materialize?: (rel: string) => Promise<void>): Promise<Record<string, string>> {
  let booted = OS_RELEASE;
  for (let hops = 0; ; ) {
    const parts = booted.split('/').filter(Boolean);
    if (parts[0] !== 'usr' || parts.length < 2) {
      throw new DiskFormatError(`${OS_RELEASE} in the image is a symlink to ${booted}, outside its USR partition`, 'the image is not a Flatcar image as built; use an unmodified release image');
    }
    const rel = parts.slice(1);
    await materialize?.(rel.join('/'));
    let followed = false;
    for (let i = 0; i < rel.length; i++) {
      const here = path.join(root, ...rel.slice(0, i + 1));
      const st = await lstat(here).catch(() => undefined);
      if (st === undefined) throw new DiskFormatError(`the image has no ${OS_RELEASE}${booted === OS_RELEASE ? '' : ` (it leads to ${booted}, which is missing)`}`, 'use a Flatcar image (--image)');
      if (!st.isSymbolicLink()) continue;
      if (++hops > MAX_HOPS) throw new DiskFormatError(`${OS_RELEASE} in the image is a symlink loop`);
      const target = await readlink(here);
      const from = target.startsWith('/') ? target : path.posix.join('/usr', ...rel.slice(0, i), target);
      booted = path.posix.normalize(path.posix.join(from, ...rel.slice(i + 1)));
      followed = true;
      break;
    }
    if (!followed) return parseShellVars(await readFile(path.join(root, ...rel), 'utf8'));
  }
}

/** `a/b/c` -> a `btrfs restore --path-regex` for exactly /a, /a/b and /a/b/c. */
export function restoreRegex(rel: string): string {
  const parts = rel.split('/').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  let inner = '';
  for (let i = parts.length - 1; i >= 0; i--) inner = `${i === 0 ? '' : '/'}${parts[i]}(|${inner})`.replace('(|)', '');
  return `^/(|${inner})$`;
}

/** /usr/lib/os-release of a USR btrfs file system image, restoring into `out` only the paths on the way. */
export async function readOsReleaseFromUsrBtrfs(fsImage: string, out: string): Promise<Record<string, string>> {
  await mkdir(out, { recursive: true });
  // -S restores symlinks as symlinks, so they are followed inside the tree, not on the host.
  const materialize = async (rel: string) => {
    await run('btrfs', ['restore', '-i', '-S', '--path-regex', restoreRegex(rel), fsImage, out], { purpose: `read /usr/${rel} from USR-A` });
  };
  return readOsReleaseInUsrTree(out, materialize);
}
