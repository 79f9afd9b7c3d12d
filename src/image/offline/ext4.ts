/**
 * ext4 edited in place inside the image file with debugfs -w, at the
 * partition's byte offset (`image?offset=N`): no extraction, no loop device,
 * nothing but write access to the file. debugfs writes inode fields directly,
 * so owners are root:root whoever runs it.
 */
import { readFile, rm, stat, symlink as fsSymlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DiskFormatError, InputError } from '../../errors.js';
import { ownedTempDir } from '../../util/owner.js';
import { assertStepsOk, parseDebugfsLs, parseDebugfsStat, parseDumpe2fs, quoteArg, runDebugfs, runE2fsTool, type DebugfsStat, type DebugfsTarget, type Ext4Summary } from './debugfs.js';
import {
  checkEpoch,
  checkMode,
  checkSymlinkTarget,
  ext4GrowthYield,
  joinComponents,
  nowEpoch,
  PartitionFullError,
  splitPartitionPath,
  walkPartitionPath,
  type EditablePartition,
  type EntryInfo,
  type PartitionEditor,
  type PartitionSpace,
  type PartitionRange,
} from '../../backend/editor.js';
import { checkRange } from './range.js';

export interface OpenExt4Options {
  /** Which partition this is, for messages and `editor.partition` (default ROOT). */
  partition?: EditablePartition;
}

/** Blocks a file of `size` bytes takes: its data plus extent-tree blocks beyond the four extents an inode holds. */
export function ext4BlocksFor(size: number, blockSize: number): number {
  const data = Math.ceil(size / blockSize);
  // One extent maps at most 32768 blocks; a tree leaf holds (blockSize - 12) / 12 of them.
  const extents = Math.ceil(data / 32768);
  const leaves = extents > 4 ? Math.ceil(extents / Math.floor((blockSize - 12) / 12)) + 1 : 0;
  return data + leaves;
}

type Lookup = { state: 'found'; info: DebugfsStat } | { state: 'missing' } | { state: 'error'; errors: string[] };

class Ext4Editor implements PartitionEditor {
  private closed = false;
  private scratchCounter = 0;

  constructor(
    readonly partition: EditablePartition,
    private readonly target: DebugfsTarget,
    private readonly summary: Ext4Summary,
  ) {}

  private assertOpen(): void {
    if (this.closed) throw new Error(`internal: the ${this.partition} editor is closed`);
  }

  private scratch(name: string): string {
    return path.join(this.target.workDir, `${name}-${++this.scratchCounter}`);
  }

  private async summaryNow(): Promise<Ext4Summary> {
    const { stdout } = await runE2fsTool('dumpe2fs', ['-h', this.target.device], { purpose: `read the ${this.partition} superblock` });
    return parseDumpe2fs(stdout);
  }

  /** stat of every prefix of `parts` (and the full path) in one debugfs run. */
  private async lookupPrefixes(parts: readonly string[]): Promise<Lookup[]> {
    const paths = parts.map((_, i) => joinComponents(parts.slice(0, i + 1)));
    const steps = await runDebugfs(this.target, paths.map((p) => `stat ${quoteArg(p)}`), { write: false });
    return steps.map((step): Lookup => {
      if (step.errors.length === 0) return { state: 'found', info: parseDebugfsStat(step.stdout) };
      if (step.errors.some((e) => /File not found by ext2_lookup/.test(e))) return { state: 'missing' };
      return { state: 'error', errors: step.errors };
    });
  }

  private async walk(parts: readonly string[], what: string): Promise<{ existing: number; last?: DebugfsStat }> {
    // One debugfs run looks up every prefix; the walk reads the answers in order.
    const lookups = parts.length === 0 ? [] : await this.lookupPrefixes(parts);
    const lookup = async (i: number): Promise<DebugfsStat | undefined> => {
      const found = lookups[i]!;
      if (found.state === 'error') throw new DiskFormatError(`debugfs \`stat ${joinComponents(parts.slice(0, i + 1))}\` failed on ${this.target.label}: ${found.errors.join('; ')}`);
      return found.state === 'missing' ? undefined : found.info;
    };
    return walkPartitionPath(parts, this.partition, what, lookup, (info) => info.type);
  }

  /** set_inode_field commands making an inode root:root with a mode and one timestamp everywhere. */
  private ownAndStamp(p: string, typeBits: number, mode: number | undefined, epoch: number): string[] {
    const q = quoteArg(p);
    const cmds = [`set_inode_field ${q} uid 0`, `set_inode_field ${q} gid 0`];
    if (mode !== undefined) cmds.push(`set_inode_field ${q} mode 0${(typeBits | mode).toString(8)}`);
    const times = ['atime', 'ctime', 'mtime'];
    // crtime lives in the extra inode space that 128-byte inodes lack.
    if (this.summary.inodeSize > 128) times.push('crtime');
    for (const t of times) cmds.push(`set_inode_field ${q} ${t} @${epoch}`);
    return cmds;
  }

