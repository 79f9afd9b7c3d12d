import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openUsableCache, type Cache } from '../cache/cache.js';
import type { DownloadOptions } from '../net/download.js';
import type { Settings } from '../settings.js';
import type { ReplayExpectations } from './replay.js';
import type { Reporter } from '../util/report.js';
import { releaseDeadAttachments } from '../util/attached.js';
import { run } from '../util/exec.js';
import { lockDirectory, reapDeadRuns, SCRATCH_PREFIXES } from '../util/leftovers.js';
import { ownedTempDir } from '../util/owner.js';
import { interruptSignal, type ResourceScope } from '../util/scope.js';

/**
 * Everything a bake was asked for: the `NAME:FILE` arguments and the settings declared once in
 * `src/settings.ts` (command line, config file, defaults).
 */
export type BakeOptions = Settings & {
  /** `NAME:FILE` arguments. */
  sysexts: string[];
  /** --replay: the digests the inputs must have. */
  replayed?: ReplayExpectations;
};

/** What the stages share while a bake runs. */
export interface BakeContext {
  options: BakeOptions;
  cache: Cache;
  report: Reporter;
  scope: ResourceScope;
  /** Scratch dir inside the output dir (same filesystem, so results are renamed, not copied). */
  workDir: string;
  signal: AbortSignal;
  net: DownloadOptions;
  /** When the bake began (ms), for the summary's duration. */
  startedAt: number;
}

/**
 * The shared state of one bake: the cache, a work dir inside --output (removed by `scope`), the
 * interrupt signal, and download settings with retries reported as warnings.
 */
export async function openBakeContext(options: BakeOptions, report: Reporter, scope: ResourceScope, startedAt = Date.now()): Promise<BakeContext> {
  const cache = await openUsableCache({ cacheDir: options.cacheDir, cache: options.cache }, (message) => report.warn(message));
  // One bake per --output at a time; then every work dir there is a dead run's (util/leftovers).
  scope.defer(`unlock ${options.output}`, await lockDirectory(options.output, '--output'));
  // Loop devices and mounts of killed runs first (only root can release them; a marker left
  // here waits for a run that can), then their files.
  const detached = process.getuid?.() === 0 ? await releaseDeadAttachments(os.tmpdir(), (file, args) => run(file, args, { purpose: `release what a killed run left attached (${file})` })) : [];
  const reaped = [...detached, ...(await reapDeadRuns({ output: options.output, cacheDir: cache.dir, tmpDir: os.tmpdir() }))];
  if (reaped.length) report.step('clean', `removed what killed runs left: ${reaped.join(', ')}`);
  const workDir = await ownedTempDir(options.output, SCRATCH_PREFIXES.output);
  scope.defer(`remove ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
  const signal = interruptSignal();
  return {
    options,
    cache,
    report,
    scope,
    workDir,
    signal,
    startedAt,
    net: {
      mirror: options.mirror,
      retries: options.retries,
      signal,
      progress: report.progress,
      onRetry: (info) => report.warn(`${info.label}: ${info.reason}; retry ${info.attempt}/${info.maxAttempts - 1} in ${Math.round(info.delayMs / 1000)}s`),
    },
  };
}
