/**
 * `flatbake flix`: lift binaries out of a root file system (another distribution's) into a
 * sysext, together with the exact shared libraries and dynamic loader they use in that rootfs.
 *
 * The libraries go to a private directory, /usr/lib/flix-NAME, and each binary is patched to use
 * the loader copied there (PT_INTERP) and to search that directory first (DT_RPATH, which unlike
 * DT_RUNPATH also covers the libraries' own dependencies and dlopen()). Binaries and libraries
 * are also marked DF_1_NODEFLIB, so a library missing from the extension fails loudly instead of
 * being taken from the host's /usr/lib64, whose glibc may not match.
 *
 * Pipeline: parse specs -> resolve binaries in the rootfs -> resolve libraries -> stage copies ->
 * patch with patchelf -> copy resources and units -> createSysext.
 */
import { chmod, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { CreateSysextResult, SysextFormat } from '../sysext/create.js';
import { validateSysextName } from '../sysext/extension-release.js';
import { installUnit } from '../sysext/units.js';
import { run } from '../util/exec.js';
import { sameElfAbi, type ElfDynamicInfo } from './elf-dynamic.js';
import { readElf, resolveLibraries, type ResolvedLibrary } from './libraries.js';
import { parsePathSpec, refuseDuplicateDestinations, type PathSpec } from './paths.js';
import { hostPath } from './root-path.js';
import { copyRegularFile, copyTree, flatcarArch, packStaged, readRootfsUnit, requireInRoot, requireRootfs } from './stage.js';

export interface FlixOptions {
  /** The root file system tree the binaries come from. */
  rootfs: string;
  /** Sysext name. */
  name: string;
  /** Binaries (or other files) inside the rootfs: `PATH` or `SRC:DEST`. */
  paths: string[];
  /** Libraries the binaries dlopen(): names searched like DT_NEEDED, or in-root paths. */
  extraLibs?: string[];
  /** Folders (or files) copied as they are: `PATH` (under /usr or /opt) or `SRC:DEST`. */
  resources?: string[];
  /** Units of the rootfs, by name or in-root path, copied to usr/lib/systemd/system. */
  units?: string[];
  outputDir: string;
  os?: string;
  /** Default: the binaries' architecture. */
  arch?: string;
  format?: SysextFormat;
  force?: boolean;
}

export interface FlixBinary {
  source: string;
  dest: string;
  /** What was done: patched ELF, static ELF copied, or non-ELF copied. */
  kind: 'patched' | 'static' | 'not-elf';
}

export interface FlixResult {
  sysext: CreateSysextResult;
  /** The private library directory, as the running system sees it. */
  libDir: string;
  /** The loader every patched binary uses (undefined if none needed one). */
  interpreter?: string;
  binaries: FlixBinary[];
  libraries: Array<{ name: string; from: string; dest: string }>;
  /** Things a user should know (files copied without patching, ...). */
  notes: string[];
}

/** The private library directory of a flix extension. */
export function flixLibDir(name: string): string {
  return `/usr/lib/flix-${name}`;
}

/** glibc dlopen()s libgcc_s for thread cancellation and backtraces; ship it whenever the rootfs has it. */
const GLIBC_IMPLICIT_DLOPEN = ['libgcc_s.so.1'];

interface Binary {
  spec: PathSpec;
  real: string;
  info: ElfDynamicInfo | undefined;
}

async function patchelf(file: string, args: string[], what: string): Promise<void> {
  const options = { purpose: `patch ${what}`, hint: 'patchelf rewrites ELF headers; a failure usually means an unusual (packed or hand-made) binary' };
  await run('patchelf', [...args, file], options);
  // A separate run: patchelf 0.14 silently skips --no-default-lib when combined with --set-rpath.
  await run('patchelf', ['--no-default-lib', file], options);
}

function formatMissing(missing: Array<{ name: string; neededBy: string; searched: string[] }>): string {
  return missing.map((m) => `  ${m.name} (needed by ${m.neededBy}; searched ${m.searched.join(', ')})`).join('\n');
}

/** What flixInto() staged: FlixResult without the image, plus the binaries' architecture. */
export interface FlixStaged extends Omit<FlixResult, 'sysext'> {
  /** Flatcar's name of the binaries' architecture (undefined if none is dynamic ELF). */
  arch: string | undefined;
}

/** The inputs of flixInto(): what to take from the rootfs, not how to pack it. */
export type FlixStageOptions = Pick<FlixOptions, 'rootfs' | 'name' | 'paths' | 'extraLibs' | 'resources' | 'units'>;

export async function flix(options: FlixOptions): Promise<FlixResult> {
  return packStaged(options, 'flatbake-flix-', (staging) => flixInto(options, staging));
}

/**
 * Stage the binaries, their libraries and loader, resources and units into STAGING (a sysext
 * tree, created if absent): the whole of flix but the packing, for recipes that pack themselves.
 */
export async function flixInto(options: FlixStageOptions, staging: string): Promise<FlixStaged> {
  const { rootfs, name } = options;
  validateSysextName(name);
  await requireRootfs(rootfs);
  if (options.paths.length === 0) throw new InputError('flix needs at least one binary', 'name binaries as the rootfs sees them, e.g. /usr/bin/jq');
  const specs = options.paths.map((p) => parsePathSpec(p, { defaultDir: '/usr/bin', what: 'binary' }));
  const resources = (options.resources ?? []).map((p) => parsePathSpec(p, { what: 'resource' }));
  refuseDuplicateDestinations([...specs, ...resources], 'files');
  const libDir = flixLibDir(name);
  const notes: string[] = [];

  // Resolve the binaries inside the rootfs (never through the host's symlinks) and read their ELF data.
  const binaries: Binary[] = [];
  for (const spec of specs) {
    const real = await requireInRoot(rootfs, spec.source, 'binary');
    binaries.push({ spec, real, info: await readElf(rootfs, real).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new InputError(`${spec.source} is a directory, not a binary`, 'ship folders with --resources');
      throw err;
    }) });
  }
  const dynamic = binaries.filter((b): b is Binary & { info: ElfDynamicInfo } => b.info !== undefined && (b.info.interpreter !== undefined || b.info.needed.length > 0));
  const first = dynamic[0];
  for (const b of dynamic) {
    if (first && !sameElfAbi(b.info.elf, first.info.elf)) {
      throw new InputError(`${b.spec.source} is a ${b.info.elf.arch} binary but ${first.spec.source} is ${first.info.elf.arch}`, 'one flix extension holds binaries of one architecture');
    }
  }

  // Libraries, recursively, as the loader inside the rootfs would find them.
  const usesGlibc = dynamic.some((b) => /\/ld-linux[-.\w]*\.so\.\d+$/.test(b.info.interpreter ?? ''));
  const implicit = usesGlibc ? GLIBC_IMPLICIT_DLOPEN.filter((n) => !(options.extraLibs ?? []).includes(n)) : [];
  const closure = await resolveLibraries(rootfs, dynamic.map((b) => ({ path: b.real, info: b.info })), [...(options.extraLibs ?? []), ...implicit]);
  // An implicit one absent from the rootfs is no error: glibc needs it only for pthread_cancel and backtraces.
  const missing = closure.missing.filter((m) => !(m.neededBy === '--extra-libs' && implicit.includes(m.name)));
  if (missing.length > 0) {
    throw new InputError(
      `the rootfs ${rootfs} lacks ${missing.length === 1 ? 'a library' : 'libraries'} the binaries need:\n${formatMissing(missing)}`,
      'install the package that provides it in the rootfs, or check its /etc/ld.so.conf; a name given with --extra-libs must exist there too',
    );
  }

  // One file name per library in the private dir; the same name from two places would be ambiguous.
  const byDestName = new Map<string, { realPath: string; from: string; lib?: ResolvedLibrary }>();
  const claim = (destName: string, realPath: string, from: string, lib?: ResolvedLibrary): void => {
    const earlier = byDestName.get(destName);
    if (!earlier) byDestName.set(destName, { realPath, from, lib });
    else if (earlier.realPath !== realPath) throw new InputError(`two different files would be ${libDir}/${destName}: ${earlier.from} and ${from} (in the rootfs)`, 'binaries with different RPATHs need separate flix extensions');
  };
  const interpreters = new Map<string, string>();
  for (const b of dynamic) {
    const interp = b.info.interpreter;
    if (interp === undefined || interpreters.has(interp)) continue;
    const real = await requireInRoot(rootfs, interp, `the ELF interpreter of ${b.spec.source},`);
    claim(path.posix.basename(interp), real, interp);
    interpreters.set(interp, `${libDir}/${path.posix.basename(interp)}`);
  }
  for (const lib of closure.libraries) claim(path.posix.basename(lib.name), lib.realPath, lib.foundAt, lib);
  // Names that are the same file as a shipped library become symlinks to it.
  const aliases = new Map<string, { target: string; requested: string }>();
  for (const lib of closure.libraries) {
    for (const alias of lib.aliases) {
      const aliasName = path.posix.basename(alias);
      if (!byDestName.has(aliasName)) aliases.set(aliasName, { target: path.posix.basename(lib.name), requested: alias });
      else claim(aliasName, lib.realPath, alias);
    }
  }

  // The image's file tree: the private library directory first, binaries, resources, units.
  const stagedLibDir = path.join(staging, libDir);
  await mkdir(stagedLibDir, { recursive: true, mode: 0o755 });

  const libraries: FlixResult['libraries'] = [];
  for (const [destName, entry] of byDestName) {
    const dest = path.join(stagedLibDir, destName);
    const mode = await copyRegularFile(hostPath(rootfs, entry.realPath), dest);
    const lib = entry.lib;
    // The loader was claimed first (entry.lib unset) and is never patched: it must stay as built.
    if (lib && (lib.info.needed.length > 0 || lib.info.rpath || lib.info.runpath)) {
      const replace = lib.info.needed.filter((n) => n.includes('/')).flatMap((n) => ['--replace-needed', n, path.posix.basename(n)]);
      await patchelf(dest, ['--force-rpath', '--set-rpath', '$ORIGIN', ...replace], `${destName} (from ${entry.from})`);
    }
    await chmod(dest, mode);
    libraries.push({ name: lib?.name ?? destName, from: entry.from, dest: `${libDir}/${destName}` });
  }

  for (const [aliasName, { target, requested }] of aliases) {
    await symlink(target, path.join(stagedLibDir, aliasName));
    libraries.push({ name: requested, from: `${libDir}/${target} (same file)`, dest: `${libDir}/${aliasName}` });
  }

  const staged: FlixBinary[] = [];
  for (const b of binaries) {
    const dest = path.join(staging, b.spec.dest);
    const mode = await copyRegularFile(hostPath(rootfs, b.real), dest);
    let kind: FlixBinary['kind'];
    if (!b.info) {
      kind = 'not-elf';
      notes.push(`${b.spec.source} is not an ELF binary (a script?): copied as is; whatever it runs comes from the host`);
    } else if (b.info.interpreter === undefined && b.info.needed.length === 0) {
      kind = 'static';
      notes.push(`${b.spec.source} is statically linked: copied as is`);
    } else {
      kind = 'patched';
      const args = ['--force-rpath', '--set-rpath', libDir];
      const interp = b.info.interpreter !== undefined ? interpreters.get(b.info.interpreter) : undefined;
      if (interp) args.unshift('--set-interpreter', interp);
      for (const n of b.info.needed.filter((x) => x.includes('/'))) args.push('--replace-needed', n, path.posix.basename(n));
      await patchelf(dest, args, b.spec.source);
    }
    await chmod(dest, mode);
    staged.push({ source: b.spec.source, dest: b.spec.dest, kind });
  }

  for (const r of resources) {
    const real = await requireInRoot(rootfs, r.source, 'resource');
    await copyTree(hostPath(rootfs, real), path.join(staging, r.dest), `copy the resource ${r.source}`);
  }
  for (const spec of options.units ?? []) {
    const unit = await readRootfsUnit(rootfs, spec);
    await installUnit(staging, unit.name, unit.text);
  }

  const interpreter = interpreters.size > 0 ? [...interpreters.values()][0] : undefined;
  return { libDir, interpreter, binaries: staged, libraries: libraries.sort((a, b) => a.dest.localeCompare(b.dest)), notes, arch: flatcarArch(first?.info.elf) };
}

