/**
 * The bake, as the README lists its steps. Each step is a module with typed input and output;
 * the plan from `validate` is computed once and read by the others. Every loop device, mount,
 * temp dir and partial file is owned by one scope, released on success, error and signals.
 */
import type { Reporter } from '../util/report.js';
import { withScope } from '../util/scope.js';
import { openBakeContext, type BakeOptions } from './context.js';
import { convert } from './convert-stage.js';
import { digest } from './digest-stage.js';
import { fetchInputs } from './fetch-stage.js';
import { inject } from './inject-stage.js';
import { locateAndStage } from './locate-stage.js';
import type { Manifest } from './manifest.js';
import { publishResults } from './publish-stage.js';
import { resolve } from './resolve-stage.js';
import { validate } from './validate.js';

export async function bake(options: BakeOptions, report: Reporter): Promise<{ manifest: Manifest; files: string[] }> {
  const startedAt = Date.now();
  const plan = await validate(options, report);
  // What the bake could not release (work dir, lock, loop devices, mounts) fails it with one
  // CleanupError after publishing; when a step failed, that error is the one reported.
  return withScope(async (scope) => {
    const ctx = await openBakeContext(options, report, scope, startedAt);
    const release = await resolve(ctx, plan);
    // fetch hands the base image to verify + decompress as it arrives (verify-stage.ts)
    const fetched = await fetchInputs(ctx, plan, release);
    const staged = await locateAndStage(ctx, plan, fetched);
    const injected = await inject(ctx, plan, fetched, staged);
    const vendors = await convert(ctx, plan, fetched, staged, injected);
    const outputs = await digest(ctx, fetched, staged, injected, vendors);
    return publishResults(ctx, plan, fetched, injected, vendors, outputs);
  }, (what, error) => report.warn(`could not ${what}: ${(error as Error).message}`));
}
