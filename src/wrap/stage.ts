/** Staging helpers shared by flix, flatwrap and convert-torcx: copying out of a rootfs into a sysext tree. */
import { chmod, copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { run } from '../util/exec.js';
import { isUnitName } from '../sysext/units.js';
import type { ElfInfo } from '../sysext/elf.js';
import { hostPath, resolveInRoot } from './root-path.js';
import { normalizeArch } from '../arch.js';
import { createSysext, type CreateSysextResult, type SysextFormat } from '../sysext/create.js';
import { validateSysextName } from '../sysext/extension-release.js';
import { makeTempDir } from '../util/tempdir.js';

/** Throws unless ROOTFS is a directory. */
export async function requireRootfs(rootfs: string): Promise<void> {
  const st = await stat(rootfs).catch(() => undefined);
  if (!st?.isDirectory()) throw new InputError(`rootfs ${rootfs} is not a directory`, 'unpack the root file system first (e.g. `flatbake oci-rootfs`, or `docker export` into a directory)');
}

/** Resolve an in-root path that must exist; the error names the rootfs. */
export async function requireInRoot(rootfs: string, inRootPath: string, what: string): Promise<string> {
  const real = await resolveInRoot(rootfs, inRootPath);
  if (!real) throw new InputError(`${what} ${inRootPath} does not exist in the rootfs ${rootfs}`, 'paths are as the rootfs sees them (e.g. /usr/bin/jq); check the spelling and that the package is installed there');
  return real;
}

/** Copy one regular file to DEST (a host path), creating parents; the mode is kept, made owner-writable for patching. */
export async function copyRegularFile(source: string, dest: string): Promise<number> {
  const st = await stat(source);
  if (!st.isFile()) throw new InputError(`${source} is not a regular file`);
  await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
  await copyFile(source, dest);
  const mode = st.mode & 0o7777;
  await chmod(dest, mode | 0o200);
  return mode;
}

/** Copy a tree (or a file) as it is, symlinks kept verbatim, to exactly DEST. */
export async function copyTree(source: string, dest: string, purpose: string): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
  // -T: DEST is the copy itself, never a directory to copy into; -a keeps modes, symlinks and xattrs.
  await run('cp', ['-a', '-T', '--', source, dest], { purpose });
}

/** Unit directories of a rootfs, in systemd's precedence order. */
const ROOTFS_UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/**
 * Find a unit of the rootfs by name (searched where systemd would) or by in-root path, and
 * return its name and text (aliases followed).
 */
export async function readRootfsUnit(rootfs: string, spec: string): Promise<{ name: string; text: string; from: string }> {
  const candidates = spec.includes('/') ? [spec] : ROOTFS_UNIT_DIRS.map((d) => `${d}/${spec}`);
  const name = path.posix.basename(spec);
  if (!isUnitName(name)) throw new InputError(`"${spec}" does not name a systemd unit`, 'give a unit name such as foo.service, or its path inside the rootfs');
  for (const c of candidates) {
    const real = await resolveInRoot(rootfs, c);
    if (!real) continue;
    const st = await stat(hostPath(rootfs, real)).catch(() => undefined);
    if (!st?.isFile()) continue;
    return { name, text: await readFile(hostPath(rootfs, real), 'utf8'), from: c };
  }
  throw new InputError(`unit ${spec} is not in the rootfs ${rootfs}`, `looked in ${candidates.join(', ')}`);
}

/** ARCHITECTURE= for an extension whose binaries are of ELF kind ELF, if Flatcar runs it. */
export function flatcarArch(elf: ElfInfo | undefined): string | undefined {
  if (!elf) return undefined;
  try {
    return normalizeArch(elf.arch);
  } catch {
    return undefined;
  }
}

/** How flix and flatwrap pack what they staged: the sysext's name, target and image settings. */
export interface PackOptions {
  name: string;
  outputDir: string;
  os?: string;
  arch?: string;
  format?: SysextFormat;
  force?: boolean;
  units?: string[];
}

/**
 * Stage into a temp tree with STAGE, then pack that tree as the sysext image (flix and flatwrap
 * differ only in how they stage). The binaries' architecture STAGE found is the default for
 * `arch`; the manager reloads when units are shipped.
 */
export async function packStaged<T extends object>(
  options: PackOptions,
  tempPrefix: string,
  stage: (staging: string) => Promise<T & { arch?: string | undefined }>,
): Promise<{ sysext: CreateSysextResult } & Omit<T, 'arch'>> {
  validateSysextName(options.name);
  const temp = await makeTempDir(tempPrefix);
  try {
    const staging = path.join(temp.path, 'root');
    const { arch, ...staged } = await stage(staging);
    const sysext = await createSysext({
      sourceDir: staging,
      name: options.name,
      outputDir: options.outputDir,
      os: options.os,
      arch: options.arch ?? arch,
      reload: (options.units ?? []).length > 0,
      format: options.format,
      force: options.force,
    });
    return { sysext, ...(staged as Omit<T, 'arch'>) };
  } finally {
    await temp.remove();
  }
}