  private async apply(commands: string[]): Promise<void> {
    const steps = await runDebugfs(this.target, commands, { write: true });
    assertStepsOk(steps, this.target.label);
  }

  private async readSymlinkTarget(p: string, info: DebugfsStat): Promise<string> {
    if (info.fastLinkTarget) return info.fastLinkTarget.toString('utf8');
    // A long target lives in a data block: dump reads it like file contents.
    const out = this.scratch('link');
    try {
      assertStepsOk(await runDebugfs(this.target, [`dump ${quoteArg(p)} ${quoteArg(out)}`], { write: false }), this.target.label);
      return (await readFile(out)).toString('utf8');
    } finally {
      await unlink(out).catch(() => undefined);
    }
  }

  async lstat(p: string): Promise<EntryInfo | undefined> {
    this.assertOpen();
    const parts = splitPartitionPath(p, this.partition);
    if (parts.length === 0) {
      const steps = await runDebugfs(this.target, ['stat /'], { write: false });
      assertStepsOk(steps, this.target.label);
      const root = parseDebugfsStat(steps[0]!.stdout);
      return { type: root.type, size: root.size, mode: root.mode, uid: root.uid, gid: root.gid };
    }
    const { existing, last } = await this.walk(parts, 'look');
    if (existing < parts.length || !last) return undefined;
    const info: EntryInfo = { type: last.type, size: last.size, mode: last.mode, uid: last.uid, gid: last.gid };
    if (last.type === 'symlink') info.target = await this.readSymlinkTarget(p, last);
    return info;
  }

  async mkdirp(p: string, mode = 0o755): Promise<void> {
    this.assertOpen();
    checkMode(mode, p);
    const parts = splitPartitionPath(p, this.partition);
    const { existing, last } = await this.walk(parts, 'create a directory');
    if (existing === parts.length) {
      if (last && last.type !== 'dir') {
        throw new DiskFormatError(`cannot create the directory ${p} on ${this.partition}: a ${last.type} is in the way`);
      }
      return;
    }
    const epoch = nowEpoch();
    const commands: string[] = [];
    for (let i = existing; i < parts.length; i++) {
      const dir = joinComponents(parts.slice(0, i + 1));
      commands.push(`mkdir ${quoteArg(dir)}`, ...this.ownAndStamp(dir, 0o040000, mode, epoch));
    }
    await this.apply(commands);
  }

  /** The parent must already be a real directory; returns what is at the path now. */
  private async prepareEntry(parts: readonly string[], what: string): Promise<DebugfsStat | undefined> {
    if (parts.length === 0) throw new InputError(`cannot ${what} at / on ${this.partition}`);
    const { existing, last } = await this.walk(parts, what);
    if (existing < parts.length - 1) {
      throw new DiskFormatError(`cannot ${what}: ${joinComponents(parts.slice(0, -1))} does not exist on ${this.partition}`, 'create it with mkdirp first');
    }
    if (last?.type === 'dir') throw new DiskFormatError(`cannot ${what}: ${joinComponents(parts)} on ${this.partition} is a directory`);
    if (last && last.type === 'other') throw new DiskFormatError(`cannot ${what}: ${joinComponents(parts)} on ${this.partition} is a special file`);
    return last;
  }

  async writeFile(p: string, hostFile: string, options: { mode?: number; mtime?: number } = {}): Promise<void> {
    this.assertOpen();
    const mode = checkMode(options.mode ?? 0o644, p);
    const epoch = checkEpoch(options.mtime ?? nowEpoch(), p);
    const parts = splitPartitionPath(p, this.partition);
    let host;
    try {
      host = await stat(hostFile);
    } catch (err) {
      throw new InputError(`cannot read ${hostFile}: ${(err as Error).message}`, undefined, { cause: err });
    }
    if (!host.isFile()) throw new InputError(`${hostFile} is not a regular file`);
    const existing = await this.prepareEntry(parts, 'write a file');
    const summary = await this.summaryNow();
    // Blocks the replaced file frees count as free; reserved blocks stay for the booted system's root.
    const freed = existing?.type === 'file' ? ext4BlocksFor(existing.size, summary.blockSize) : 0;
    // +2: a directory may need a new block for the name.
    const needed = ext4BlocksFor(host.size, summary.blockSize) + 2;
    const available = summary.freeBlocks - summary.reservedBlocks + freed;
    if (needed > available || summary.freeInodes < 1) {
      throw new PartitionFullError(
        `not enough space on ${this.partition} for ${p}: it needs ${needed * summary.blockSize} bytes, ${Math.max(0, available) * summary.blockSize} are free`,
        'install fewer or smaller files, or choose another partition',
      );
    }
    // A symlink to the host file keeps its name (quotes, spaces, whatever) out of the debugfs command.
    const source = this.scratch('src');
    await fsSymlink(path.resolve(hostFile), source);
    try {
      const q = quoteArg(p);
      await this.apply([...(existing ? [`rm ${q}`] : []), `write ${quoteArg(source)} ${q}`, ...this.ownAndStamp(p, 0o100000, mode, epoch)]);
    } finally {
      await unlink(source).catch(() => undefined);
    }
  }

