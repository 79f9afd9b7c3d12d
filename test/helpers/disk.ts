import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { chmod, lstat, mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface SgdiskPartition {
  number: number;
  name: string;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  startByte: number;
  sizeBytes: number;
}

/** Partition facts as sgdisk reports them: tests check our results with other people's code. */
export async function sgdiskPartition(image: string, number: number): Promise<SgdiskPartition> {
  const { stdout } = await execa('sgdisk', ['-i', String(number), image]);
  const field = (re: RegExp) => {
    const m = re.exec(stdout);
    if (!m) throw new Error(`sgdisk -i ${number}: no match for ${re} in:\n${stdout}`);
    return m[1]!;
  };
  const firstLba = Number(field(/First sector: (\d+)/));
  const lastLba = Number(field(/Last sector: (\d+)/));
  return {
    number,
    name: field(/Partition name: '([^']*)'/),
    typeGuid: field(/Partition GUID code: ([0-9A-F-]+)/),
    uniqueGuid: field(/Partition unique GUID: ([0-9A-F-]+)/),
    firstLba,
    lastLba,
    startByte: firstLba * 512,
    sizeBytes: (lastLba - firstLba + 1) * 512,
  };
}

export async function sgdiskVerify(image: string): Promise<string> {
  const { stdout } = await execa('sgdisk', ['-v', image], { reject: false });
  return stdout;
}

/** Owner, group and permission bits of a path in a partition, as other people's tools read them. */
export interface PartitionOwner {
  uid: number;
  gid: number;
  mode: number;
}
/** Looks up a path relative to the partition's root (symlinks are not followed). */
export type OwnerOf = (relative: string) => Promise<PartitionOwner>;

/**
 * Runs fn on one partition's files, read with other people's code, and always cleans up.
 * As root: a read-only mount through a loop device at the partition's offset (what the kernel
 * sees). Any other user can neither attach nor mount, so the files are copied out instead:
 * ext4 by debugfs `rdump`, btrfs by `btrfs restore -m -S` from a copy of the partition's bytes,
 * both under fakeroot, which remembers the owners they set; `owner` reads them back through
 * fakeroot with find(1). Both tools set every file's owner from the image, so a file the image
 * gives to nobody reads back as nobody's here too.
 */
export async function withReadOnlyPartition<T>(
  image: string,
  number: number,
  fsType: 'ext4' | 'btrfs',
  fn: (dir: string, owner: OwnerOf) => Promise<T>,
): Promise<T> {
  const p = await sgdiskPartition(image, number);
  if (process.getuid?.() !== 0) return withCopiedPartition(image, p, fsType, fn);
  const { stdout } = await execa('losetup', ['--find', '--show', '--read-only', '--offset', String(p.startByte), '--sizelimit', String(p.sizeBytes), image]);
  const device = stdout.trim();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-test-ro-'));
  await chmod(dir, 0o755); // btrfs-progs of unprivileged tests stat every mount point
  const owner: OwnerOf = async (relative) => {
    const s = await lstat(path.join(dir, relative));
    return { uid: s.uid, gid: s.gid, mode: s.mode & 0o7777 };
  };
  try {
    await execa('mount', ['-t', fsType, '-o', fsType === 'ext4' ? 'ro,noload' : 'ro', device, dir]);
    try {
      return await fn(dir, owner);
    } finally {
      await execa('umount', [dir]);
    }
  } finally {
    await execa('losetup', ['--detach', device]);
    await rmdir(dir);
  }
}

/** withReadOnlyPartition for a user that cannot mount: the files copied out under fakeroot. */
async function withCopiedPartition<T>(image: string, p: SgdiskPartition, fsType: 'ext4' | 'btrfs', fn: (dir: string, owner: OwnerOf) => Promise<T>): Promise<T> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-test-copy-'));
  const dir = path.join(work, 'files');
  const state = path.join(work, 'fakeroot.state');
  try {
    await mkdir(dir);
    if (fsType === 'ext4') {
      // rdump of / writes the root directory's entries into dir.
      await execa('fakeroot', ['-s', state, '--', 'debugfs', '-R', `rdump / ${dir}`, `${image}?offset=${p.startByte}`]);
    } else {
      // btrfs restore takes a device or a file holding only the filesystem.
      const copy = path.join(work, 'partition.img');
      await execa('dd', [`if=${image}`, `of=${copy}`, 'bs=1M', 'iflag=skip_bytes,count_bytes', `skip=${p.startByte}`, `count=${p.sizeBytes}`, 'conv=sparse', 'status=none']);
      await execa('fakeroot', ['-s', state, '--', 'btrfs', 'restore', '-x', '-m', '-S', copy, dir]);
      await rm(copy);
    }
    const { stdout } = await execa('fakeroot', ['-i', state, '--', 'find', dir, '-mindepth', '1', '-printf', '%P\t%U\t%G\t%m\n']);
    const owners = new Map<string, PartitionOwner>();
    for (const line of stdout.split('\n').filter(Boolean)) {
      const [rel, uid, gid, mode] = line.split('\t');
      owners.set(rel!, { uid: Number(uid), gid: Number(gid), mode: parseInt(mode!, 8) });
    }
    const owner: OwnerOf = async (relative) => {
      const found = owners.get(path.normalize(relative).replace(/\/$/, ''));
      if (!found) throw new Error(`${relative}: not in partition ${p.number} (${p.name}) of ${image}`);
      return found;
    };
    return await fn(dir, owner);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Byte-compares two files over a range with cmp (not our code). */
export async function rangesEqual(a: string, b: string, offset: number, length: number): Promise<boolean> {
  if (length <= 0) return true;
  const r = await execa('cmp', ['-s', '-n', String(length), '-i', `${offset}:${offset}`, a, b], { reject: false });
  return r.exitCode === 0;
}

/** Loop devices backed by files under `prefix`, and mounts of flatbake's temp dirs. */
export async function leftovers(prefix: string): Promise<{ loops: string[]; mounts: string[] }> {
  const { stdout } = await execa('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']);
  const loops = stdout.split('\n').filter((l) => l.includes(prefix));
  // flatbake's mount points live in the temp dir: count those whose loop device is backed by a
  // file under `prefix`, not the mounts of tests running alongside in another process.
  const ourDevices = new Set(loops.map((l) => l.trim().split(/\s+/)[0]));
  const mounts = (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .filter((l) => l.includes(prefix) || (l.includes('flatbake-mnt-') && ourDevices.has(l.split(' ')[0])));
  return { loops, mounts };
}

/**
 * The chunked SHA-256 as the README tells users to check it, with coreutils:
 * `split -b 4M --filter=sha256sum FILE | cut -c1-64 | sha256sum`.
 */
export async function coreutilsChunkedSha256(file: string): Promise<string> {
  const { stdout } = await execa('split', ['-b', '4M', '--filter=sha256sum', file]);
  const lines = stdout.split('\n').filter(Boolean).map((line) => `${line.slice(0, 64)}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex');
}
