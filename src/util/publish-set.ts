import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Publishing a set of files as one unit, where the directory they go to may hold other files
 * (so it cannot be swapped whole). The files are staged in a scratch dir inside the target
 * dir (same filesystem: renames, no copies). A journal written into the scratch dir before the
 * first rename says "this set goes in"; from then on, whoever finds the journal finishes the
 * publish: the run itself, or, when it was killed, the next run that reaps its scratch dir. So a
 * kill before the journal leaves the previous complete set, and a kill after it the new set,
 * completed by the next run before it does anything else in that directory.
 */
export const PUBLISH_JOURNAL = 'publishing.json';

interface Journal {
  /** The file names, the marker of completeness (the manifest) last. */
  files: string[];
}

/** Publishes the staged FILES of STAGE into its parent dir, MARKER (staged too) last. */
export async function publishSet(stage: string, files: readonly string[], marker: string): Promise<string[]> {
  const journal: Journal = { files: [...files, marker] };
  const tmp = path.join(stage, `${PUBLISH_JOURNAL}.tmp`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(journal)}\n`);
    // On disk before any rename: a crash must not find renamed files without their journal.
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path.join(stage, PUBLISH_JOURNAL));
  return (await finishPublish(stage))!;
}

/**
 * Finishes the publish STAGE's journal describes, if any (idempotent: a kill during it is
 * finished by the next call): the old marker goes first, then each file still staged is renamed
 * into place, the new marker last, then the journal goes. Returns the published paths, or
 * undefined when STAGE holds no journal (nothing was begun: the target is as it was).
 */
export async function finishPublish(stage: string): Promise<string[] | undefined> {
  const text = await readFile(path.join(stage, PUBLISH_JOURNAL), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const { files } = JSON.parse(text) as Journal;
  const dir = path.dirname(stage);
  const marker = files.at(-1)!;
  const staged = async (name: string) => (await open(path.join(stage, name), 'r').then((h) => h.close().then(() => true), () => false));
  if (await staged(marker)) {
    // The old marker describes other bytes: it goes before the first new file arrives.
    await rm(path.join(dir, marker), { force: true });
    for (const name of files) {
      if (await staged(name)) await rename(path.join(stage, name), path.join(dir, name));
    }
  }
  await rm(path.join(stage, PUBLISH_JOURNAL), { force: true });
  return files.map((name) => path.join(dir, name));
}
