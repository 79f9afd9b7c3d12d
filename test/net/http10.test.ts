import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from '../../src/net/download.js';
import type { ProgressSink } from '../../src/net/progress.js';
import { serveHttp10, type Http10Server } from './http10-server.js';

/** Holds the event loop a moment per chunk: the download then reads slower than the server sends. */
function slowConsumer(msPerChunk: number): ProgressSink {
  const wait = () => {
    const until = Date.now() + msPerChunk;
    while (Date.now() < until) {
      /* busy: a sync pause, so the socket is not read meanwhile */
    }
  };
  const task = { update: wait, advance: wait, succeed: () => undefined, fail: () => undefined };
  return { start: () => task } as unknown as ProgressSink;
}

/**
 * undici 7 could die with an uncatchable `assert(!this.paused)` when an HTTP/1.0 server closed the
 * connection after the body while the client was paused by backpressure (nodejs/undici#5360).
 */
describe('downloads from an HTTP/1.0 server that closes after each body, read by a slow consumer', () => {
  let dir: string;
  let server: Http10Server;
  let body: Buffer;
  beforeAll(async () => {
    dir = path.join(os.tmpdir(), `flatbake-http10-${process.pid}`);
    await mkdir(path.join(dir, 'www'), { recursive: true });
    body = randomBytes(24 << 20);
    await writeFile(path.join(dir, 'www', 'image.bin.bz2'), body);
    server = await serveHttp10(path.join(dir, 'www'));
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gets every byte, every time, and the server saw the client hold it back', async () => {
    const sha256 = createHash('sha256').update(body).digest('hex');
    for (let i = 0; i < 4; i++) {
      const dest = path.join(dir, `got-${i}`);
      const result = await download(
        { url: `${server.url}/image.bin.bz2`, dest, label: 'image.bin.bz2', expectedSha256: sha256 },
        { progress: slowConsumer(2), retries: 0 },
      );
      expect(result?.sha256).toBe(sha256);
      expect((await readFile(dest)).equals(body)).toBe(true);
    }
    expect(server.backpressured).toBe(true);
  });

  it('a 404 from it is a clean NetworkError', async () => {
    await expect(download({ url: `${server.url}/missing`, dest: path.join(dir, 'missing'), label: 'missing' }, { retries: 0 })).rejects.toThrow(/not found: /);
  });
});
