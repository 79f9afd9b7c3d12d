import { open, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE } from '../defaults.js';
import type { DigestSnapshot } from '../image/sparse-writer.js';
import { sha256SparseFile } from '../util/hash.js';
import type { BakeContext } from './context.js';
import type { Manifest, ManifestOutput } from './manifest.js';

/** Hashes a finished file in the work dir and describes it for the manifest. */
export async function describeOutput(
  ctx: BakeContext,
  vendor: string,
  workFile: string,
  finalName: string,
  resume?: DigestSnapshot,
): Promise<ManifestOutput & { workFile: string }> {
  // Reading a file whose freshly copied pages are still being written back is several times
  // slower (measured: 21 s instead of 5 s for 8 GiB): flush it first, which costs a fraction of a second.
  const handle = await open(workFile, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
  const size = (await stat(workFile)).size;
  const task = ctx.report.progress.start(`digest ${finalName}`, size);
  const sha256 = await sha256SparseFile(workFile, (bytes) => task.advance(bytes), resume);
  task.succeed();
  return { vendor, file: finalName, sha256, size, workFile };
}

/**
 * Moves finished files from the work dir to their final names in --output
 * (same filesystem: rename is atomic), the manifest last, so a reader never
 * sees a partial result under a final name.
 */
export async function publish(ctx: BakeContext, outputs: Array<ManifestOutput & { workFile: string }>, manifest: Manifest): Promise<string[]> {
  const manifestWork = path.join(ctx.workDir, MANIFEST_FILE);
  await writeFile(manifestWork, `${JSON.stringify(manifest, null, 2)}\n`);
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
