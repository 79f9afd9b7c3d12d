/**
 * Building a release source tarball with the host toolchain, the way the bakery's Alpine build
 * scripts do (configure, make, make install into a scratch DESTDIR), for the recipes whose
 * upstream publishes no binaries. A failed step that shows a missing dependency becomes a
 * MissingToolError naming the Debian packages; a result that is not a static ELF of the target
 * architecture is refused rather than shipped.
 */
import { cpus } from 'node:os';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CommandError, MissingToolError } from '../errors.js';
import type { RecipeContext } from './context.js';
import { findToolchain, missingBuildDependency, staticElfProblem, type Toolchain } from './toolchain.js';

/** Turn a failed build step into MissingToolError when its output shows a missing dependency. */
export function explainBuildFailure(err: unknown, what: string): never {
  if (err instanceof CommandError) {
    const missing = missingBuildDependency(`${err.outputTail}\n${err.message}`);
    if (missing) {
      throw new MissingToolError(`${what} failed: ${missing.what} ${missing.what.startsWith('static') ? 'are' : 'is'} missing`, `install the Debian packages: ${missing.packages.join(' ')}`, { cause: err });
    }
  }
  throw err;
}

export interface SourceBuild {
  /** What is built, for messages (`keepalived`, `libmnl`). */
  label: string;
  /** The unpacked source directory (where configure or the Makefile is). */
  dir: string;
  /** configure's arguments (--host is added when cross-compiling); undefined: no configure step. */
  configure?: readonly string[];
  /** Extra environment (CFLAGS, LDFLAGS, PKG_CONFIG_PATH, ...); CC is the toolchain's. */
  env?: Readonly<Record<string, string>>;
  /** Arguments of `make` (default none) and of `make install` (default `install`). */
  make?: readonly string[];
  install?: readonly string[];
  /** Where `make install` puts its files; undefined: the install arguments say (e.g. prefix=). */
  destdir?: string;
}

/** The toolchain for the recipe's architecture (MissingToolError naming packages when absent). */
export function toolchainFor(ctx: RecipeContext): Promise<Toolchain> {
  return findToolchain(ctx.arch);
}

/** configure (if any), make, make install; steps run in the source directory. */
export async function configureMakeInstall(ctx: RecipeContext, toolchain: Toolchain, build: SourceBuild): Promise<void> {
  const env = { CC: toolchain.cc, ...build.env };
  const step = (what: string) => `${build.label} ${what}`;
  if (build.configure) {
    const args = [...(toolchain.host ? [`--host=${toolchain.host}`] : []), ...build.configure];
    await ctx.run(path.join(build.dir, 'configure'), args, { cwd: build.dir, env, purpose: `configure ${build.label}` }).catch((e: unknown) => explainBuildFailure(e, step('configure')));
  }
  await ctx.run(toolchain.make, [`-j${Math.max(1, cpus().length)}`, ...(build.make ?? [])], { cwd: build.dir, env, purpose: `build ${build.label}` }).catch((e: unknown) => explainBuildFailure(e, step('build')));
  const install = [...(build.install ?? ['install']), ...(build.destdir ? [`DESTDIR=${build.destdir}`] : [])];
  await ctx.run(toolchain.make, install, { cwd: build.dir, env, purpose: `install ${build.label}` });
}

/** Refuse an image without FILE (relative to ROOT) or with one that is not a static ELF for the arch. */
export async function requireStaticProgram(ctx: RecipeContext, label: string, root: string, file: string, hint: string): Promise<void> {
  const head = await readFile(path.join(root, file)).catch(() => undefined);
  if (!head) throw new CommandError(`the ${label} build installed no ${file}; refusing to make an image without it`, 'make install', undefined, '');
  const problem = staticElfProblem(head, ctx.arch);
  if (problem) throw new CommandError(`the ${label} build produced ${file} that is ${problem}; refusing to make an image with it`, 'make', undefined, '', hint);
}

/** A program built from its release tarball into static executables, as bird, chrony, haproxy and keepalived are. */
export interface StaticProgramBuild extends Omit<SourceBuild, 'dir' | 'destdir'> {
  /** A file of the unpacked source in its top directory (`bird-2.15.1/configure`). */
  marker: string;
  /** The programs the image must hold, below the install root (`usr/bin/bird`), each a static ELF. */
  programs: readonly string[];
  /** Said when one is not: which static libraries to check. */
  staticHint: string;
  /** Paths below the install root that stay out of the image (`usr/etc`, `usr/share`). */
  drop?: readonly string[];
  /** Said after the toolchain in the progress line (`(first libmnl and libnftnl, static)`). */
  note?: string;
  /** The toolchain, when the recipe needed it first (haproxy's make arguments name its cc). */
  toolchain?: Toolchain;
  /** Steps after the toolchain is found and before the build (keepalived's static libraries). */
  prepare?: (toolchain: Toolchain) => Promise<void>;
}

/**
 * The whole sequence: the toolchain, configure/make/make install into a scratch DESTDIR, every
 * program checked to be a static ELF of the target, `drop` removed, and the install root's /usr
 * put into the image. The recipe adds its units and files afterwards.
 */
export async function buildStaticPrograms(ctx: RecipeContext, build: StaticProgramBuild): Promise<void> {
  const { marker, programs, staticHint, drop, note, prepare, toolchain: given, ...steps } = build;
  const toolchain = given ?? (await toolchainFor(ctx));
  ctx.report.step('recipe', `building ${build.label} ${ctx.version} for ${ctx.arch} with ${path.basename(toolchain.cc)}${note ? ` ${note}` : ''}`);
  await prepare?.(toolchain);
  const dir = path.dirname(await ctx.source('source', marker));
  const installRoot = path.join(ctx.work, `${build.label}-install`);
  await configureMakeInstall(ctx, toolchain, { ...steps, dir, destdir: installRoot });
  for (const program of programs) await requireStaticProgram(ctx, build.label, installRoot, program, staticHint);
  for (const p of drop ?? []) await rm(path.join(installRoot, p), { recursive: true, force: true });
  await ctx.installTree(path.join(installRoot, 'usr'), 'usr');
}
