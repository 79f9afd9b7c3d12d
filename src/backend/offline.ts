/**
 * The offline backend: partitions edited as an ordinary user, on the image file itself. ext4
 * (ROOT) in place with debugfs at its offset; btrfs (OEM) rebuilt with mkfs.btrfs --rootdir;
 * USR-A read with btrfs restore. No loop device, no mount, no root.
 */
import { lstat, mkdir, mkdtemp, readFile, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { FlatbakeError } from '../errors.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { openBtrfsEditor } from '../image/offline/btrfs.js';
import { openExt4Editor } from '../image/offline/ext4.js';
import { detectOwnershipMode, openOwnershipSession } from '../image/offline/ownership.js';
import { extractRange, writeRangeBack } from '../image/offline/range.js';
import { readOsReleaseFromUsrBtrfs, restoreRegex } from '../image/os-release.js';
import { run } from '../util/exec.js';
import type { PartitionEditor } from './editor.js';
import type { Backend, EditorRequest, EditorsFor, GrowRoot, SquashExtras } from './index.js';

export class OfflineBackend implements Backend {
  readonly name = 'offline' as const;

  async withEditors<const W extends EditorRequest, T>(image: string, table: GptTable, wanted: W, fn: (editors: EditorsFor<W>) => Promise<T>): Promise<T> {
    const opened: PartitionEditor[] = [];
    let result: T;
    try {
      const editors: { root?: PartitionEditor; oem?: PartitionEditor } = {};
      const range = (label: 'ROOT' | 'OEM') => {
        const part = locateFlatcarPartition(table, label);
        return { offset: part.startByte, size: part.sizeBytes };
      };
      if (wanted.root) opened.push((editors.root = await openExt4Editor(image, range('ROOT'), { partition: 'ROOT' })));
      if (wanted.oem) opened.push((editors.oem = await openBtrfsEditor(image, range('OEM'), { partition: 'OEM' })));
      // The request decided which are there.
      result = await fn(editors as EditorsFor<W>);
    } catch (error) {
      for (const editor of opened.reverse()) await editor.close().catch(() => undefined);
      throw error;
    }
    // Closing removes the editors' temp files; a failure there fails the call.
    const failures: string[] = [];
    for (const editor of opened.reverse()) await editor.close().catch((error: Error) => failures.push(`${editor.partition}: ${error.message}`));
    if (failures.length > 0) throw new FlatbakeError(`could not close the partition editors (${failures.join('; ')})`);
    return result;
  }

  async growRootFilesystem(image: string, root: GrowRoot): Promise<void> {
    // resize2fs on `image?offset=N` would set the whole file's size to the filesystem's (it
    // treats the file as the device): grow a sparse copy of ROOT instead and write it back.
    const copy = path.join(path.dirname(image), `.root-${process.pid}-${Date.now()}.img`);
    try {
      await extractRange(image, { offset: root.offset, size: root.oldSize }, copy);
      await truncate(copy, root.newSize);
      await run('e2fsck', ['-f', '-y', copy], { okExitCodes: [1, 2], purpose: 'check ROOT before growing it' });
      await run('resize2fs', [copy], { purpose: `grow the ROOT filesystem to ${root.newSize} bytes` });
      await writeRangeBack(copy, image, { offset: root.offset, size: root.newSize });
    } finally {
      await rm(copy, { force: true });
    }
  }

  /** USR-A's bytes are copied out and only that one path is restored. */
  async readUsrFile(image: string, table: GptTable, rel: string, scratchDir: string): Promise<string | undefined> {
    const usr = locateFlatcarPartition(table, 'USR-A');
    const dir = await mkdtemp(path.join(scratchDir, 'usr-file-'));
    try {
      const copy = path.join(dir, 'usr-a.img');
      await extractRange(image, { offset: usr.startByte, size: usr.sizeBytes }, copy);
      const tree = path.join(dir, 'tree');
      // btrfs restore makes the directories below its target, not the target itself.
      await mkdir(tree);
      await run('btrfs', ['restore', '-i', '--path-regex', restoreRegex(rel), copy, tree], { purpose: `read /usr/${rel} from USR-A` });
      const file = path.join(tree, rel);
      const info = await lstat(file).catch(() => undefined);
      return info?.isFile() ? await readFile(file, 'utf8') : undefined;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** USR-A's bytes are copied out and only the files on the way to os-release are restored. */
  async readUsrOsRelease(image: string, table: GptTable, scratchDir: string): Promise<Record<string, string>> {
    const usr = locateFlatcarPartition(table, 'USR-A');
    const dir = await mkdtemp(path.join(scratchDir, 'usr-a-'));
    try {
      const copy = path.join(dir, 'usr-a.img');
      await extractRange(image, { offset: usr.startByte, size: usr.sizeBytes }, copy);
      return await readOsReleaseFromUsrBtrfs(copy, path.join(dir, 'tree'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async squashUsr(image: string, table: GptTable, squashfs: string, scratchDir: string, extras?: SquashExtras): Promise<void> {
    const usr = locateFlatcarPartition(table, 'USR-A');
    const copy = path.join(scratchDir, 'usr-a.img');
    const tree = path.join(scratchDir, 'usr-a');
    await extractRange(image, { offset: usr.startByte, size: usr.sizeBytes }, copy);
    await mkdir(tree);
    // As an ordinary user, restore (which sets owners) and mksquashfs (which records them) run in
    // one fakeroot or user-namespace session, so /usr keeps its owners and modes.
    const owners = await openOwnershipSession(await detectOwnershipMode(), scratchDir);
    // -x xattrs, -m owners/modes/times, -S symlinks
    await owners.run('btrfs', ['restore', '-x', '-m', '-S', copy, tree], { purpose: 'copy the files out of USR-A' });
    await rm(copy, { force: true });
    const more = await extras?.(tree);
    await owners.run('mksquashfs', [tree, squashfs, '-noappend', '-quiet', '-no-progress', ...(more?.args ?? [])], { cwd: more?.cwd, purpose: 'make usr.squashfs from USR-A' });
    await rm(tree, { recursive: true, force: true });
  }
}
