/**
 * Step 8, digest: the generic image's chunked SHA-256 (pieces the bake cannot have changed are
 * the base's, hashed while it ran), and the base into the cache with its piece digests.
 */
import { stat } from 'node:fs/promises';
import { IMAGE_FILE } from '../defaults.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import { chunkedSha256, DIGEST_CHUNK, pieceDigests } from '../util/chunked-digest.js';
import { sha256SparseFile } from '../util/hash.js';
import type { VendorResult } from '../platforms/index.js';
import type { BakeContext } from './context.js';
import type { Fetched } from './fetch-stage.js';
import type { Injected } from './inject-stage.js';
import type { Staged } from './locate-stage.js';
import type { ManifestOutput } from './manifest.js';
import { keepBase } from './verify-stage.js';

/** A finished file in the work dir, and what the manifest says about it. */
export type OutputFile = ManifestOutput & { workFile: string };

/** The generic image (when asked for), then each vendor's files, described for the manifest. */
export async function digest(ctx: BakeContext, fetched: Fetched, staged: Staged, injected: Pick<Injected, 'table'>, vendors: readonly VendorResult[]): Promise<OutputFile[]> {
  const outputs: OutputFile[] = [];
  const basePieces = await staged.basePieces;
  // A generic image that could not hold the sysexts failed (convert's results say so): not published.
  const genericFailed = vendors.some((r) => r.vendor === 'generic' && !r.ok);
  if (basePieces && !genericFailed) {
    const rootSize = locateFlatcarPartition(injected.table, 'ROOT').sizeBytes;
    outputs.push({ ...(await describeImage(ctx, staged.image, IMAGE_FILE, basePieces)), rootSize });
  }
  await keepBase(ctx, fetched.base.image, basePieces);
  for (const result of vendors) {
    for (const o of result.outputs) {
      outputs.push({ vendor: result.vendor, file: o.file, sha256: o.sha256, size: o.size, ...(o.rootSize ? { rootSize: o.rootSize } : {}), ...(o.aliases ? { aliases: o.aliases } : {}), workFile: o.workFile });
    }
  }
  return outputs;
}

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
): Promise<OutputFile> {
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
