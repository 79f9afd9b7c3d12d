import { rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE } from '../defaults.js';
import { chunkedSha256, DIGEST_CHUNK, pieceDigests } from '../util/chunked-digest.js';
import { sha256SparseFile } from '../util/hash.js';
import type { BakeContext } from './context.js';
import type { Manifest, ManifestOutput } from './manifest.js';

/** A byte range of the image the bake may have written (a partition). */
export interface ChangedRange {
  startByte: number;
  sizeBytes: number;
}

/** Whether the bake cannot have changed digest piece `i` (it lies outside every changed range). */
function untouchedPiece(changed: readonly ChangedRange[]): (i: number) => boolean {
  return (i) => {
    const start = i * DIGEST_CHUNK;
    const end = start + DIGEST_CHUNK;
    return changed.every((r) => end <= r.startByte || start >= r.startByte + r.sizeBytes);
  };
}

/**
 * The digests of the base image's pieces that hold data and lie outside the changed ranges:
 * those the cache knows as they are, the others hashed from the base (which the bake never
 * writes, so this runs while the bake edits its copy).
 */
export async function untouchedBasePieces(base: { path: string; chunks?: Map<number, string> }, changed: readonly ChangedRange[]): Promise<Map<number, string>> {
  return pieceDigests(base.path, { wanted: untouchedPiece(changed), known: (i) => base.chunks?.get(i) });
}

/**
 * Digests the baked image in the work dir for the manifest: the chunked SHA-256, where pieces
 * that are holes cost nothing and pieces outside the changed ranges are the base's
 * (`basePieces`), plus the plain SHA-256 with --full-digest.
 */
export async function describeImage(
  ctx: BakeContext,
  workFile: string,
  finalName: string,
  /** From untouchedBasePieces: only pieces outside the changed ranges. */
  basePieces: Map<number, string>,
): Promise<ManifestOutput & { workFile: string }> {
  // No flush first: the extent map of ext4, XFS and btrfs lists data not yet written back
  // (delayed allocation) too, and flushing 400+ MB would cost more than the whole digest.
  const size = (await stat(workFile)).size;
  const task = ctx.report.progress.start(`digest ${finalName}`, size);
  const digest = await chunkedSha256(workFile, {
    known: (i) => basePieces.get(i),
    onBytes: (bytes) => task.advance(bytes),
  });
  task.succeed();
  let sha256: string | undefined;
  if (ctx.options.fullDigest) {
    const full = ctx.report.progress.start(`full SHA-256 of ${finalName}`, size);
    sha256 = await sha256SparseFile(workFile, (bytes) => full.advance(bytes));
    full.succeed();
  }
  return { vendor: 'generic', file: finalName, ...(sha256 ? { sha256 } : {}), chunkedSha256: digest.sha256, size, workFile };
}

/**
 * Moves finished files from the work dir to their final names in --output
 * (same filesystem: rename is atomic). The manifest is the marker of a complete result: the old
 * one goes first and the new one comes last, so a kill in between leaves images without a
 * manifest, never new images beside an old manifest that describes other bytes. The bake holds
 * the --output lock meanwhile, so no other bake publishes into it at the same time.
 */
export async function publish(ctx: BakeContext, outputs: Array<ManifestOutput & { workFile: string }>, manifest: Manifest): Promise<string[]> {
  const manifestWork = path.join(ctx.workDir, MANIFEST_FILE);
  await writeFile(manifestWork, `${JSON.stringify(manifest, null, 2)}\n`);
  await rm(path.join(ctx.options.output, MANIFEST_FILE), { force: true });
  const published: string[] = [];
  for (const output of outputs) {
    const finalPath = path.join(ctx.options.output, output.file);
    await rename(output.workFile, finalPath);
    published.push(finalPath);
  }
  const manifestPath = path.join(ctx.options.output, MANIFEST_FILE);
  await rename(manifestWork, manifestPath);
  published.push(manifestPath);
  return published;
}
