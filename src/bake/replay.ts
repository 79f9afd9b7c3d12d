/**
 * `flatbake --replay flatbake-manifest.json`: the same release version, sysexts, vendors and
 * settings as the recorded bake, and a refusal (before anything is written to --output) when a
 * fetched input's digest is not the one the manifest recorded: the base image, bakery sysexts,
 * the vendors' OEM sysexts, and what a recipe-built sysext was built from. A recipe build is
 * done again (its image's bytes need not be the same; the new digest is reported and recorded).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_BZ2_FILE } from '../defaults.js';
import { InputError } from '../errors.js';
import type { ResolvedRelease } from '../flatcar-release/resolve.js';
import type { VendorSelection } from '../platforms/index.js';
import type { Settings } from '../settings.js';
import type { Reporter } from '../util/report.js';
import type { BakeContext, BakeOptions } from './context.js';
import type { GatheredSysexts } from './fetch-stage.js';
import { MANIFEST_SCHEMA_VERSION, type Manifest, type ManifestRecipe, type ReplaySettings } from './manifest.js';
import type { ManifestOemSysext, OemSysexts } from './oem-sysexts.js';

/** The digests the replayed bake must meet. */
export interface ReplayExpectations {
  manifest: string;
  base: { source: string; sha256: string };
  sysexts: ReadonlyArray<{ name: string; fileName: string; sha256: string; confSha256?: string; recipe?: ManifestRecipe }>;
  oemSysexts: readonly ManifestOemSysext[];
}