  async symlink(p: string, target: string): Promise<void> {
    this.assertOpen();
    checkSymlinkTarget(target, p);
    const parts = splitPartitionPath(p, this.partition);
    const existing = await this.prepareEntry(parts, 'create a symlink');
    const q = quoteArg(p);
    // debugfs' symlink takes the link's path first, then the target.
    await this.apply([...(existing ? [`rm ${q}`] : []), `symlink ${q} ${quoteArg(target)}`, ...this.ownAndStamp(p, 0o120000, undefined, nowEpoch())]);
  }

  async readFile(p: string): Promise<Buffer> {
    this.assertOpen();
    const parts = splitPartitionPath(p, this.partition);
    const { existing, last } = await this.walk(parts, 'read a file');
    if (existing < parts.length || !last) throw new InputError(`${p} does not exist on ${this.partition}`);
    if (last.type !== 'file') throw new InputError(`${p} on ${this.partition} is a ${last.type}, not a file`);
    const out = this.scratch('read');
    try {
      const steps = await runDebugfs(this.target, [`dump ${quoteArg(p)} ${quoteArg(out)}`], { write: false });
      assertStepsOk(steps, this.target.label);
      return await readFile(out);
    } finally {
      await unlink(out).catch(() => undefined);
    }
  }

  async list(dir: string): Promise<string[]> {
    this.assertOpen();
    const parts = splitPartitionPath(dir, this.partition);
    if (parts.length > 0) {
      const { existing, last } = await this.walk(parts, 'list a directory');
      if (existing < parts.length || !last) throw new InputError(`${dir} does not exist on ${this.partition}`);
      if (last.type !== 'dir') throw new InputError(`${dir} on ${this.partition} is a ${last.type}, not a directory`);
    }
    const steps = await runDebugfs(this.target, [`ls -p ${quoteArg(joinComponents(parts))}`], { write: false });
    assertStepsOk(steps, this.target.label);
    return parseDebugfsLs(steps[0]!.stdout)
      .map((e) => e.name)
      .sort();
  }

  async freeBytes(): Promise<number> {
    this.assertOpen();
    const s = await this.summaryNow();
    // Like statfs' f_bavail: the reserved blocks are not for new files.
    return Math.max(0, s.freeBlocks - s.reservedBlocks) * s.blockSize;
  }

  async space(): Promise<PartitionSpace> {
    this.assertOpen();
    const s = await this.summaryNow();
    return { freeBytes: Math.max(0, s.freeBlocks - s.reservedBlocks) * s.blockSize, blockSize: s.blockSize, freeInodes: s.freeInodes, growthYield: ext4GrowthYield(s) };
  }

  async commit(): Promise<void> {
    this.assertOpen();
    // Every call already ran its own debugfs -w, which flushes on exit: nothing is pending.
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await rm(this.target.workDir, { recursive: true, force: true });
  }
}

/**
 * Opens the ext4 filesystem at `range` inside `image` for editing. The
 * filesystem must be clean (no journal to replay, no recorded errors) and lie
 * inside the range.
 */
export async function openExt4Editor(image: string, range: PartitionRange, options: OpenExt4Options = {}): Promise<PartitionEditor> {
  const partition = options.partition ?? 'ROOT';
  await checkRange(image, range, partition);
  // Named for its owner: the next bake removes it if we are killed (util/owner.ts).
  const workDir = await ownedTempDir(os.tmpdir(), 'flatbake-ext4-');
  try {
    // debugfs splits the name at '?': a link with a plain name keeps any '?' in the image path out of its way.
    const link = path.join(workDir, 'image');
    await fsSymlink(path.resolve(image), link);
    const device = `${link}?offset=${range.offset}`;
    const label = `${partition} in ${image}`;
    let summary: Ext4Summary;
    try {
      const { stdout } = await runE2fsTool('dumpe2fs', ['-h', device], { purpose: `read the ${partition} superblock` });
      summary = parseDumpe2fs(stdout);
    } catch (err) {
      if (err instanceof DiskFormatError) throw err;
      throw new DiskFormatError(`no ext4 filesystem found for ${partition} at byte ${range.offset} of ${image}`, 'is this a Flatcar image?', { cause: err });
    }
    if (summary.blockCount * summary.blockSize > range.size) {
      throw new DiskFormatError(`the ext4 filesystem of ${partition} (${summary.blockCount * summary.blockSize} bytes) is larger than its partition (${range.size} bytes)`);
    }
    if (summary.features.includes('needs_recovery')) {
      throw new DiskFormatError(`the ext4 journal of ${partition} needs recovery; debugfs would write past it`, 'the image was not cleanly unmounted: run e2fsck on it first');
    }
    if (summary.state !== 'clean') {
      throw new DiskFormatError(`the ext4 filesystem of ${partition} is in state "${summary.state}"`, 'run e2fsck on it first');
    }
    return new Ext4Editor(partition, { device, label, workDir }, summary);
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}
