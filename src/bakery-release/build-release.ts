/**
 * A bakery release, top to bottom:
 * versions (file, --discover) -> plan (image per version and arch) -> previous release ->
 * carry what it has, build the rest (in parallel) -> transfers, noop.conf -> SHA256SUMS -> Release.md.
 *
 * Nothing appears in the output under a final name until it is complete, and the index files
 * (SHA256SUMS, Release.md) only once every image is there: a release directory that has them is
 * whole. Images made before a failure are kept (in the output and the build cache), so rerunning
 * the same command builds only what is missing.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import type { Cache } from '../cache/cache.js';
import { FlatbakeError, InputError } from '../errors.js';
import { formatBytes } from '../net/progress.js';
import { buildRecipe, getRecipe, listRecipes, recipeFileName } from '../recipes/index.js';
import type { Reporter } from '../util/report.js';
import { discoverVersions } from './discover.js';
import { carryImage, openPreviousRelease } from './previous.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatSha256Sums, renderReleaseNotes, type ReleaseImage } from './release-files.js';
import { checkBaseUrl, DEFAULT_BASE_URL, NOOP_TRANSFER_FILE, noopTransfer, sysupdateTransfer, transfersFor, type TransferSpec } from './sysupdate.js';
import { mergeVersionEntries, parseVersionsFile, type VersionEntry } from './versions-file.js';
import { normalizeArch, type Arch } from '../arch.js';

export const DEFAULT_ARCHES: readonly Arch[] = ['x86-64', 'arm64'];
export const SHA256SUMS_FILE = 'SHA256SUMS';
export const RELEASE_NOTES_FILE = 'Release.md';

export interface BuildReleaseOptions {
  /** A versions file in the bakery's format. */
  versionsFile?: string;
  /** Entries given directly (after the file's; repeats are dropped). */
  versions?: readonly VersionEntry[];
  /** Add the newest release of each supported Kubernetes minor for kubernetes, k3s, crio and rke2. */
  discover?: boolean;
  outputDir: string;
  /** An earlier release (directory or URL with a SHA256SUMS) whose images are carried over. */
  previous?: string;
  /** Default: x86-64 and arm64. Aliases accepted. */
  arches?: readonly string[];
  /** Images made at the same time; default: the number of CPUs. */
  jobs?: number;
  /** The URL the release will be published at: the transfers' `Path=`. */
  baseUrl?: string;
  mirror?: string;
  cache: Cache;
  report: Reporter;
  signal?: AbortSignal;
  /** Download retries (tests lower it). */
  retries?: number;
  sourceDateEpoch?: number;
  /** For --discover: minors past their end of life at this time are left out. Default: now. */
  now?: Date;
  /** For --discover: where the Kubernetes release schedule is read from. */
  scheduleUrl?: string;
}

export interface BuiltImage extends ReleaseImage {
  path: string;
  /** The image came from the build cache (an earlier run made it). */
  cached: boolean;
}

export interface CarriedImage extends ReleaseImage {
  path: string;
  /** The previous release's file or URL. */
  from: string;
}

export interface SkippedImage {
  recipe: string;
  version: string;
  arch: Arch;
  reason: string;
}

export interface BuildReleaseResult {
  outputDir: string;
  versions: VersionEntry[];
  built: BuiltImage[];
  carried: CarriedImage[];
  skipped: SkippedImage[];
  transfers: TransferSpec[];
  /** Every file of the release (names in outputDir), sorted. */
  files: string[];
}

