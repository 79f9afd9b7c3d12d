import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError, NetworkError } from '../errors.js';
import { download } from '../net/download.js';
import { latestVersionOf, listedVersions, parseReleaseSpec, resolvedRelease, type ResolvedRelease } from '../flatcar-release/resolve.js';
import type { BakeContext } from './context.js';

/**
 * `--release` channel -> newest version in `--releases-json`; a version -> its channel, once
 * releases.json confirms it exists (so a typo fails before any download, naming the versions
 * there are). A mirror without releases.json cannot confirm it: that costs a warning only.
 */
export async function resolveRelease(ctx: BakeContext): Promise<ResolvedRelease> {
  const { options } = ctx;
  const spec = parseReleaseSpec(options.release);
  let version: string;
  if (spec.kind === 'version') {
    version = spec.version;
    const index = await fetchIndex(ctx, true);
    if (index !== undefined) {
      const all = listedVersions(index, undefined, options.arch, options.releasesJson);
      if (!all.includes(version)) {
        const same = listedVersions(index, spec.channel, options.arch, options.releasesJson);
        const newest = same.slice(-5).join(', ');
        throw new InputError(
          `release ${version} is not listed in ${options.releasesJson} for ${options.arch}`,
          newest ? `the newest ${spec.channel} releases there are ${newest}; or use --release ${spec.channel}` : `it lists no ${spec.channel} release for ${options.arch}; pick a version it lists`,
        );
      }
    }
  } else {
    version = latestVersionOf(await fetchIndex(ctx, false), spec.channel, options.arch, options.releasesJson);
  }
  const release = resolvedRelease(options.releaseServer, version, options.arch);
  ctx.report.step('resolve', `${options.release === version ? 'release' : options.release} is ${version} (${release.channel}, ${release.board})`);
  return release;
}

/** releases.json, parsed. With `optional`, a download failure is a warning and yields undefined. */
async function fetchIndex(ctx: BakeContext, optional: boolean): Promise<unknown> {
  const { options } = ctx;
  const dest = path.join(ctx.workDir, 'releases.json');
  try {
    await download({ url: options.releasesJson, dest, label: 'releases.json' }, ctx.net);
  } catch (error) {
    if (!optional || !(error instanceof NetworkError)) throw error;
    ctx.report.warn(`cannot check --release ${options.release} against ${options.releasesJson}: ${error.message}`);
    return undefined;
  }
  try {
    return JSON.parse(await readFile(dest, 'utf8'));
  } catch (error) {
    throw new InputError(`the release index at ${options.releasesJson} is not valid JSON: ${(error as Error).message}`, 'check --releases-json');
  }
}
