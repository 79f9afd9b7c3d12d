import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stat } from 'node:fs/promises';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void | Promise<void>;

export interface TestServer {
  base: string;
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 with a random port that records every request it sees. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const index = seen.length;
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    Promise.resolve(handler(req, res, index)).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers with `body` and honours `Range: bytes=N-` (206), like a static file server. */
export function serveRange(res: ServerResponse, req: IncomingMessage, body: Buffer, etag = '"v1"'): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  const rangeOk = m !== null && (ifRange === undefined || ifRange === etag);
  if (rangeOk && m) {
    const start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      res.end();
      return;
    }
    res.writeHead(206, {
      'content-length': body.length - start,
      'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      etag,
    });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, etag, 'accept-ranges': 'bytes' });
  res.end(body);
}

/**
 * Announces the whole body, sends only its first `n` bytes, then drops the
 * connection. `settled` should resolve once the client has stored those bytes:
 * data still buffered in the client when the connection fails is lost, so
 * without it the cut would land at an unpredictable offset.
 */
export function sendTruncated(
  res: ServerResponse,
  body: Buffer,
  n: number,
  options: { status?: number; headers?: Record<string, string | number>; settled?: () => Promise<void> } = {},
): void {
  res.writeHead(options.status ?? 200, { 'content-length': body.length, ...options.headers });
  res.write(body.subarray(0, n), () => {
    void (options.settled ?? (async () => undefined))().then(() => res.socket?.destroy());
  });
}

/** Resolves once `path` exists with at least `size` bytes. */
export async function waitForSize(path: string, size: number): Promise<void> {
  for (;;) {
    const st = await stat(path).catch(() => undefined);
    if (st !== undefined && st.size >= size) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
