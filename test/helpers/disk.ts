import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { chmod, mkdtemp, readFile, rmdir } from 'node:fs/promises';
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

/** Mounts one partition read-only (loop device at its offset), runs fn, always unmounts and detaches. */
export async function withReadOnlyPartition<T>(image: string, number: number, fsType: 'ext4' | 'btrfs', fn: (dir: string) => Promise<T>): Promise<T> {
  const p = await sgdiskPartition(image, number);
  const { stdout } = await execa('losetup', ['--find', '--show', '--read-only', '--offset', String(p.startByte), '--sizelimit', String(p.sizeBytes), image]);
  const device = stdout.trim();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-test-ro-'));
  await chmod(dir, 0o755); // btrfs-progs of unprivileged tests stat every mount point
  try {
    await execa('mount', ['-t', fsType, '-o', fsType === 'ext4' ? 'ro,noload' : 'ro', device, dir]);
    try {
      return await fn(dir);
    } finally {
      await execa('umount', [dir]);
    }
  } finally {
    await execa('losetup', ['--detach', device]);
    await rmdir(dir);
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
