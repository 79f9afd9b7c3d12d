/**
 * The mount backend: each partition through a loop device at its byte offset (never
 * --partscan: no udev, no partition devices), mounted, and written as root (directly or
 * through sudo).
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { attachLoop, mountPartition } from '../image/loop.js';
import { readOsReleaseInUsrTree } from '../image/os-release.js';
import type { Privileged } from '../privileged/privileged.js';
import { withScope } from '../util/scope.js';
import type { PartitionEditor } from './editor.js';
import type { Backend, EditorRequest, EditorsFor, GrowRoot, SquashExtras } from './index.js';
import { MountedEditor } from './mounted-editor.js';

/**
 * Every vendor image is a copy of the same baked image, so their OEM and USR-A filesystems
 * share one btrfs fsid. Kernels before temp-fsid support (6.7) refuse to mount a second device
 * with an fsid already mounted, so btrfs mounts take turns. The sections are short (a few file
 * copies, or one mksquashfs), and they run in parallel with the other vendors' conversions.
 */
let btrfsTail: Promise<unknown> = Promise.resolve();

function withBtrfsMountLock<T>(fn: () => Promise<T>): Promise<T> {
  const result = btrfsTail.then(fn, fn);
  // The next waiter starts when this one settles, whatever the outcome.
  btrfsTail = result.catch(() => undefined);
  return result;
}


/** Each call has a scope of its own (withScope): a failed release (unmount, detach) fails the call. */
export class MountBackend implements Backend {
  readonly name = 'mount' as const;

  constructor(private readonly priv: Privileged) {}

  withEditors<const W extends EditorRequest, T>(image: string, table: GptTable, wanted: W, fn: (editors: EditorsFor<W>) => Promise<T>): Promise<T> {
    const open = () =>
      withScope(async (scope) => {
        const readOnly = wanted.readOnly ?? false;
        const editors: { root?: PartitionEditor; oem?: PartitionEditor } = {};
        const mount = async (label: 'ROOT' | 'OEM', fsType: string) => {
          const part = locateFlatcarPartition(table, label);
          const dir = await mountPartition(this.priv, scope, image, { offset: part.startByte, size: part.sizeBytes }, { fsType, readOnly, label });
          return new MountedEditor(label, this.priv, dir);
        };
        if (wanted.root) editors.root = await mount('ROOT', 'ext4');
        if (wanted.oem) editors.oem = await mount('OEM', 'btrfs');
        // The request decided which are there.
        return fn(editors as EditorsFor<W>);
      });
    return wanted.oem ? withBtrfsMountLock(open) : open();
  }

  async growRootFilesystem(image: string, root: GrowRoot): Promise<void> {
    await withScope(async (scope) => {
      const device = await attachLoop(this.priv, scope, image, { offset: root.offset, size: root.newSize }, { label: 'ROOT' });
      // resize2fs insists on a freshly checked filesystem; 1 and 2 mean "errors fixed", which is still a usable fs.
      await this.priv.run('e2fsck', ['-f', '-y', device], { okExitCodes: [1, 2], purpose: 'check ROOT before growing it' });
      await this.priv.run('resize2fs', [device], { purpose: `grow the ROOT filesystem to ${root.newSize} bytes` });
    });
  }

  readUsrFile(image: string, table: GptTable, rel: string): Promise<string | undefined> {
    return this.withUsr(image, table, async (dir) => {
      const file = path.join(dir, rel);
      // lstat, not stat: a symlink in the image must not be followed on the host.
      const info = await lstat(file).catch(() => undefined);
      return info?.isFile() ? readFile(file, 'utf8') : undefined;
    });
  }

  readUsrOsRelease(image: string, table: GptTable): Promise<Record<string, string>> {
    return this.withUsr(image, table, (dir) => readOsReleaseInUsrTree(dir));
  }

  async squashUsr(image: string, table: GptTable, squashfs: string, _scratchDir: string, extras?: SquashExtras): Promise<void> {
    // Root reads all of /usr (some files are root-only); the squashfs keeps owners and modes as they are.
    await this.withUsr(image, table, async (dir) => {
      const more = await extras?.(dir);
      await this.priv.run('mksquashfs', [dir, squashfs, '-noappend', '-quiet', '-no-progress', ...(more?.args ?? [])], { cwd: more?.cwd, purpose: 'make usr.squashfs from USR-A' });
    });
  }

  /** USR-A mounted read-only for the time of `fn`. */
  private withUsr<T>(image: string, table: GptTable, fn: (dir: string) => Promise<T>): Promise<T> {
    const usr = locateFlatcarPartition(table, 'USR-A');
    return withBtrfsMountLock(() =>
      withScope(async (scope) => fn(await mountPartition(this.priv, scope, image, { offset: usr.startByte, size: usr.sizeBytes }, { fsType: 'btrfs', readOnly: true, label: 'USR-A' }))),
    );
  }
}
