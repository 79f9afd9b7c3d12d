/**
 * `flatbake flatwrap`: ship a whole root file system in a sysext, under /usr/local/NAME, with an
 * entry-point script in /usr/bin per program that runs it inside that root (see wrapper-script.ts).
 * Unlike flix nothing is patched: the programs run on their own distribution's loader and files.
 *
 * Pipeline: parse specs -> check programs in the rootfs -> copy the rootfs -> make its mount points
 * plain directories -> write wrappers -> rewrite units to call the wrappers -> createSysext.
 */
import { chmod, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { CreateSysextResult, SysextFormat } from '../sysext/create.js';
import { validateSysextName } from '../sysext/extension-release.js';
import { installUnit } from '../sysext/units.js';
import { parsePathSpec, refuseDuplicateDestinations, type PathSpec } from './paths.js';
import { hostPath, resolveInRoot } from './root-path.js';
import { copyTree, packStaged, readRootfsUnit, requireInRoot, requireRootfs } from './stage.js';
import { execPrograms, rewriteExecPrograms } from './unit-rewrite.js';
import { renderWrapper, wrapperMountPoints, wrapperRoot, type DirMap } from './wrapper-script.js';

export interface FlatwrapOptions {
  rootfs: string;
  name: string;
  /** Programs inside the rootfs: `PATH` (wrapper /usr/bin/BASENAME) or `PATH:WRAPPER`. */
  paths: string[];
  /** Units of the rootfs, by name or in-root path; their Exec*= programs are pointed at the wrappers. */
  units?: string[];
  /** /etc seen by the programs: the host's (default) or the rootfs's own. */
  etcMap?: DirMap;
  /** /var: the host's (default, so data persists) or the rootfs's own (read-only). */
  varMap?: DirMap;
  /** /home and /root: the host's (default) or the rootfs's own. */
  homeMap?: DirMap;
  outputDir: string;
  os?: string;
  arch?: string;
  format?: SysextFormat;
  force?: boolean;
}

export interface FlatwrapResult {
  sysext: CreateSysextResult;
  /** Where the rootfs lives on the running system. */
  root: string;
  wrappers: Array<{ program: string; wrapper: string }>;
  changed: string[];
  leftAlone: string[];
}

function parseProgramSpec(spec: string, root: string): PathSpec {
  const parsed = parsePathSpec(spec, { defaultDir: '/usr/bin', what: 'program' });
  // Without an explicit destination the wrapper is always /usr/bin/NAME, wherever the program lives.
  const result = spec.includes(':') ? parsed : { source: parsed.source, dest: `/usr/bin/${path.posix.basename(parsed.source)}` };
  if (result.dest === root || result.dest.startsWith(`${root}/`)) throw new InputError(`wrapper ${result.dest} would be inside the shipped rootfs ${root}`);
  return result;
}

/** Make each mount point a plain empty directory in the staged root; bind mounts need one and the image is read-only. */
async function prepareMountPoints(stagedRoot: string, mountPoints: string[], changed: string[]): Promise<void> {
  for (const mp of mountPoints) {
    const p = path.join(stagedRoot, mp);
    const st = await lstat(p).catch(() => undefined);
    if (st && !st.isDirectory()) {
      await rm(p, { force: true });
      changed.push(`${mp} in the rootfs was not a directory; made one (it is a mount point)`);
    }
    await mkdir(p, { recursive: true, mode: 0o755 });
    // Host contents are mounted over these; what the rootfs had there (device nodes, stale files) only takes room.
    if (['/dev', '/proc', '/sys', '/run', '/tmp'].includes(mp)) {
      for (const child of await readdir(p)) await rm(path.join(p, child), { recursive: true, force: true });
    }
  }
}

/** The inputs of flatwrapInto(): what to wrap, not how to pack it. */
export type FlatwrapStageOptions = Pick<FlatwrapOptions, 'rootfs' | 'name' | 'paths' | 'units' | 'etcMap' | 'varMap' | 'homeMap'>;

export async function flatwrap(options: FlatwrapOptions): Promise<FlatwrapResult> {
  return packStaged(options, 'flatbake-flatwrap-', (staging) => flatwrapInto(options, staging));
}

/**
 * Stage the rootfs under /usr/local/NAME, the wrappers and rewritten units into STAGING (a
 * sysext tree): the whole of flatwrap but the packing, for recipes that pack themselves.
 */
export async function flatwrapInto(options: FlatwrapStageOptions, staging: string): Promise<Omit<FlatwrapResult, 'sysext'>> {
  const { rootfs, name } = options;
  validateSysextName(name);
  await requireRootfs(rootfs);
  if (options.paths.length === 0) throw new InputError('flatwrap needs at least one program', 'name programs as the rootfs sees them, e.g. /usr/bin/jq');
  const maps = { etcMap: options.etcMap ?? 'host', varMap: options.varMap ?? 'host', homeMap: options.homeMap ?? 'host' } as const;
  for (const [key, value] of Object.entries(maps)) {
    if (value !== 'host' && value !== 'chroot') throw new InputError(`${key} must be "host" or "chroot", not "${String(value)}"`);
  }
  const root = wrapperRoot(name);
  const specs = options.paths.map((p) => parseProgramSpec(p, root));
  refuseDuplicateDestinations(specs, 'programs');

  // Programs are found as the chrooted process will find them; the wrapper execs the path as given.
  const programs: Array<{ spec: PathSpec; real: string }> = [];
  for (const spec of specs) {
    const real = await requireInRoot(rootfs, spec.source, 'program');
    const st = await lstat(hostPath(rootfs, real));
    if (!st.isFile()) throw new InputError(`program ${spec.source} is not a regular file in the rootfs`);
    if ((st.mode & 0o111) === 0) throw new InputError(`program ${spec.source} is not executable in the rootfs`);
    programs.push({ spec, real });
  }

  const changed: string[] = [];
  const leftAlone: string[] = [];
  if (maps.etcMap === 'host' && (await resolveInRoot(rootfs, '/etc/ld.so.cache'))) {
    // The loader reads /etc/ld.so.cache, and the host's hides the rootfs's one.
    leftAlone.push('/etc/ld.so.cache: with the host\'s /etc the programs see the host\'s cache, so libraries outside the default directories of the rootfs may not be found; use etcMap chroot if they fail to start');
  }
  const stagedRoot = path.join(staging, root);
  await copyTree(rootfs, stagedRoot, `copy the rootfs ${rootfs}`);
  await chmod(stagedRoot, 0o755);
  await prepareMountPoints(stagedRoot, wrapperMountPoints(maps), changed);

  const wrappers: FlatwrapResult['wrappers'] = [];
  for (const { spec } of programs) {
    const dest = path.join(staging, spec.dest);
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
    await writeFile(dest, renderWrapper({ name, program: spec.source, ...maps }), { mode: 0o755 });
    wrappers.push({ program: spec.source, wrapper: spec.dest });
  }

  for (const unitSpec of options.units ?? []) {
    const unit = await readRootfsUnit(rootfs, unitSpec);
    // Map each Exec program that resolves (inside the root) to a wrapped program onto its wrapper.
    const replacements = new Map<string, string>();
    for (const program of new Set(execPrograms(unit.text))) {
      if (!program.startsWith('/')) continue;
      const real = await resolveInRoot(rootfs, program).catch(() => undefined);
      const match = programs.find((p) => p.real === real || p.spec.source === program);
      if (match) replacements.set(program, match.spec.dest);
    }
    const rewritten = rewriteExecPrograms(unit.text, replacements);
    changed.push(...rewritten.changed.map((c) => `${unit.name}: ${c}`));
    leftAlone.push(...rewritten.leftAlone.map((c) => `${unit.name}: ${c}`));
    await installUnit(staging, unit.name, rewritten.text);
  }
  return { root, wrappers, changed, leftAlone };
}

