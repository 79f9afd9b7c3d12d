/**
 * Shared set-up of the step tests: a small synthetic release (the real partition layout,
 * a throwaway signing key; src/demo) served on 127.0.0.1, the bake options that point at it,
 * and a bake context as pipeline.ts opens one. Every step test uses the offline backend: it
 * needs no root, no loop device and no mount.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openBakeContext, type BakeContext, type BakeOptions } from '../../src/bake/context.js';
import { fetchInputs, type Fetched } from '../../src/bake/fetch-stage.js';
import { locateAndStage, type Staged } from '../../src/bake/locate-stage.js';
import { validate, type BakePlan } from '../../src/bake/validate.js';
import { defaultSettings } from '../../src/settings.js';
import { quietReporter, type Reporter } from '../../src/util/report.js';
import { ResourceScope } from '../../src/util/scope.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

export interface StepFixture {
  served: ServedRelease;
  /** Scratch dir for outputs; removed by close(). */
  scratch: string;
  /** Bake options for this release: offline backend, no cache, `--output` in the scratch dir. */
  options(overrides?: Partial<BakeOptions>): BakeOptions;
  /** validate() and a context, as the pipeline opens them; release() removes the work dir. */
  open(options: BakeOptions, report?: Reporter): Promise<{ plan: BakePlan; ctx: BakeContext; release(): Promise<void> }>;
  close(): Promise<void>;
}

let outputs = 0;

/** A release with the bakery's `hello` sysext; small USR-A payload, so each file builds it in seconds. */
export async function stepFixture(release: { oemIds?: string[] } = {}): Promise<StepFixture> {
  const served = await serveSyntheticRelease({ usrPayloadBytes: 1024 * 1024, sysexts: [{ name: 'hello', version: '1.0.0', arch: 'x86-64' }], ...release });
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-steps-'));
  const url = served.server.url;
  const options = (overrides: Partial<BakeOptions> = {}): BakeOptions => ({
    ...defaultSettings('bake', scratch),
    releaseServer: `${url}/{channel}`,
    releasesJson: `${url}/releases.json`,
    signingKey: `${url}/key.asc`,
    bakeryUrl: `${url}/extensions`,
    cache: false,
    backend: 'offline',
    output: path.join(scratch, `out-${++outputs}`),
    sysexts: [`hello:${path.basename(served.release.sysexts[0]!.file)}`],
    fetch: true,
    ...overrides,
  });
  return {
    served,
    scratch,
    options,
    async open(opts, report = quietReporter) {
      const plan = await validate(opts, report);
      const scope = new ResourceScope();
      const ctx = await openBakeContext(opts, report, scope);
      return { plan, ctx, release: () => scope.release() };
    },
    async close() {
      await served.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

export interface StagedRun {
  plan: BakePlan;
  ctx: BakeContext;
  fetched: Fetched;
  staged: Staged;
  release(): Promise<void>;
}

/**
 * The steps up to locate + stage for the release's image as a local --image and the bakery's
 * hello as a local file (with its hello.conf beside it): no download, no decompression.
 */
export async function stagedRun(fx: StepFixture, overrides: Partial<BakeOptions> = {}): Promise<StagedRun> {
  const options = fx.options({ image: fx.served.release.imagePath, fetch: false, sysexts: [`hello:${fx.served.release.sysexts[0]!.file}`], ...overrides });
  const { plan, ctx, release } = await fx.open(options);
  try {
    const fetched = await fetchInputs(ctx, plan, undefined);
    const staged = await locateAndStage(ctx, plan, fetched);
    return { plan, ctx, fetched, staged, release };
  } catch (error) {
    await release();
    throw error;
  }
}
