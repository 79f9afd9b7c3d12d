import type { Cache } from '../cache/cache.js';
import type { DownloadOptions } from '../net/download.js';
import type { Settings } from '../settings.js';
import type { Reporter } from '../util/report.js';
import type { ResourceScope } from '../util/scope.js';

/**
 * Everything a bake was asked for: the `NAME:FILE` arguments and the settings declared once in
 * `src/settings.ts` (command line, config file, defaults).
 */
export type BakeOptions = Settings & {
  /** `NAME:FILE` arguments. */
  sysexts: string[];
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
}
