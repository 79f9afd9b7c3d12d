import { InputError, NetworkError } from '../errors.js';
import { fetchText } from '../net/fetch-text.js';
import { latestVersionOf, listedVersions, resolvedRelease, type ReleaseSpec, type ResolvedRelease } from '../flatcar-release/resolve.js';
import { refuseUnsupportedVendors } from '../platforms/releases.js';
import type { BakeContext } from './context.js';
import type { BakePlan } from './validate.js';

/**
 * Step 2, resolve: the release to bake (undefined with --image, whose os-release names it once
 * the image is staged). Then the vendors this release's SDK would not write are refused, before
 * any image or sysext is downloaded.
 */
export async function resolve(ctx: BakeContext, plan: BakePlan): Promise<ResolvedRelease | undefined> {
  if (plan.options.image) return undefined;
  const release = await resolveRelease(ctx, plan.release);
  refuseUnsupportedVendors(plan.selection.vendors, release.version, release.arch);
  return release;
}

/**
 * `--release` channel -> newest version in `--releases-json`; a version -> its channel, once
 * releases.json confirms it exists (so a typo fails before any download, naming the versions
 * there are). A mirror without releases.json cannot confirm it: that costs a warning only.
 */
export async function resolveRelease(ctx: BakeContext, spec: ReleaseSpec): Promise<ResolvedRelease> {
  const { options } = ctx;
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
  let text: string;
  try {
    text = await fetchText(options.releasesJson, { ...ctx.net, label: 'releases.json', dir: ctx.workDir });
  } catch (error) {
    if (!optional || !(error instanceof NetworkError)) throw error;
    ctx.report.warn(`cannot check --release ${options.release} against ${options.releasesJson}: ${error.message}`);
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(`the release index at ${options.releasesJson} is not valid JSON: ${(error as Error).message}`, 'check --releases-json');
  }
}
