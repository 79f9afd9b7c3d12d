/**
 * Step 9, publish: every finished file and the manifest renamed from the work dir into --output
 * as one set, the manifest last. A failed vendor fails the bake after the others are published.
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE } from '../defaults.js';
import type { VendorResult } from '../platforms/index.js';
import type { BakeContext } from './context.js';
import type { OutputFile } from './digest-stage.js';
import type { Fetched } from './fetch-stage.js';
import type { Injected } from './inject-stage.js';
import { buildManifest, PartialBakeError, type Manifest, type ManifestSysext } from './manifest.js';
import { replaySettings } from './replay.js';
import { bakeSummary } from './summary.js';
import type { BakePlan } from './validate.js';
import { publishSet } from '../util/publish-set.js';

export async function publishResults(
  ctx: BakeContext,
  plan: BakePlan,
  fetched: Fetched,
  injected: Injected,
  vendors: readonly VendorResult[],
  outputs: readonly OutputFile[],
): Promise<{ manifest: Manifest; files: string[] }> {
  const { base, sysexts } = fetched;
  const oemSysexts = fetched.oem.records();
  const failed = vendors.filter((r) => !r.ok).map((r) => ({ vendor: r.vendor, error: r.error?.message.split('\n')[0] ?? 'failed' }));
  const manifest = buildManifest({
    release: injected.release,
    base: { source: base.source, sha256: base.sha256, size: base.size, signature: base.signature },
    installTo: `${plan.target.partition}:${plan.target.dir}`,
    ...(injected.sysupdate ? { sysupdate: injected.sysupdate } : {}),
    sysexts: injected.sysexts.map((s) => {
      const d = sysexts.describe.get(s.name)!;
      return { ...s, source: d.source, sha256: d.sha256, size: d.size, sysupdateConfSha256: d.confSha256, ...(d.recipe ? { recipe: d.recipe } : {}) } satisfies ManifestSysext;
    }),
    vendors: plan.vendors,
    ...(oemSysexts.length ? { oemSysexts } : {}),
    ...(failed.length ? { failedVendors: failed } : {}),
    backend: plan.backend.name,
    settings: replaySettings(ctx.options),
    outputs: outputs.map(({ workFile: _workFile, ...output }) => output),
  });
  const files = outputs.length ? await publish(ctx, outputs, manifest) : [];
  if (files.length) {
    // An alias is a symlink: it adds no bytes of its own.
    const sizes = new Map(outputs.flatMap((o) => [[o.file, o.size] as const, ...(o.aliases ?? []).map((a) => [a, 0] as const)]));
    const described = await Promise.all(files.map(async (f) => ({ path: f, size: sizes.get(path.basename(f)) ?? (await stat(f)).size })));
    ctx.report.result(bakeSummary({ manifest, files: described, seconds: (Date.now() - ctx.startedAt) / 1000 }));
  }
  if (failed.length) {
    throw new PartialBakeError(
      `${failed.length} of ${plan.vendors.length} vendor image(s) failed: ${failed.map((f) => `${f.vendor} (${f.error})`).join('; ')}`,
      [injected.tooSmall && plan.selection.generic ? `generic: ${injected.tooSmall.hint}` : undefined, files.length ? `the others were written: ${files.map((f) => path.basename(f)).join(', ')}` : undefined]
        .filter(Boolean)
        .join('; ') || undefined,
      manifest,
    );
  }
  return { manifest, files };
}

/**
 * Moves finished files from the work dir to their final names in --output (same filesystem:
 * renames) as one set with the manifest, its marker of completeness (util/publish-set.ts): a
 * kill before the set's journal is written leaves the previous result, a kill after it the new
 * one, which the next bake into --output finishes before anything else. The bake holds the
 * --output lock meanwhile, so no other bake publishes into it at the same time.
 */
export async function publish(ctx: BakeContext, outputs: readonly OutputFile[], manifest: Manifest): Promise<string[]> {
  await writeFile(path.join(ctx.workDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  // Every file of the set under its final name at the top of the work dir (still private).
  for (const output of outputs) {
    // An alias is a relative symlink to its file: it moves along and stays valid beside it.
    for (const name of [...(output.aliases ?? []), output.file]) {
      const staged = path.join(ctx.workDir, name);
      const from = path.join(path.dirname(output.workFile), name);
      if (path.resolve(from) === path.resolve(staged)) continue;
      await rm(staged, { recursive: true, force: true });
      await rename(from, staged);
    }
  }
  // Aliases ahead of their file: publishSet tells a staged file by opening it, which follows the link to the still staged target.
  return publishSet(ctx.workDir, outputs.flatMap((o) => [...(o.aliases ?? []), o.file]), MANIFEST_FILE);
}
