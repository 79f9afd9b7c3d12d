/**
 * Filling OEM for a vendor: the OEM sysext as /oem/sysext/oem-<id>-<version>.raw,
 * the empty marker /oem/sysext/active-oem-<id>, /oem/oem-release and /oem/grub.cfg.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '../backend/index.js';
import { DiskFormatError, InputError } from '../errors.js';
import { readGptFromFile } from '../gpt/file.js';
import { parseExtensionRelease, SYSEXT_NAME_PATTERN } from '../sysext/extension-release.js';
import { readSysextFile } from '../sysext/image-reader.js';
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

/** Writes the OEM files into the OEM partition of `image`, through the backend's editor. */
export async function installOem(
  backend: Backend,
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
  const empty = path.join(options.scratchDir, 'empty');
  await writeFile(grubFile, content.grubCfg);
  if (content.oemRelease !== undefined) await writeFile(releaseFile, content.oemRelease);
  await writeFile(empty, '');
  const table = await readGptFromFile(image);
  await backend.withEditors(image, table, { oem: true }, async ({ oem: editor }) => {
    if (options.sysextFile && content.oemRelease !== undefined) {
      await editor!.mkdirp('/sysext', 0o755);
      await editor!.writeFile(`/${files.sysext}`, options.sysextFile, { mode: 0o644 });
      await editor!.writeFile(`/${files.marker}`, empty, { mode: 0o644 });
      await editor!.writeFile('/oem-release', releaseFile, { mode: 0o644 });
    }
    await editor!.writeFile('/grub.cfg', grubFile, { mode: 0o644 });
    await editor!.commit();
  });
  return files;
}
