import { lstat, readdir, readFile, readlink, statfs } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError } from '../errors.js';
import type { Privileged } from '../privileged/privileged.js';
import { ext4GrowthYield, joinComponents, splitPartitionPath, statType, symlinkRefusal, walkPartitionPath, type EditablePartition, type EntryInfo, type PartitionEditor, type PartitionSpace } from './editor.js';

/**
 * The mount backend's PartitionEditor: a partition mounted through a loop device, written as
 * root (directly or through sudo). Never writes through a symlink inside the image: an
 * absolute link such as etc -> /etc would otherwise make us write on the host.
 */
export class MountedEditor implements PartitionEditor {
  constructor(
    readonly partition: EditablePartition,
    private readonly priv: Privileged,
    private readonly mountPoint: string,
  ) {}

  private host(p: string): { parts: string[]; file: string } {
    const parts = splitPartitionPath(p, this.partition);
    return { parts, file: path.join(this.mountPoint, ...parts) };
  }

  /**
   * The editors' path rule (walkPartitionPath); here the last component must not be a symlink
   * either unless it is to be replaced by one: `install` and `mkdir` would follow it.
   */
  private async refuseSymlinks(parts: string[], what: string, allowLast: boolean): Promise<void> {
    const lookup = (i: number) => lstat(path.join(this.mountPoint, ...parts.slice(0, i + 1))).catch(() => undefined);
    const { last } = await walkPartitionPath(parts, this.partition, what, lookup, statType);
    if (last?.isSymbolicLink() && !allowLast) throw symlinkRefusal(what, joinComponents(parts), this.partition);
  }

  async lstat(p: string): Promise<EntryInfo | undefined> {
    const { file } = this.host(p);
    const info = await lstat(file).catch(() => undefined);
    if (!info) return undefined;
    const type = statType(info);
    return { type, size: info.size, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid, target: type === 'symlink' ? await readlink(file) : undefined };
  }

  async mkdirp(p: string, mode = 0o755): Promise<void> {
    const { parts, file } = this.host(p);
    await this.refuseSymlinks(parts, 'create a directory', false);
    await this.priv.run('install', ['-d', '-m', mode.toString(8), '-o', '0', '-g', '0', file], { purpose: `create ${p} on ${this.partition}` });
  }

  async writeFile(p: string, hostFile: string, options: { mode?: number; mtime?: number } = {}): Promise<void> {
    const { parts, file } = this.host(p);
    await this.refuseSymlinks(parts, 'write a file', false);
    await this.priv.run('install', ['-m', (options.mode ?? 0o644).toString(8), '-o', '0', '-g', '0', hostFile, file], {
      purpose: `write ${p} on ${this.partition}`,
      hint: `is ${this.partition} full?`,
    });
    if (options.mtime !== undefined) {
      await this.priv.run('touch', ['-h', '-d', `@${options.mtime}`, file], { purpose: `set the time of ${p}` });
    }
  }

  async symlink(p: string, target: string): Promise<void> {
    const { parts, file } = this.host(p);
    await this.refuseSymlinks(parts, 'create a symlink', true);
    const existing = await lstat(file).catch(() => undefined);
    // ln -sfn onto a directory would create the link inside it
    if (existing?.isDirectory()) throw new DiskFormatError(`cannot make ${p} a symlink on ${this.partition}: it is a directory`);
    await this.priv.run('ln', ['-sfn', target, file], { purpose: `link ${p}` });
    await this.priv.run('chown', ['-h', '0:0', file], { purpose: `own ${p}` });
  }

  async readFile(p: string): Promise<Buffer> {
    return readFile(this.host(p).file);
  }

  async list(dir: string): Promise<string[]> {
    return (await readdir(this.host(dir).file)).sort();
  }

  async freeBytes(): Promise<number> {
    const info = await statfs(this.mountPoint);
    return Number(info.bavail) * Number(info.bsize);
  }

  async space(): Promise<PartitionSpace> {
    const info = await statfs(this.mountPoint);
    const [blocks, bfree, bavail, files, ffree, bsize] = [info.blocks, info.bfree, info.bavail, info.files, info.ffree, info.bsize].map(Number) as [number, number, number, number, number, number];
    // btrfs reports no inode counts (it makes inodes on demand). statfs does not tell the
    // inode size: 256 bytes, as Flatcar's ROOT and mkfs.ext4's default have.
    const inodes = files === 0 ? Infinity : ffree;
    const growthYield = files === 0 ? 1 : ext4GrowthYield({ blockCount: blocks, blockSize: bsize, inodeCount: files, inodeSize: 256, reservedBlocks: bfree - bavail });
    return { freeBytes: bavail * bsize, blockSize: bsize, freeInodes: inodes, growthYield };
  }

  async commit(): Promise<void> {
    // Writes land through the mount; the unmount (owned by the scope) flushes them.
  }

  async close(): Promise<void> {}
}
