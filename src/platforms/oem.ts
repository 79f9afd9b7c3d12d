/**
 * Filling OEM for a vendor: the OEM sysext as /oem/sysext/oem-<id>-<version>.raw,
 * the empty marker /oem/sysext/active-oem-<id>, /oem/oem-release and /oem/grub.cfg.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError, InputError } from '../errors.js';
import { readGptFromFile } from '../gpt/file.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import { mountPartition } from '../image/loop.js';
import type { Privileged } from '../privileged/privileged.js';
import { openBtrfsEditor } from '../image/offline/btrfs.js';
import { parseExtensionRelease, SYSEXT_NAME_PATTERN } from '../sysext/extension-release.js';
import { readSysextFile } from '../sysext/image-reader.js';
import { ResourceScope } from '../util/scope.js';
import { withBtrfsMountLock } from './mount-lock.js';
import { oemReleaseFromExtensionRelease, oemSysextPaths, renderGrubCfg } from './oem-files.js';
import type { OemSpec } from './types.js';
import type { Arch } from '../arch.js';

export interface OemContent {
  grubCfg: string;
  /** Absent when the OEM sysext is left out (--no-oem-sysext). */
  oemRelease?: string;
}

/** Reads the sysext's extension-release and derives what OEM gets; checks it is the right OEM for the right architecture. */
export async function prepareOemContent(oem: OemSpec, sysextFile: string, arch: Arch): Promise<OemContent> {
  const releasePath = `usr/lib/extension-release.d/extension-release.${oem.sysext}`;
  let text: string;
  try {
    text = (await readSysextFile(sysextFile, releasePath)).toString('utf8');
  } catch (err) {
    throw new DiskFormatError(
      `${sysextFile} is not the ${oem.sysext} sysext: cannot read /${releasePath} (${(err as Error).message.split('\n')[0]})`,
      `use the ${oem.sysext}.raw published beside the Flatcar image`,
      { cause: err },
    );
  }
  const fields = parseExtensionRelease(text).fields;
  const sysextArch = fields.ARCHITECTURE;
  if (sysextArch && sysextArch !== arch) {
    throw new DiskFormatError(`${sysextFile} is built for ${sysextArch}, but the image is ${arch}`, `use the ${oem.sysext}.raw of the ${arch} release`);
  }
  return { grubCfg: renderGrubCfg(oem.grub), oemRelease: oemReleaseFromExtensionRelease(text, oem.id) };
}

/** Writes the OEM files into the OEM partition of `image` (mounted read-write through a loop device, then released). */
export async function installOem(
  /** undefined: the offline backend (the OEM btrfs is rebuilt with the files, no mount). */
  priv: Privileged | undefined,
  image: string,
  oem: OemSpec,
  content: OemContent,
  /** Without `sysextFile` (--no-oem-sysext) only grub.cfg is written. */
  options: { sysextFile?: string; version: string; scratchDir: string },
): Promise<{ sysext: string; marker: string }> {
  // The version becomes part of the OEM sysext's file name, so it follows the NAME rule.
  if (!SYSEXT_NAME_PATTERN.test(options.version)) {
    throw new InputError(`'${options.version}' cannot be part of a file name`, 'pass the Flatcar version, e.g. 4459.2.1');
  }
  const files = oemSysextPaths(oem.id, options.version);
  const grubFile = path.join(options.scratchDir, 'grub.cfg');
  const releaseFile = path.join(options.scratchDir, 'oem-release');
  await writeFile(grubFile, content.grubCfg);
  if (content.oemRelease !== undefined) await writeFile(releaseFile, content.oemRelease);
  const table = await readGptFromFile(image);
  const part = locateFlatcarPartition(table, 'OEM');

  if (!priv) {
    const editor = await openBtrfsEditor(image, { offset: part.startByte, size: part.sizeBytes }, { partition: 'OEM' });
    try {
      if (options.sysextFile && content.oemRelease !== undefined) {
        await editor.mkdirp('/sysext', 0o755);
        await editor.writeFile(`/${files.sysext}`, options.sysextFile, { mode: 0o644 });
        const empty = path.join(options.scratchDir, 'empty');
        await writeFile(empty, '');
        await editor.writeFile(`/${files.marker}`, empty, { mode: 0o644 });
        await editor.writeFile('/oem-release', releaseFile, { mode: 0o644 });
      }
      await editor.writeFile('/grub.cfg', grubFile, { mode: 0o644 });
      await editor.commit();
    } finally {
      await editor.close();
    }
    return files;
  }
  return withBtrfsMountLock(async () => {
    const scope = new ResourceScope();
    try {
      const dir = await mountPartition(priv, scope, image, { offset: part.startByte, size: part.sizeBytes }, { fsType: 'btrfs', label: 'OEM' });
      const own = ['-o', '0', '-g', '0'];
      const install = (args: string[], purpose: string) => priv.run('install', [...own, ...args], { purpose, hint: 'is the OEM partition full?' });
      if (options.sysextFile && content.oemRelease !== undefined) {
        await install(['-d', '-m', '0755', path.join(dir, 'sysext')], 'create /oem/sysext');
        await install(['-m', '0644', options.sysextFile, path.join(dir, files.sysext)], `install /oem/${files.sysext}`);
        await install(['-m', '0644', '/dev/null', path.join(dir, files.marker)], `create /oem/${files.marker}`);
        await install(['-m', '0644', releaseFile, path.join(dir, 'oem-release')], 'write /oem/oem-release');
      }
      await install(['-m', '0644', grubFile, path.join(dir, 'grub.cfg')], 'write /oem/grub.cfg');
    } finally {
      await scope.release();
    }
    const failure = scope.releaseFailure();
    if (failure) throw failure;
    return files;
  });
}
