/**
 * The helpers a recipe's install() works with. Every destination is relative to the staging
 * root and must stay under usr/ or opt/ (all a sysext can hold); sources come from the
 * downloads or their unpacked trees.
 */
import { chmod, copyFile, cp, lstat, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { run, type RunOptions, type RunResult } from '../util/exec.js';
import type { Reporter } from '../util/report.js';
import { installUnit, SYSTEM_UNIT_DIR, upholdsDropIn } from '../sysext/units.js';
import { extractArchive, extractDeb } from './archive.js';
import type { ArchiveKind, RecipeInput } from './recipe.js';

export interface RecipeContext extends RecipeInput {
  /** The staging root: what ends up in the image. */
  root: string;
  /** A scratch directory for builds and unpacking; not part of the image. */
  work: string;
  report: Reporter;
  signal: AbortSignal | undefined;
  /** The downloaded file of download ID. */
  file(id: string): string;
  /** The unpacked tree of download ID (downloads with `extract` other than `none`). */
  dir(id: string): string;
  /** An existing path inside an unpacked tree; a clear error if the upstream moved it. */
  source(id: string, rel: string): Promise<string>;
  /** Copy a file to DEST (relative to the root) with MODE. */
  installFile(src: string, dest: string, mode: number): Promise<void>;
  /** Copy a directory tree to DEST, keeping modes and symlinks. */
  installTree(src: string, dest: string): Promise<void>;
  writeFile(dest: string, content: string, mode?: number): Promise<void>;
  symlink(target: string, dest: string): Promise<void>;
  remove(dest: string): Promise<void>;
  /** usr/lib/systemd/system/NAME. */
  unit(name: string, content: string): Promise<void>;
  /** usr/lib/systemd/system/UNIT.d/FILE. */
  unitDropIn(unit: string, file: string, content: string): Promise<void>;
  /** Start UNIT whenever TARGET is active (Upholds= drop-in). */
  upholds(target: string, unit: string): Promise<void>;
  /** Unpack an archive of KIND into DEST (an absolute scratch path or a root-relative one). */
  extract(archive: string, kind: Exclude<ArchiveKind, 'none'>, dest: string): Promise<void>;
  extractDeb(deb: string, dest: string): Promise<void>;
  /** Run a host program (builds); goes through the project's one runner. */
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** True if the root-relative path exists. */
  exists(dest: string): Promise<boolean>;
}

/** DEST as an absolute path under ROOT; refuses anything a sysext cannot hold. Pure. */
export function resolveDestination(root: string, dest: string): string {
  const clean = path.posix.normalize(dest);
  if (dest.startsWith('/') || clean.startsWith('..') || clean.split('/').includes('..')) {
    throw new Error(`recipe destination "${dest}" must be a relative path inside the image`);
  }
  const top = clean.split('/')[0];
  if (top !== 'usr' && top !== 'opt') throw new Error(`recipe destination "${dest}" is outside usr/ and opt/, which is all a sysext can hold`);
  return path.join(root, clean);
}

export interface ContextFiles {
  files: ReadonlyMap<string, string>;
  dirs: ReadonlyMap<string, string>;
}

export function makeContext(input: RecipeInput, root: string, work: string, fetched: ContextFiles, report: Reporter, signal: AbortSignal | undefined): RecipeContext {
  const dest = (rel: string) => resolveDestination(root, rel);
  /** Absolute paths are scratch paths and must be inside WORK; relative ones are root-relative. */
  const target = (p: string) => {
    if (!path.isAbsolute(p)) return dest(p);
    const rel = path.relative(work, p);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`recipe scratch path ${p} is outside the work directory`);
    return p;
  };
  const file = (id: string) => {
    const f = fetched.files.get(id);
    if (f === undefined) throw new Error(`recipe has no download "${id}"`);
    return f;
  };
  const dir = (id: string) => {
    const d = fetched.dirs.get(id);
    if (d === undefined) throw new Error(`download "${id}" was not unpacked (set extract on it)`);
    return d;
  };
  return {
    ...input,
    root,
    work,
    report,
    signal,
    file,
    dir,
    async source(id, rel) {
      const base = dir(id);
      const p = path.join(base, rel);
      if (path.relative(base, p).startsWith('..')) throw new Error(`source path ${rel} leaves the unpacked tree`);
      if (!(await lstat(p).catch(() => undefined))) {
        const have = (await readdir(path.dirname(p)).catch(() => [] as string[])).slice(0, 20).join(', ');
        throw new InputError(
          `the upstream archive of "${id}" has no ${rel}${have ? ` (its ${path.dirname(rel)}/ holds: ${have})` : ''}`,
          'the upstream layout changed for this version, or the version is wrong; the recipe needs an update',
        );
      }
      return p;
    },
    async installFile(src, to, mode) {
      const p = dest(to);
      await mkdir(path.dirname(p), { recursive: true });
      await rm(p, { force: true });
      await copyFile(src, p);
      await chmod(p, mode);
    },
    async installTree(src, to) {
      const p = dest(to);
      await mkdir(p, { recursive: true });
      // verbatimSymlinks: keep library links (libfoo.so -> libfoo.so.1) exactly as upstream made them.
      await cp(src, p, { recursive: true, verbatimSymlinks: true, preserveTimestamps: false, force: true });
    },
    async writeFile(to, content, mode = 0o644) {
      const p = dest(to);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, content.endsWith('\n') ? content : `${content}\n`);
      await chmod(p, mode);
    },
    async symlink(linkTarget, to) {
      const p = dest(to);
      await mkdir(path.dirname(p), { recursive: true });
      await rm(p, { force: true });
      await symlink(linkTarget, p);
    },
    async remove(to) {
      await rm(dest(to), { recursive: true, force: true });
    },
    async unit(name, content) {
      await installUnit(root, name, content);
    },
    async unitDropIn(unitName, fileName, content) {
      if (!/^[A-Za-z0-9:_.@-]+$/.test(unitName) || !/^[A-Za-z0-9_.@-]+\.conf$/.test(fileName)) throw new Error(`bad drop-in ${unitName}.d/${fileName}`);
      const rel = `${SYSTEM_UNIT_DIR}/${unitName}.d/${fileName}`;
      const p = dest(rel);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, content.endsWith('\n') ? content : `${content}\n`, { mode: 0o644 });
    },
    async upholds(targetUnit, unitName) {
      await upholdsDropIn(root, targetUnit, unitName);
    },
    async extract(archive, kind, to) {
      await extractArchive(archive, kind, target(to), signal);
    },
    async extractDeb(deb, to) {
      await extractDeb(deb, target(to), path.join(work, '.deb-scratch'), signal);
    },
    run(fileName, args, options = {}) {
      return run(fileName, args, { signal, ...options });
    },
    async exists(rel) {
      return (await lstat(dest(rel)).catch(() => undefined)) !== undefined;
    },
  };
}
