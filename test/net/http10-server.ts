import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * A static file server that speaks HTTP/1.0 the way `python3 -m http.server` does (what many
 * air-gapped mirrors run): every answer is `HTTP/1.0`, with no keep-alive, Range ignored (the
 * whole file, 200), and the connection closed by the server right after the last body byte.
 * It writes as fast as the socket takes bytes and records whether the client held it back
 * (a write the kernel could not take at once), so a test can tell its client was a slow consumer.
 * Written on raw TCP: Node's http server would answer HTTP/1.1 and keep the connection open.
 */
export interface Http10Server {
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  /** Some write found the client's receive window full: the client applied backpressure. */
  backpressured: boolean;
  close(): Promise<void>;
}

export async function serveHttp10(root: string): Promise<Http10Server> {
  const realRoot = await realpath(root);
  const sockets = new Set<net.Socket>();
  const state = { backpressured: false, requests: [] as string[] };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      void answer(socket, head.slice(0, end).split('\r\n')[0] ?? '');
    };
    socket.on('data', onData);
  });

  const reply = (socket: net.Socket, status: string, text: string) => {
    socket.end(`HTTP/1.0 ${status}\r\nServer: SimpleHTTP/0.6 Python/3.11\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  };

  const answer = async (socket: net.Socket, requestLine: string) => {
    const [method, target] = requestLine.split(' ');
    const urlPath = decodeURIComponent((target ?? '/').split('?')[0] ?? '/');
    state.requests.push(urlPath);
    if (method !== 'GET') return reply(socket, '501 Unsupported method', 'unsupported\n');
    const file = path.join(realRoot, path.posix.normalize(urlPath));
    const real = await realpath(file).catch(() => undefined);
    const st = real && (real === realRoot || real.startsWith(realRoot + path.sep)) ? await stat(real).catch(() => undefined) : undefined;
    if (!real || !st?.isFile()) return reply(socket, '404 File not found', 'not found\n');
    socket.write(`HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11\r\nContent-Type: application/octet-stream\r\nContent-Length: ${st.size}\r\n\r\n`);
    const stream = createReadStream(real, { highWaterMark: 1 << 20 });
    stream.on('data', (chunk) => {
      if (!socket.write(chunk)) {
        state.backpressured = true;
        stream.pause();
        socket.once('drain', () => stream.resume());
      }
    });
    // Close right after the body, as HTTP/1.0 without keep-alive does.
    stream.on('end', () => socket.end());
    stream.on('error', () => socket.destroy());
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    get backpressured() {
      return state.backpressured;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
