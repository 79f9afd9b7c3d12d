import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { PartitionEditor } from '../backend/editor.js';
import { transferPath } from '../sysupdate/wiring.js';
import type { InstallTarget } from './inputs.js';
import { NoRoomError, spaceNeeded } from './room.js';

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
  // Everything is counted before the first write, as the filesystem spends it: a partition
  // that cannot hold the batch fails with nothing written, never with ENOSPC half-way.
  const confSizes = new Map<string, number>();
  for (const s of sysexts) if (s.sysupdateConf) confSizes.set(s.name, (await stat(s.sysupdateConf)).size);
  for (const partition of ['root', 'oem'] as const) {
    const here = sysexts.filter((s) => s.place.partition === partition);
    // ROOT also holds every /etc/extensions link and sysupdate config, wherever the file lives.
    const linkedOnly = partition === 'root' ? sysexts.filter((s) => s.place.partition !== 'root') : [];
    if (here.length === 0 && linkedOnly.length === 0) continue;
    const editor = partition === 'root' ? editors.root : editorFor(here[0]!.place);
    const dirs = new Set<string>();
    for (const s of here) {
      const parts = s.place.dir.split('/').filter(Boolean);
      parts.forEach((_, i) => dirs.add(parts.slice(0, i + 1).join('/')));
    }
    const conf = (s: SysextToInject) => (partition === 'root' ? confSizes.get(s.name) : undefined);
    const space = await editor.space();
    const need = spaceNeeded([...here.map((s) => ({ size: s.size, confSize: conf(s) })), ...linkedOnly.map((s) => ({ size: 0, confSize: conf(s) }))], {
      blockSize: space.blockSize,
      longestTarget: Math.max(0, ...sysexts.map((s) => path.posix.join(s.place.bootedDir, s.fileName).length)),
      newDirs: dirs.size + (partition === 'root' ? 2 : 0),
    });
    if (need.bytes > space.freeBytes || need.inodes > space.freeInodes) {
      throw new NoRoomError(partition === 'root' ? 'ROOT' : 'OEM', need, space, partition === 'oem' ? 'install to root:/opt/extensions/ instead' : 'bake fewer or smaller sysexts');
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
