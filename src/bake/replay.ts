/**
 * `flatbake --replay flatbake-manifest.json`: the same release version, sysexts, vendors and
 * settings as the recorded bake, and a refusal (before anything is written to --output) when a
 * fetched input's digest is not the one the manifest recorded.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_BZ2_FILE } from '../defaults.js';
import { InputError } from '../errors.js';
import type { Settings } from '../settings.js';
import type { BakeOptions } from './context.js';
import type { GatheredSysexts } from './fetch-stage.js';
import { MANIFEST_SCHEMA_VERSION, type Manifest, type ReplaySettings } from './manifest.js';

/** The digests the replayed bake must meet. */
export interface ReplayExpectations {
  manifest: string;
  base: { source: string; sha256: string };
  sysexts: ReadonlyArray<{ name: string; fileName: string; sha256: string; confSha256?: string }>;
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
      if (!(await stat(s.source).then((st) => st.isFile(), () => false))) {
        throw new InputError(
          `--replay: the sysext ${s.name} was read from ${s.source}, which is gone`,
          'a sysext built from a recipe during the bake is not kept: build it with `flatbake sysext build`, then bake it anew',
        );
      }
      sysexts.push(`${s.name}:${s.source}`);
    }
  }
  return {
    settings,
    sysexts,
    expect: {
      manifest: file,
      base: { source: manifest.base.source, sha256: manifest.base.sha256 },
      sysexts: manifest.sysexts.map((s) => ({ name: s.name, fileName: s.fileName, sha256: s.sha256, ...(s.sysupdateConfSha256 ? { confSha256: s.sysupdateConfSha256 } : {}) })),
    },
  };
}

/** Throws when an input this bake fetched is not the one the manifest recorded. */
export function checkReplayed(expect: ReplayExpectations, base: { source: string; sha256: string }, sysexts: GatheredSysexts): void {
  const differs = (what: string, got: string | undefined, want: string | undefined) =>
    new InputError(
      `--replay: ${what} differs from ${expect.manifest}: sha256 ${got ?? '(none)'}, the manifest recorded ${want ?? '(none)'}`,
      'that input changed since the recorded bake; nothing was written. Bake without --replay to take the new one, or restore the recorded one',
    );
  if (base.sha256 !== expect.base.sha256) throw differs(`the base image ${base.source}`, base.sha256, expect.base.sha256);
  for (const want of expect.sysexts) {
    const got = sysexts.describe.get(want.name);
    if (got?.sha256 !== want.sha256) throw differs(`the sysext ${want.name} (${got?.source ?? want.fileName})`, got?.sha256, want.sha256);
    if (got.confSha256 !== want.confSha256) throw differs(`${want.name}.conf`, got.confSha256, want.confSha256);
  }
}
