import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const CHUNK = 1 << 20;

/**
 * Reads a file while another task is still appending to it (a download's `.part`), until
 * `finished` settles; then reads what is left and ends. The fd stays valid when the file is
 * renamed on completion. Rejects when `finished` rejects. The caller must check that what it
 * read is the final content (e.g. by digest): a download that restarted from zero may have
 * rewritten bytes already read.
 */
export async function* followGrowingFile(file: string, finished: Promise<unknown>, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let done = false;
  let failure: unknown;
  finished.then(
    () => (done = true),
    (error) => {
      done = true;
      failure = error ?? new Error('the download failed');
    },
  );
  let handle;
  while (!handle) {
    signal?.throwIfAborted();
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (failure) throw failure;
      if (done) return; // finished without ever creating it (e.g. answered from elsewhere)
      await sleep(20);
    }
  }
  try {
    let position = 0;
    for (;;) {
      signal?.throwIfAborted();
      if (failure) throw failure;
      const finalRound = done;
      const buffer = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
        continue;
      }
      if (finalRound) return;
      await sleep(20);
    }
  } finally {
    await handle.close();
  }
}
