import { lstat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError, InputError } from '../errors.js';
import type { Privileged } from '../privileged/privileged.js';
import type { InstallTarget } from './inputs.js';

/** One sysext ready to be written into the image. */
export interface SysextToInject {
  name: string;
  /** Local file holding the image. */
  source: string;
  /** Name it gets in the install dir. */
  fileName: string;
  size: number;
  /** Local NAME.conf (a systemd-sysupdate transfer), when there is one. */
  sysupdateConf?: string;
}

export interface InjectedSysext {
  name: string;
  fileName: string;
  /** `root:/opt/extensions/x.raw` */
  installedTo: string;
  /** The path the booted system sees. */
  bootedPath: string;
  /** `/etc/extensions/NAME.raw` on ROOT. */
  symlink: string;
  /** `/etc/sysupdate.NAME.d/NAME.conf` on ROOT, when installed. */
  sysupdateConf?: string;
  /** An entry of the same name was already in the image and was replaced. */
  replaced: boolean;
}

export interface MountedPartitions {
  /** Mount point of ROOT (ext4). */
  root: string;
  /** Mount point of OEM (btrfs); only needed for `oem:` installs. */
  oem?: string;
}

/**
 * Refuses to write through a symlink that lives inside the image: an absolute
 * link such as etc -> /etc would otherwise make us write on the host.
 */
export async function assertNoSymlinkInPath(mountPoint: string, relative: string, partition: string): Promise<void> {
  const parts = relative.split('/').filter(Boolean);
  let current = mountPoint;
  for (const part of parts) {
    current = path.join(current, part);
    let info;
    try {
      info = await lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // the rest will be created by us
      throw error;
    }
    if (info.isSymbolicLink()) {
      const shown = '/' + path.relative(mountPoint, current);
      throw new DiskFormatError(
        `refusing to write through the symlink ${shown} on ${partition}`,
        'the image has a symlink where flatbake must create a directory; choose another --install-to directory',
      );
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** Bytes free for new files on a mounted filesystem. */
async function freeBytes(mountPoint: string): Promise<number> {
  const info = await statfs(mountPoint);
  return Number(info.bavail) * Number(info.bsize);
}

/**
 * Installs each sysext into the install dir, links it from /etc/extensions on
 * ROOT and installs its sysupdate config, all owned by root. Space is checked
 * first so a full partition fails before anything is written.
 */
export async function injectSysexts(
  priv: Privileged,
  mounts: MountedPartitions,
  target: InstallTarget,
  sysexts: readonly SysextToInject[],
): Promise<InjectedSysext[]> {
  const targetMount = target.partition === 'root' ? mounts.root : mounts.oem;
  if (!targetMount) throw new Error('internal: the OEM partition must be mounted for oem: installs');
  const partitionLabel = target.partition === 'root' ? 'ROOT' : 'OEM';

  const needed = sysexts.reduce((sum, s) => sum + s.size, 0);
  // Headroom for directories, symlinks and metadata.
  const available = await freeBytes(targetMount);
  if (needed + 1024 * 1024 > available) {
    throw new InputError(
      `not enough space on ${partitionLabel}: the sysexts need ${needed} bytes, ${available} are free`,
      target.partition === 'oem' ? 'install to root:/opt/extensions/ instead' : 'bake fewer or smaller sysexts',
    );
  }

  const installDirRel = target.dir.replace(/^\/+/, '');
  await assertNoSymlinkInPath(targetMount, installDirRel, partitionLabel);
  await assertNoSymlinkInPath(mounts.root, 'etc/extensions', 'ROOT');
  for (const sysext of sysexts) {
    if (sysext.sysupdateConf) await assertNoSymlinkInPath(mounts.root, `etc/sysupdate.${sysext.name}.d`, 'ROOT');
  }

  const installDir = path.join(targetMount, installDirRel);
  await priv.run('install', ['-d', '-m', '0755', '-o', '0', '-g', '0', installDir], { purpose: `create ${target.dir} on ${partitionLabel}` });
  const extensionsDir = path.join(mounts.root, 'etc/extensions');
  await priv.run('install', ['-d', '-m', '0755', '-o', '0', '-g', '0', extensionsDir], { purpose: 'create /etc/extensions on ROOT' });

  const results: InjectedSysext[] = [];
  for (const sysext of sysexts) {
    const destination = path.join(installDir, sysext.fileName);
    await assertNoSymlinkInPath(targetMount, path.posix.join(installDirRel, sysext.fileName), partitionLabel);
    await priv.run('install', ['-m', '0644', '-o', '0', '-g', '0', sysext.source, destination], {
      purpose: `copy ${sysext.fileName} to ${partitionLabel}`,
    });
    const bootedPath = path.posix.join(target.bootedDir, sysext.fileName);
    const symlink = `/etc/extensions/${sysext.name}.raw`;
    const linkPath = path.join(mounts.root, symlink);
    const replaced = await exists(linkPath);
    // -n: replace an existing link itself, never follow it
    await priv.run('ln', ['-sfn', bootedPath, linkPath], { purpose: `link ${symlink}` });
    await priv.run('chown', ['-h', '0:0', linkPath], { purpose: `own ${symlink}` });
    let sysupdateConf: string | undefined;
    if (sysext.sysupdateConf) {
      sysupdateConf = `/etc/sysupdate.${sysext.name}.d/${sysext.name}.conf`;
      const confDir = path.join(mounts.root, path.posix.dirname(sysupdateConf));
      await priv.run('install', ['-d', '-m', '0755', '-o', '0', '-g', '0', confDir], { purpose: `create ${path.posix.dirname(sysupdateConf)}` });
      await priv.run('install', ['-m', '0644', '-o', '0', '-g', '0', sysext.sysupdateConf, path.join(mounts.root, sysupdateConf)], {
        purpose: `install ${sysupdateConf}`,
      });
    }
    results.push({
      name: sysext.name,
      fileName: sysext.fileName,
      installedTo: `${target.partition}:${path.posix.join(target.dir, sysext.fileName)}`,
      bootedPath,
      symlink,
      sysupdateConf,
      replaced,
    });
  }
  return results;
}
