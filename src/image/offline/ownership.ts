/**
 * Making files in a staging tree count as root-owned without being root.
 * mkfs.btrfs --rootdir copies each file's owner from lstat(), and btrfs
 * restore -m sets owners with chown(); as an ordinary user both need a view
 * in which chown works and owners are recorded:
 *  - root: the real thing.
 *  - fakeroot: an LD_PRELOAD layer that remembers chown'ed owners in a state
 *    file shared by every command of the session, and shows the user's own
 *    files as root:root. Keeps other owners (uid 1000, ...) faithfully.
 *  - userns (`unshare --map-root-user`): the user is uid 0 in a user
 *    namespace, so the user's files are seen as root's; chown to any other
 *    owner fails, so a tree holding other owners cannot be staged this way.
 */
import { lchown, lstat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MissingToolError } from '../../errors.js';
import { run, which, type RunOptions, type RunResult } from '../../util/exec.js';

export type OwnershipMode = 'root' | 'fakeroot' | 'userns';

export interface OwnershipSession {
  readonly mode: OwnershipMode;
  /** Runs a command in the session; `recordOwners` when its chown calls must be remembered (restore). */
  run(file: string, args: readonly string[], options?: RunOptions, recordOwners?: boolean): Promise<RunResult>;
  /** Records these paths (not following symlinks) as owned by 0:0; may be deferred until flush(). */
  chownRoot(paths: readonly string[]): Promise<void>;
  /** Applies deferred ownership changes; call before the session's commands read the tree. */
  flush(): Promise<void>;
  /** The owner the session shows for a path (what mkfs will record). */
  owner(file: string): Promise<{ uid: number; gid: number }>;
}

/** The best mode this process can use: root when it is root, else fakeroot, else a user namespace. */
export async function detectOwnershipMode(): Promise<OwnershipMode> {
  if (process.geteuid?.() === 0) return 'root';
  if (await which('fakeroot')) return 'fakeroot';
  if (await which('unshare')) {
    try {
      await run('unshare', ['--map-root-user', '--', 'true'], { purpose: 'probe user namespaces' });
      return 'userns';
    } catch {
      /* not allowed here: fall through */
    }
  }
  throw new MissingToolError(
    'rebuilding a btrfs partition as a non-root user needs fakeroot (or unprivileged user namespaces) so the files stay owned by root',
    'install fakeroot (Debian/Ubuntu: apt-get install fakeroot), or run as root',
  );
}

export async function openOwnershipSession(mode: OwnershipMode, workDir: string): Promise<OwnershipSession> {
  switch (mode) {
    case 'root':
      return {
        mode,
        run: (file, args, options) => run(file, args, options),
        chownRoot: async (paths) => {
          for (const p of paths) await lchown(p, 0, 0);
        },
        flush: async () => undefined,
        owner: async (file) => {
          const s = await lstat(file);
          return { uid: s.uid, gid: s.gid };
        },
      };
    case 'fakeroot': {
      const state = path.join(workDir, 'fakeroot.state');
      await writeFile(state, '');
      // -i loads what earlier commands recorded, -s saves what this one adds.
      const wrap = (file: string, args: readonly string[], save: boolean) => ['-i', state, ...(save ? ['-s', state] : []), '--', file, ...args];
      // Saving the state (-s) makes fakeroot wait about two seconds for its daemon, so ownership
      // changes are collected and saved once, before mkfs. Until then the collected paths are
      // known to be root's: a path that is not collected but reuses the inode number of a
      // deleted file could otherwise show that file's owner.
      const pending = new Set<string>();
      return {
        mode,
        run: (file, args, options, recordOwners = false) => run('fakeroot', wrap(file, args, recordOwners), options),
        chownRoot: async (paths) => {
          for (const p of paths) pending.add(p);
        },
        flush: async () => {
          const existing: string[] = [];
          for (const p of pending) {
            if (await lstat(p).then(() => true, () => false)) existing.push(p);
          }
          pending.clear();
          if (existing.length === 0) return;
          await run('fakeroot', wrap('chown', ['-h', '0:0', '--', ...existing], true), { purpose: 'record root ownership' });
        },
        owner: async (file) => {
          if (pending.has(file)) return { uid: 0, gid: 0 };
          const { stdout } = await run('fakeroot', wrap('stat', ['-c', '%u %g', '--', file], false), { purpose: 'read an owner' });
          const [uid, gid] = stdout.trim().split(' ').map(Number);
          return { uid: uid!, gid: gid! };
        },
      };
    }
    case 'userns': {
      const me = process.getuid?.() ?? -1;
      const myGid = process.getgid?.() ?? -1;
      return {
        mode,
        run: (file, args, options) => run('unshare', ['--map-root-user', '--', file, ...args], options),
        // Our own files already map to 0:0 inside the namespace.
        chownRoot: async () => undefined,
        flush: async () => undefined,
        owner: async (file) => {
          const s = await lstat(file);
          // 65534 is the kernel's overflow id for owners the namespace does not map.
          return { uid: s.uid === me ? 0 : 65534, gid: s.gid === myGid ? 0 : 65534 };
        },
      };
    }
  }
}
