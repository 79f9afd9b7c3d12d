import path from 'node:path';
import { InputError } from '../errors.js';
import type { PartitionEditor } from '../image/offline/editor.js';
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

export interface PartitionEditors {
  root: PartitionEditor;
  /** Only needed for `oem:` installs. */
  oem?: PartitionEditor;
}

/**
 * Installs each sysext into the install dir, links it from /etc/extensions on ROOT and
 * installs its sysupdate config, all owned by root, through the partition editors (mounted or
 * offline: the result is the same). Space is checked first so a full partition fails before
 * anything is written.
 */
export async function injectSysexts(editors: PartitionEditors, target: InstallTarget, sysexts: readonly SysextToInject[]): Promise<InjectedSysext[]> {
  const editor = target.partition === 'root' ? editors.root : editors.oem;
  if (!editor) throw new Error('internal: the OEM partition must be open for oem: installs');
  const partitionLabel = target.partition === 'root' ? 'ROOT' : 'OEM';

  const needed = sysexts.reduce((sum, s) => sum + s.size, 0);
  // Headroom for directories, symlinks and metadata.
  const available = await editor.freeBytes();
  if (needed + 1024 * 1024 > available) {
    throw new InputError(
      `not enough space on ${partitionLabel}: the sysexts need ${needed} bytes, ${available} are free`,
      target.partition === 'oem' ? 'install to root:/opt/extensions/ instead' : 'bake fewer or smaller sysexts',
    );
  }

  await editor.mkdirp(target.dir, 0o755);
  await editors.root.mkdirp('/etc/extensions', 0o755);
  const results: InjectedSysext[] = [];
  for (const sysext of sysexts) {
    const inPartition = path.posix.join(target.dir, sysext.fileName);
    await editor.writeFile(inPartition, sysext.source, { mode: 0o644 });
    const bootedPath = path.posix.join(target.bootedDir, sysext.fileName);
    const symlink = `/etc/extensions/${sysext.name}.raw`;
    const replaced = (await editors.root.lstat(symlink)) !== undefined;
    await editors.root.symlink(symlink, bootedPath);
    let sysupdateConf: string | undefined;
    if (sysext.sysupdateConf) {
      sysupdateConf = `/etc/sysupdate.${sysext.name}.d/${sysext.name}.conf`;
      await editors.root.mkdirp(path.posix.dirname(sysupdateConf), 0o755);
      await editors.root.writeFile(sysupdateConf, sysext.sysupdateConf, { mode: 0o644 });
    }
    results.push({
      name: sysext.name,
      fileName: sysext.fileName,
      installedTo: `${target.partition}:${inPartition}`,
      bootedPath,
      symlink,
      sysupdateConf,
      replaced,
    });
  }
  await editor.commit();
  if (editor !== editors.root) await editors.root.commit();
  return results;
}