export interface ImageFailure {
  name: string;
  recipe: string;
  version: string;
  arch: Arch;
  action: 'build' | 'carry';
  error: unknown;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeFailure(f: ImageFailure): string {
  return `could not ${f.action === 'build' ? 'build' : 'carry over'} ${f.recipe} ${f.version} for ${f.arch}`;
}

/** Some images could not be made; the others are kept for the rerun. */
export class ReleaseBuildError extends FlatbakeError {
  constructor(
    readonly failures: readonly ImageFailure[],
    readonly completed: number,
    outputDir: string,
    cacheEnabled: boolean,
  ) {
    const [first, ...rest] = failures;
    const head = `${describeFailure(first!)}${rest.length > 0 ? ` (and ${rest.length} more)` : ''}: ${messageOf(first!.error).split('\n')[0]}`;
    const details = rest.map((f) => `${describeFailure(f)}: ${messageOf(f.error).split('\n')[0]}`);
    super(
      [head, ...details].join('\n'),
      cacheEnabled
        ? `the ${completed} image(s) made are kept in ${outputDir} and the cache: fix the cause and rerun the same command, only the missing images are made; SHA256SUMS and Release.md are written once all are there`
        : `the ${completed} image(s) made are kept in ${outputDir}; a rerun reuses the carried ones there but, without a cache, builds the built ones again; SHA256SUMS and Release.md are written once all are there`,
      { cause: first!.error },
    );
  }
}

interface PlannedImage {
  name: string;
  recipe: string;
  version: string;
  arch: Arch;
}

function normalizeArches(values: readonly string[]): Arch[] {
  const arches = [...new Set(values.map((a) => normalizeArch(a)))];
  if (arches.length === 0) throw new InputError('no architecture given', 'use --arch x86-64,arm64');
  return arches;
}

/** A recipe build's progress lines, prefixed with the image they are about. */
function prefixedReporter(report: Reporter, name: string): Reporter {
  return { step: (stage, text) => report.step(stage, `${name}: ${text}`), warn: (text) => report.warn(`${name}: ${text}`), result: report.result, progress: report.progress };
}

async function readVersions(options: BuildReleaseOptions): Promise<VersionEntry[]> {
  let versions: VersionEntry[] = [];
  if (options.versionsFile !== undefined) {
    const file = options.versionsFile;
    const text = await readFile(file, 'utf8').catch((err: unknown) => {
      throw new InputError(`cannot read the versions file ${file}: ${(err as { code?: string }).code ?? messageOf(err)}`);
    });
    versions = parseVersionsFile(text, listRecipes(), file);
  }
  if (options.versions !== undefined) versions = mergeVersionEntries(versions, options.versions);
  if (options.discover) {
    const found = await discoverVersions({ report: options.report, mirror: options.mirror, signal: options.signal, retries: options.retries, now: options.now, scheduleUrl: options.scheduleUrl });
    versions = mergeVersionEntries(versions, found.entries);
  }
  if (versions.length === 0) throw new InputError('the release has no images', 'give a versions file with <recipe>-<version> lines, or --discover');
  return versions;
}

export async function buildRelease(options: BuildReleaseOptions): Promise<BuildReleaseResult> {
  const { report, cache, signal } = options;
  const outputDir = path.resolve(options.outputDir);
  const baseUrl = checkBaseUrl(options.baseUrl ?? DEFAULT_BASE_URL);
  const arches = normalizeArches(options.arches ?? DEFAULT_ARCHES);
  const jobs = options.jobs ?? availableParallelism();
  if (!Number.isInteger(jobs) || jobs < 1) throw new InputError(`--jobs must be a positive integer, got ${jobs}`);
  const fetchOptions = { mirror: options.mirror, signal, retries: options.retries };

  const versions = await readVersions(options);
  const plan: PlannedImage[] = [];
  const skipped: SkippedImage[] = [];
  for (const v of versions) {
    const recipe = getRecipe(v.recipe);
    for (const arch of arches) {
      if (recipe.arches[arch] === undefined) skipped.push({ recipe: v.recipe, version: v.version, arch, reason: `the ${recipe.name} upstream publishes no ${arch} build` });
      else plan.push({ name: recipeFileName(recipe.name, v.version, arch), recipe: recipe.name, version: v.version, arch });
    }
  }
  for (const s of skipped) report.warn(`${s.recipe} ${s.version} (${s.arch}) is left out: ${s.reason}`);
  const transfers = transfersFor(versions.filter((v) => plan.some((p) => p.recipe === v.recipe && p.version === v.version)));

  const previous = options.previous !== undefined ? await openPreviousRelease(options.previous, fetchOptions) : undefined;
  await mkdir(outputDir, { recursive: true });
  // Read before (the previous release may be this directory); gone now, because a run that fails
  // must not leave an index describing some other set of files.
  for (const f of [SHA256SUMS_FILE, RELEASE_NOTES_FILE]) await rm(path.join(outputDir, f), { force: true });

  const toCarry = plan.filter((p) => previous?.images.has(p.name));
  const toBuild = plan.filter((p) => !previous?.images.has(p.name));
  report.step('release', `${plan.length} image(s): ${toCarry.length} to carry over${previous ? ` from ${previous.location}` : ''}, ${toBuild.length} to build, ${jobs} at a time`);

  const limit = pLimit(jobs);
  const built: BuiltImage[] = [];
  const carried: CarriedImage[] = [];
  const failures: ImageFailure[] = [];
  let finished = 0;
  const counter = () => `[${++finished}/${plan.length}]`;
  const failed = (p: PlannedImage, action: ImageFailure['action'], error: unknown): false => {
    // After an interrupt every running job fails; that is not the image's fault.
    if (signal?.aborted) return false;
    failures.push({ ...p, action, error });
    report.warn(`${counter()} ${describeFailure({ ...p, action, error })}: ${messageOf(error).split('\n')[0]}`);
    return false;
  };

  const carryOne = async (p: PlannedImage): Promise<boolean> => {
    if (signal?.aborted) return false;
    try {
      const r = await carryImage(previous!, p.name, outputDir, { ...fetchOptions, cache, progress: report.progress });
      carried.push({ ...p, path: r.path, sha256: r.sha256, size: r.size, from: r.from });
      report.step('release', `${counter()} carried over ${p.name} (${formatBytes(r.size)})`);
      return true;
    } catch (error) {
      return failed(p, 'carry', error);
    }
  };

  const buildOne = async (p: PlannedImage): Promise<boolean> => {
    if (signal?.aborted) return false;
    const started = Date.now();
    report.step('release', `building ${p.name}`);
    try {
      const r = await buildRecipe({
        recipe: p.recipe,
        version: p.version,
        arch: p.arch,
        outputDir,
        mirror: options.mirror,
        cache,
        report: prefixedReporter(report, p.name),
        signal,
        retries: options.retries,
        sourceDateEpoch: options.sourceDateEpoch,
      });
      built.push({ ...p, path: r.path, sha256: r.sha256, size: r.size, cached: r.cached });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      report.step('release', `${counter()} built ${p.name} (${formatBytes(r.size)}${r.cached ? ', from the build cache' : ''}, ${seconds} s)`);
      return true;
    } catch (error) {
      return failed(p, 'build', error);
    }
  };

  /**
   * Builds of one recipe and architecture (different versions) tend to fetch the same files
   * (kubernetes' CNI plugins, say), and concurrent builds fetching one URL would share a resumable
   * download in the cache. So the first build of such a group runs alone; once it has put the
   * shared files into the download cache, the rest of the group runs in parallel. Without a cache
   * every build downloads into its own temp dir and they all start at once.
   */
  const buildGroup = async (group: readonly PlannedImage[]): Promise<void> => {
    let next = 0;
    if (cache.enabled) {
      while (next < group.length) {
        const ok = await limit(() => buildOne(group[next]!));
        next++;
        if (ok) break;
      }
    }
    await Promise.all(group.slice(next).map((p) => limit(() => buildOne(p))));
  };
  const groups = new Map<string, PlannedImage[]>();
  for (const p of toBuild) {
    const key = `${p.recipe}\n${p.arch}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }

  await Promise.all([...toCarry.map((p) => limit(() => carryOne(p))), ...[...groups.values()].map(buildGroup)]);
  signal?.throwIfAborted();
  if (failures.length > 0) throw new ReleaseBuildError(failures, built.length + carried.length, outputDir, cache.enabled);

  const images: ReleaseImage[] = [...built, ...carried];
  for (const t of transfers) {
    await writeFileAtomic(path.join(outputDir, t.fileName), sysupdateTransfer({ recipe: t.recipe, matchPattern: t.matchPattern, baseUrl }));
  }
  await writeFileAtomic(path.join(outputDir, NOOP_TRANSFER_FILE), noopTransfer());
  await writeFileAtomic(path.join(outputDir, SHA256SUMS_FILE), formatSha256Sums(images));
  // Last: its presence says the release is complete.
  await writeFileAtomic(path.join(outputDir, RELEASE_NOTES_FILE), renderReleaseNotes({ built, carried, previous: previous?.location, transfers, baseUrl, skipped }));

  const files = [...images.map((i) => i.name), ...transfers.map((t) => t.fileName), NOOP_TRANSFER_FILE, SHA256SUMS_FILE, RELEASE_NOTES_FILE].sort();
  const strays = (await readdir(outputDir)).filter((f) => /\.(raw|conf)$/.test(f) && !files.includes(f));
  if (strays.length > 0) report.warn(`${outputDir} also holds ${strays.join(', ')}: not part of this release, and not in its SHA256SUMS`);
  report.step('release', `done: ${built.length} built, ${carried.length} carried over, ${transfers.length + 1} transfer(s), in ${outputDir}`);

  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  return { outputDir, versions, built: built.sort(byName), carried: carried.sort(byName), skipped, transfers, files };
}
