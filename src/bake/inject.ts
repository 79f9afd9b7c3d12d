import path from 'node:path';
import { InputError } from '../errors.js';
import type { PartitionEditor } from '../image/offline/editor.js';
import { transferPath } from '../sysupdate/wiring.js';
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
  /** Where it goes: --install-to, or where its transfer's Target looks (see placeSysexts). */
  place: InstallTarget;
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
 * Installs each sysext into its place, links it from /etc/extensions on ROOT and installs its
 * sysupdate config, all owned by root, through the partition editors (mounted or offline: the
 * result is the same). Space is checked first so a full partition fails before anything is
 * written.
 */
export async function injectSysexts(editors: PartitionEditors, sysexts: readonly SysextToInject[]): Promise<InjectedSysext[]> {
  const editorFor = (place: InstallTarget) => {
    const editor = place.partition === 'root' ? editors.root : editors.oem;
    if (!editor) throw new Error('internal: the OEM partition must be open for sysexts placed on OEM');
    return editor;
  };
  for (const partition of ['root', 'oem'] as const) {
    const here = sysexts.filter((s) => s.place.partition === partition);
    if (here.length === 0) continue;
    const needed = here.reduce((sum, s) => sum + s.size, 0);
    // Headroom for directories, symlinks and metadata.
    const available = await editorFor(here[0]!.place).freeBytes();
    if (needed + 1024 * 1024 > available) {
      throw new InputError(
        `not enough space on ${partition === 'root' ? 'ROOT' : 'OEM'}: the sysexts need ${needed} bytes, ${available} are free`,
        partition === 'oem' ? 'install to root:/opt/extensions/ instead' : 'bake fewer or smaller sysexts',
      );
    }
  }

  await editors.root.mkdirp('/etc/extensions', 0o755);
  const results: InjectedSysext[] = [];
  for (const sysext of sysexts) {
    const { place } = sysext;
    const editor = editorFor(place);
    await editor.mkdirp(place.dir, 0o755);
    const inPartition = path.posix.join(place.dir, sysext.fileName);
    await editor.writeFile(inPartition, sysext.source, { mode: 0o644 });
    const bootedPath = path.posix.join(place.bootedDir, sysext.fileName);
    const symlink = `/etc/extensions/${sysext.name}.raw`;
    const replaced = (await editors.root.lstat(symlink)) !== undefined;
    await editors.root.symlink(symlink, bootedPath);
    let sysupdateConf: string | undefined;
    if (sysext.sysupdateConf) {
      sysupdateConf = transferPath(sysext.name);
      await editors.root.mkdirp(path.posix.dirname(sysupdateConf), 0o755);
      await editors.root.writeFile(sysupdateConf, sysext.sysupdateConf, { mode: 0o644 });
    }
    results.push({
      name: sysext.name,
      fileName: sysext.fileName,
      installedTo: `${place.partition}:${inPartition}`,
      bootedPath,
      symlink,
      sysupdateConf,
      replaced,
    });
  }
  return results;
}
