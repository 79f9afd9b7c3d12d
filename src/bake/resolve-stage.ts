import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { download } from '../net/download.js';
import { latestVersionOf, parseReleaseSpec, resolvedRelease, type ResolvedRelease } from '../release/resolve.js';
import type { BakeContext } from './context.js';

/** `--release` channel -> newest version in `--releases-json`; a version -> its channel. */
export async function resolveRelease(ctx: BakeContext): Promise<ResolvedRelease> {
  const { options } = ctx;
  const spec = parseReleaseSpec(options.release);
  let version: string;
  if (spec.kind === 'version') {
    version = spec.version;
  } else {
    const dest = path.join(ctx.workDir, 'releases.json');
    await download({ url: options.releasesJson, dest, label: 'releases.json' }, ctx.net);
    let index: unknown;
    try {
      index = JSON.parse(await readFile(dest, 'utf8'));
    } catch (error) {
      throw new InputError(`the release index at ${options.releasesJson} is not valid JSON: ${(error as Error).message}`, 'check --releases-json');
    }
    version = latestVersionOf(index, spec.channel, options.arch, options.releasesJson);
  }
  const release = resolvedRelease(options.releaseServer, version, options.arch);
  ctx.report.step('resolve', `${options.release === version ? 'release' : options.release} is ${version} (${release.channel}, ${release.board})`);
  return release;
}
