import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { SYSEXT_NAME_PATTERN } from '../sysext/extension-release.js';

export interface SysextArg {
  name: string;
  /** A local path, or with --fetch a file name in the bakery. */
  file: string;
}

/** Parses `NAME:FILE` arguments and refuses bad or duplicate names before anything is touched. */
export function parseSysextArgs(args: readonly string[], options: { fetch: boolean }): SysextArg[] {
  if (args.length === 0) {
    throw new UsageError('no sysexts given', 'name at least one NAME:FILE, e.g. `flatbake --fetch wasmtime:wasmtime-24.0.0-x86-64.raw`');
  }
  const seen = new Set<string>();
  // Every sysext lands in one install dir under its file name: two with one name would be one file.
  const byFileName = new Map<string, string>();
  return args.map((arg) => {
    const colon = arg.indexOf(':');
    if (colon <= 0 || colon === arg.length - 1) {
      throw new UsageError(`'${arg}' is not NAME:FILE`, 'write each sysext as NAME:FILE, e.g. wasmtime:wasmtime-24.0.0-x86-64.raw');
    }
    const name = arg.slice(0, colon);
    const file = arg.slice(colon + 1);
    if (!SYSEXT_NAME_PATTERN.test(name) || name === '.' || name === '..') {
      throw new UsageError(`bad sysext name '${name}'`, 'a NAME starts with a letter or digit and holds only letters, digits and _ . + -');
    }
    if (seen.has(name)) throw new UsageError(`sysext name '${name}' is given twice`, 'each NAME may appear once per run');
    seen.add(name);
    if (options.fetch && (!SYSEXT_NAME_PATTERN.test(file) || file === '.' || file === '..')) {
      throw new UsageError(`bad file name '${file}' for --fetch`, 'with --fetch, FILE is a plain file name in the bakery (no `/`, no `..`)');
    }
    if (file.includes('\0')) throw new UsageError(`bad file name for sysext '${name}'`);
    const fileName = path.basename(file);
    const other = byFileName.get(fileName);
    if (other !== undefined) {
      throw new UsageError(
        `sysexts '${other}' and '${name}' have the same file name ${fileName}: both would be installed as one file`,
        'rename one of the files (the file name is what lands in the install dir)',
      );
    }
    byFileName.set(fileName, name);
    return { name, file };
  });
}

export type PartitionName = 'root' | 'oem';

export interface InstallTarget {
  partition: PartitionName;
  /** Absolute, normalised directory inside the partition, no trailing slash ('/' for the top). */
  dir: string;
  /** Where the running system sees that directory (`/oem/...` for the OEM partition). */
  bootedDir: string;
}

/** Parses `--install-to part:dir` (`root` or `oem`, then an absolute directory). */
export function parseInstallTarget(value: string): InstallTarget {
  const colon = value.indexOf(':');
  const partition = colon === -1 ? value : value.slice(0, colon);
  const dir = colon === -1 ? '' : value.slice(colon + 1);
  if (partition !== 'root' && partition !== 'oem') {
    throw new UsageError(`unsupported partition '${partition}' in --install-to`, "use root:/DIR or oem:/DIR, e.g. root:/opt/extensions/");
  }
  if (!dir.startsWith('/')) {
    throw new UsageError(`--install-to needs an absolute directory after '${partition}:'`, `e.g. ${partition}:/opt/extensions/`);
  }
  if (dir.split('/').some((part) => part === '..' || part === '.')) {
    throw new UsageError(`--install-to directory '${dir}' contains '.' or '..'`, 'give a plain absolute path');
  }
  if (/[\0\n]/.test(dir)) throw new UsageError('--install-to directory contains a control character');
  const normalized = path.posix.normalize(dir).replace(/\/+$/, '') || '/';
  const bootedDir = partition === 'oem' ? path.posix.join('/oem', normalized).replace(/\/+$/, '') : normalized;
  return { partition, dir: normalized, bootedDir };
}

/** `--oem-sysext` files by OEM id: `oem-<id>.raw` (or `oem-<id>-<version>.raw`). */
export function oemSysextsByName(files: readonly string[]): Map<string, string> {
  const byId = new Map<string, string>();
  for (const file of files) {
    const m = /^oem-([a-z0-9][a-z0-9_]*)(?:-[0-9][^/]*)?\.raw$/.exec(path.basename(file));
    if (!m) {
      throw new InputError(`--oem-sysext ${file}: the name must be oem-<id>.raw`, 'name it as Flatcar publishes it beside the image, e.g. oem-azure.raw');
    }
    byId.set(m[1]!, path.resolve(file));
  }
  return byId;
}
