import type { Cache } from '../cache/cache.js';
import type { DownloadOptions } from '../net/download.js';
import type { Arch } from '../release/arch.js';
import type { Reporter } from '../util/report.js';
import type { ResourceScope } from '../util/scope.js';

/** Everything a bake was asked for, as parsed from the command line. */
export interface BakeOptions {
  /** `NAME:FILE` arguments. */
  sysexts: string[];
  fetch: boolean;
  vendors: string[];
  arch: Arch;
  release: string;
  installTo: string;
  output: string;
  releaseServer: string;
  releasesJson: string;
  signingKey: string;
  bakeryUrl: string;
  mirror?: string;
  image?: string;
  cacheDir?: string;
  cache: boolean;
  insecureSkipVerify: boolean;
  /** `--full-digest`: the plain SHA-256 of the baked image too, besides the chunked one. */
  fullDigest?: boolean;
  /** `--oem-sysext` files (named oem-<id>.raw). */
  oemSysexts?: string[];
  /** `--no-oem-sysext`: vendors without their OEM sysext get only grub.cfg on OEM. */
  noOemSysext?: boolean;
  /** How partitions are edited (default auto). */
  backend?: import('./backend.js').BackendChoice;
  /** `--sysupdate`: enable systemd-sysupdate.timer and the per-sysext update drop-ins. */
  sysupdate?: boolean;
  /** Download retries after the first attempt. */
  retries?: number;
}

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
