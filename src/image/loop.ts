import { realpathSync } from 'node:fs';
import { chmod, mkdtemp, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DiskFormatError } from '../errors.js';
import type { Privileged } from '../privileged/privileged.js';
import { noteAttachment } from '../util/attached.js';
import type { ResourceScope } from '../util/scope.js';

export interface ByteRange {
  /** Byte offset of the partition inside the image. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

/**
 * Attaches a loop device to a byte range of an image (never --partscan:
 * partition devices do not appear without udev) and registers its detach.
 */
export async function attachLoop(
  priv: Privileged,
  scope: ResourceScope,
  image: string,
  range: ByteRange,
  options: { readOnly?: boolean; label?: string } = {},
): Promise<string> {
  const args = ['--find', '--show', '--offset', String(range.offset), '--sizelimit', String(range.size)];
  if (options.readOnly) args.push('--read-only');
  args.push(image);
  // Noted before and after losetup, so a SIGKILL at any moment leaves the next run enough to
  // find the device (util/attached.ts); the kernel names the file by its real path.
  const note = { op: 'loop' as const, file: realpathSync(image), offset: range.offset };
  noteAttachment(note);
  const { stdout } = await priv.run('losetup', args, {
    purpose: `attach a loop device for ${options.label ?? 'a partition'}`,
    hint: 'check that loop devices are available (modprobe loop; in a container, /dev/loop-control must be present)',
  });
  const device = stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(device)) throw new DiskFormatError(`losetup returned an unexpected device name '${device}'`);
  noteAttachment({ ...note, device });
  scope.defer(`detach ${device}`, async () => {
    await priv.run('losetup', ['--detach', device], { purpose: `detach ${device}` });
    noteAttachment({ op: 'released', what: device });
  });
  return device;
}

/** Mounts a device on a fresh temp dir and registers unmount + rmdir. */
export async function mountDevice(
  priv: Privileged,
  scope: ResourceScope,
  device: string,
  options: { fsType: string; readOnly?: boolean; label?: string },
): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `flatbake-mnt-${(options.label ?? 'part').toLowerCase()}-`));
  // Others must be able to stat a mount point: btrfs-progs run by an ordinary user (the offline
  // backend) check every mount in /proc/mounts and fail on one they cannot stat.
  await chmod(dir, 0o755);
  scope.defer(`remove ${dir}`, () => rmdir(dir).catch(() => undefined));
  // noload: a read-only ext4 mount must not replay a journal (it would write)
  noteAttachment({ op: 'mount', dir, device });
  const mountOptions = options.readOnly ? ['-o', options.fsType === 'ext4' ? 'ro,noload' : 'ro'] : [];
  await priv.run('mount', ['-t', options.fsType, ...mountOptions, device, dir], {
    purpose: `mount ${options.label ?? device}`,
    hint: `the ${options.label ?? ''} partition does not hold a mountable ${options.fsType} filesystem`,
  });
  scope.defer(`unmount ${dir}`, async () => {
    try {
      await priv.run('umount', [dir], { purpose: `unmount ${dir}` });
    } catch {
      // Something still holds it (a shell cd'ed into it?): detach lazily so the loop device can go.
      await priv.run('umount', ['--lazy', dir], { purpose: `unmount ${dir}` });
    }
    noteAttachment({ op: 'released', what: dir });
  });
  return dir;
}

/** Loop device + mount of one partition, released by the scope. */
export async function mountPartition(
  priv: Privileged,
  scope: ResourceScope,
  image: string,
  range: ByteRange,
  options: { fsType: string; readOnly?: boolean; label: string },
): Promise<string> {
  const device = await attachLoop(priv, scope, image, range, options);
  return mountDevice(priv, scope, device, options);
}