const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/** What the manifest records that replay needs (written into every new manifest). */
export function replaySettings(options: BakeOptions): ReplaySettings {
  return {
    releaseServer: options.releaseServer,
    releasesJson: options.releasesJson,
    signingKey: options.signingKey,
    bakeryUrl: options.bakeryUrl,
    ...(options.mirror ? { mirror: options.mirror } : {}),
    ...(options.rootSize !== undefined ? { rootSize: options.rootSize } : {}),
    ...(options.noOemSysext ? { noOemSysext: true } : {}),
    ...(options.fullDigest ? { fullDigest: true } : {}),
    ...(options.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
  };
}

/**
 * The settings and NAME:FILE arguments of the recorded bake (the command line overrides the
 * settings, as it does a --config file's), and the digests to hold the inputs to.
 */
export async function loadReplay(file: string): Promise<{ settings: Partial<Settings>; sysexts: string[]; expect: ReplayExpectations }> {
  const hint = 'give --replay the flatbake-manifest.json a bake wrote';
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8')) as Manifest;
  } catch (error) {
    throw new InputError(`--replay ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not JSON (${(error as Error).message})`}`, hint);
  }
  if (manifest?.schemaVersion !== MANIFEST_SCHEMA_VERSION || !manifest.release?.version || !manifest.base?.source || !Array.isArray(manifest.sysexts)) {
    throw new InputError(`--replay ${file} is not a flatbake manifest of schemaVersion ${MANIFEST_SCHEMA_VERSION}`, hint);
  }
  const recorded = manifest.settings;
  const settings: Partial<Settings> = {
    arch: manifest.release.arch as Settings['arch'],
    installTo: manifest.installTo,
    vendors: manifest.vendors,
    backend: manifest.backend,
    sysupdate: manifest.sysupdate !== undefined,
    ...(recorded ? { releaseServer: recorded.releaseServer, releasesJson: recorded.releasesJson, signingKey: recorded.signingKey, bakeryUrl: recorded.bakeryUrl } : {}),
    ...(recorded?.mirror ? { mirror: recorded.mirror } : {}),
    ...(recorded?.rootSize !== undefined ? { rootSize: recorded.rootSize } : {}),
    ...(recorded?.noOemSysext ? { noOemSysext: true } : {}),
    ...(recorded?.fullDigest ? { fullDigest: true } : {}),
    ...(recorded?.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
  };
  if (isUrl(manifest.base.source)) {
    settings.release = manifest.release.version;
    // Older manifests lack `settings`: the server is the image URL without <board>/<version>/<file>.
    const tail = `/${manifest.release.board}/${manifest.release.version}/${IMAGE_BZ2_FILE}`;
    if (!recorded && manifest.base.source.endsWith(tail)) settings.releaseServer = manifest.base.source.slice(0, -tail.length);
  } else {
    settings.image = manifest.base.source;
  }
  const fetched = manifest.sysexts.filter((s) => isUrl(s.source));
  if (fetched.length && fetched.length !== manifest.sysexts.length) throw new InputError(`--replay ${file} mixes bakery and local sysexts, which one bake cannot do`, hint);
  const sysexts: string[] = [];
  if (fetched.length) {
    const bakeries = new Set(fetched.map((s) => s.source.slice(0, s.source.lastIndexOf('/'))));
    if (bakeries.size !== 1) throw new InputError(`--replay ${file}: its sysexts come from ${bakeries.size} bakeries, and one bake fetches from one`, hint);
    settings.fetch = true;
    settings.bakeryUrl = [...bakeries][0]!;
    for (const s of manifest.sysexts) sysexts.push(`${s.name}:${path.posix.basename(new URL(s.source).pathname)}`);
  } else {
    for (const s of manifest.sysexts) {
      // A recipe-built sysext is built again (validate plans it as a recipe build by its name).
      if (!s.recipe && !(await stat(s.source).then((st) => st.isFile(), () => false))) {
        throw new InputError(
          `--replay: the sysext ${s.name} was read from ${s.source}, which is gone`,
          'put the same file back at that path (replay checks its digest), or bake anew without --replay',
        );
      }
      sysexts.push(`${s.name}:${s.source}`);
    }
  }
  // --oem-sysext files of the recorded bake are given again (their digests checked); fetched ones are fetched again.
  const oemSysexts = manifest.oemSysexts ?? [];
  const givenOem = oemSysexts.filter((o) => !isUrl(o.source)).map((o) => o.source);
  if (givenOem.length) settings.oemSysexts = givenOem;
  return {
    settings,
    sysexts,
    expect: {
      manifest: file,
      base: { source: manifest.base.source, sha256: manifest.base.sha256 },
      sysexts: manifest.sysexts.map((s) => ({
        name: s.name,
        fileName: s.fileName,
        sha256: s.sha256,
        ...(s.sysupdateConfSha256 ? { confSha256: s.sysupdateConfSha256 } : {}),
        ...(s.recipe ? { recipe: s.recipe } : {}),
      })),
      oemSysexts,
    },
  };
}

function differs(expect: ReplayExpectations, what: string, got: string | undefined, want: string | undefined): InputError {
  return new InputError(
    `--replay: ${what} differs from ${expect.manifest}: sha256 ${got ?? '(none)'}, the manifest recorded ${want ?? '(none)'}`,
    'that input changed since the recorded bake; nothing was written. Bake without --replay to take the new one, or restore the recorded one',
  );
}

/**
 * Throws when an input this bake fetched is not the one the manifest recorded. A recipe-built
 * sysext's inputs were checked while it was built (recipeInputCheck); its image is reported.
 */
export function checkReplayed(expect: ReplayExpectations, base: { source: string; sha256: string }, sysexts: GatheredSysexts, report: Reporter): void {
  if (base.sha256 !== expect.base.sha256) throw differs(expect, `the base image ${base.source}`, base.sha256, expect.base.sha256);
  for (const want of expect.sysexts) {
    const got = sysexts.describe.get(want.name);
    if (want.recipe) {
      // Whether a recipe build is byte-for-byte reproducible is not flatbake's promise: say which it was.
      if (got?.sha256 === want.sha256) report.step('replay', `${want.fileName} rebuilt from the same inputs: the same image (sha256 ${want.sha256})`);
      else report.warn(`--replay: ${want.fileName} rebuilt from the same inputs is not the same image: sha256 ${got?.sha256 ?? '(none)'}, the manifest recorded ${want.sha256} (recipe builds are not byte-for-byte reproducible; the new digest is recorded)`);
      continue;
    }
    if (got?.sha256 !== want.sha256) throw differs(expect, `the sysext ${want.name} (${got?.source ?? want.fileName})`, got?.sha256, want.sha256);
    if (got.confSha256 !== want.confSha256) throw differs(expect, `${want.name}.conf`, got.confSha256, want.confSha256);
  }
}

/**
 * The recorded recipe build's inputs against this build's, called once they are fetched and
 * before anything is installed: another URL (a new "latest" dependency) or digest refuses.
 */
export function recipeInputCheck(expect: ReplayExpectations, name: string): ((inputs: ReadonlyArray<{ url: string; sha256: string }>) => void) | undefined {
  const recipe = expect.sysexts.find((s) => s.name === name)?.recipe;
  if (!recipe) return undefined;
  return (inputs) => {
    const got = new Map(inputs.map((i) => [i.url, i.sha256]));
    for (const want of recipe.inputs) {
      if (got.get(want.url) !== want.sha256) throw differs(expect, `${want.url}, which the ${recipe.name} recipe fetched for the sysext ${name},`, got.get(want.url), want.sha256);
    }
    const recorded = new Set(recipe.inputs.map((i) => i.url));
    const extra = inputs.find((i) => !recorded.has(i.url));
    if (extra) throw differs(expect, `the inputs of the ${recipe.name} recipe for the sysext ${name} (now also ${extra.url})`, extra.sha256, undefined);
  };
}

/**
 * The OEM sysexts the selected vendors need, fetched (once: the vendors take them from `oem`)
 * and held to the recorded digests. Run before the base image is downloaded when the release is
 * known by then, else before the first vendor is written.
 */
export async function checkReplayedOem(ctx: BakeContext, expect: ReplayExpectations, oem: OemSysexts, release: ResolvedRelease, selection: VendorSelection): Promise<void> {
  // --no-oem-sysext on the command line overrides the recorded bake: nothing to hold.
  if (ctx.options.noOemSysext) return;
  const needed = new Set(selection.vendors.flatMap((v) => (v.oem ? [v.oem.id] : [])));
  for (const want of expect.oemSysexts) {
    if (!needed.has(want.id)) continue;
    await oem.resolve(release, want.id);
    const got = oem.records().find((r) => r.id === want.id);
    if (got?.sha256 !== want.sha256) throw differs(expect, `the OEM sysext oem-${want.id}.raw (${got?.source ?? want.source})`, got?.sha256, want.sha256);
  }
}
