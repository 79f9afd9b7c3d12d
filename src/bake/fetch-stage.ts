/**
 * Step 3, fetch: the base image (handed to step 4 as it arrives) and the sysexts (from the
 * bakery with --fetch, local files, or built from recipes), side by side.
 */
import path from 'node:path';
import { buildRecipe } from '../recipes/index.js';
import type { ResolvedRelease } from '../flatcar-release/resolve.js';
import { sha256File } from '../util/hash.js';
import type { BakeContext } from './context.js';
import { fetchBakerySysexts } from './downloads.js';
import type { SysextToInject } from './inject.js';
import { checkSysextImage, type LocalSysext, type RecipeSysext } from './local-sysexts.js';
import type { ManifestRecipe } from './manifest.js';
import { oemSysexts, type OemSysexts } from './oem-sysexts.js';
import { checkReplayed, checkReplayedOem, recipeInputCheck } from './replay.js';
import type { BakePlan } from './validate.js';
import { keepBase, localBase, releaseBase, type VerifiedBase } from './verify-stage.js';

/** The sysexts to inject, in the order given, and what the manifest says of each. */
export interface GatheredSysexts {
  toInject: Array<Omit<SysextToInject, 'place'>>;
  describe: Map<string, { source: string; sha256: string; size: number; confSha256?: string; recipe?: ManifestRecipe }>;
}

export interface Fetched {
  base: VerifiedBase;
  sysexts: GatheredSysexts;
  /** The vendors' OEM sysexts, fetched when a vendor (or a replay's check) first needs one. */
  oem: OemSysexts;
}

export async function fetchInputs(ctx: BakeContext, plan: BakePlan, release: ResolvedRelease | undefined): Promise<Fetched> {
  const oem = oemSysexts(ctx, plan.oemSysexts);
  // A replay refuses changed OEM sysexts (small) before the base image (large) is downloaded;
  // with --image the release is known only once the image is read (convert-stage checks then).
  const { replayed } = ctx.options;
  if (replayed && release && plan.selection.vendors.length) await checkReplayedOem(ctx, replayed, oem, release, plan.selection);
  // The base image and the bakery's sysexts are independent: fetch them side by side. Both
  // settle before a failure is thrown, so nothing still writes into the work dir afterwards.
  const [baseResult, sysextResult] = await Promise.allSettled([
    release ? releaseBase(ctx, release) : localBase(ctx, plan.options.image!),
    gatherSysexts(ctx, plan),
  ]);
  if (baseResult.status === 'rejected') throw baseResult.reason;
  const base = baseResult.value;
  // A verified base is worth keeping for the next attempt even when this one fails (not when
  // it is interrupted: then leaving fast matters more).
  ctx.scope.defer('keep the base image in the cache', () => (ctx.signal.aborted ? undefined : keepBase(ctx, base.image)));
  if (sysextResult.status === 'rejected') throw sysextResult.reason;
  // Before anything is injected or published: a replay with other inputs is refused here.
  if (replayed) checkReplayed(replayed, base, sysextResult.value, ctx.report);
  return { base, sysexts: sysextResult.value, oem };
}

async function gatherSysexts(ctx: BakeContext, plan: BakePlan): Promise<GatheredSysexts> {
  const describe: GatheredSysexts['describe'] = new Map();
  if (!ctx.options.fetch) {
    const built = await buildRecipeSysexts(ctx, plan.local.recipes);
    const recipes = new Map(built.map((b) => [b.sysext.name, b.recipe]));
    const files = [...plan.local.files, ...built.map((b) => b.sysext)];
    // Keep the order the user gave.
    const order = new Map(plan.sysexts.map((a, i) => [a.name, i]));
    files.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    for (const s of files) {
      const recipe = recipes.get(s.name);
      // A recipe build's file lives in the work dir: the manifest names the path it was asked for as.
      const source = recipe ? plan.local.recipes.find((r) => r.name === s.name)!.file : s.path;
      describe.set(s.name, { source, sha256: s.sha256, size: s.size, confSha256: s.conf ? await sha256File(s.conf) : undefined, ...(recipe ? { recipe } : {}) });
    }
    return {
      toInject: files.map((s) => ({ name: s.name, source: s.path, fileName: s.fileName, size: s.size, sysupdateConf: s.conf })),
      describe,
    };
  }
  const fetched = await fetchBakerySysexts(ctx, plan.sysexts);
  const toInject: GatheredSysexts['toInject'] = [];
  for (const s of fetched) {
    // Fetched files are digest-checked; they must still be filesystem images.
    await checkSysextImage(s.file.path, s.name);
    toInject.push({ name: s.name, source: s.file.path, fileName: s.fileName, size: s.file.size, sysupdateConf: s.conf?.path });
    describe.set(s.name, { source: s.file.url, sha256: s.file.sha256, size: s.file.size, confSha256: s.conf?.sha256 });
    if (!s.file.fromCache) {
      await ctx.cache.store('sysext', s.file.sha256, s.file.path, { sha256: s.file.sha256, size: s.file.size, meta: { url: s.file.url } });
    }
  }
  return { toInject, describe };
}

/**
 * Builds the recipe sysexts a bake names (cached by recipe, version, arch and recipe content).
 * A replay builds them again from inputs held to the recorded digests.
 */
async function buildRecipeSysexts(ctx: BakeContext, recipes: readonly RecipeSysext[]): Promise<Array<{ sysext: LocalSysext; recipe: ManifestRecipe }>> {
  const built: Array<{ sysext: LocalSysext; recipe: ManifestRecipe }> = [];
  const { replayed } = ctx.options;
  for (const r of recipes) {
    const checkInputs = replayed ? recipeInputCheck(replayed, r.name) : undefined;
    ctx.report.step('build', checkInputs ? `${r.fileName}: building it again from the ${r.recipe} recipe (--replay)` : `${r.fileName} does not exist: building it from the ${r.recipe} recipe`);
    const result = await buildRecipe({
      recipe: r.recipe,
      version: r.version,
      arch: r.arch,
      outputDir: path.join(ctx.workDir, 'recipes'),
      mirror: ctx.options.mirror,
      cache: ctx.cache,
      report: ctx.report,
      signal: ctx.signal,
      retries: ctx.options.retries,
      ...(checkInputs ? { rebuild: true, checkInputs } : {}),
    });
    ctx.report.step('build', `${r.fileName}: ${result.cached ? 'from the cache' : 'built'} (sha256 ${result.sha256})`);
    const inputs = result.inputs.map(({ url, sha256 }) => ({ url, sha256 })).sort((a, b) => a.url.localeCompare(b.url));
    built.push({
      sysext: { name: r.name, path: result.path, fileName: r.fileName, size: result.size, sha256: result.sha256, kind: 'squashfs' },
      recipe: { name: r.recipe, version: r.version, arch: r.arch, inputs },
    });
  }
  return built;
}
