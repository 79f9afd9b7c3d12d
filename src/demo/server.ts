/**
 * A small static file server on 127.0.0.1 for synthetic releases: streams
 * files (8 GiB images never sit in memory), answers HEAD and single byte
 * ranges, stays inside its root, and can misbehave on purpose (faults) so
 * tests see how a client copes with drops, errors, ignored ranges and slowness.
 */
import { createReadStream, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export type Fault =
  /** Send headers and `bytes` body bytes, then destroy the connection. */
  | { kind: 'drop-after'; bytes: number; times?: number }
  /** Answer with this status and a short text body instead of the file. */
  | { kind: 'status'; status: number; times?: number; retryAfter?: number }
  /** Answer 200 with the whole file even when a Range was asked for. */
  | { kind: 'ignore-range'; times?: number }
  /** Announce the full length, send `bytes`, then close the connection cleanly. */
  | { kind: 'truncate'; bytes: number; times?: number }
  /** Wait before answering. */
  | { kind: 'delay'; ms: number; times?: number }
  /** Answer with a redirect (302 unless `status` says otherwise) to `location`, followed or not. */
  | { kind: 'redirect'; location: string; status?: number; times?: number };

export interface RequestRecord {
  method: string;
  /** The decoded URL path, as it was asked for. */
  path: string;
  range?: string;
  status: number;
  /** The fault applied to this request, if any. */
  fault?: Fault['kind'];
}

export interface ServeStaticOptions {
  /** Faults by URL path (`/stable/amd64-usr/4459.2.1/version.txt`). */
  faults?: Map<string, Fault> | Record<string, Fault>;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
}

export interface StaticServer {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  port: number;
  root: string;
  /** Every request in arrival order. */
  requests: RequestRecord[];
  /** Set a fault for a path; `times` (if given) counts down from now. */
  /** Set faults for a path, applied in order (each for its `times` requests). */
  setFault(urlPath: string, fault: Fault, ...then: Fault[]): void;
  clearFault(urlPath: string): void;
  clearFaults(): void;
  close(): Promise<void>;
}

interface ActiveFault {
  fault: Fault;
  remaining: number;
}

function faultKey(urlPath: string): string {
  return urlPath.startsWith('/') ? urlPath : `/${urlPath}`;
}

type ByteRange = { start: number; end: number };

/** Parse one `bytes=` range against the size: a range, 'unsatisfiable', or undefined (ignore the header). */
export function parseRange(header: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Multiple ranges and other units are legal to ignore: the client then gets the whole file.
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

function etagOf(st: Stats): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

export async function serveStatic(root: string, options: ServeStaticOptions = {}): Promise<StaticServer> {
  const realRoot = await realpath(path.resolve(root));
  const requests: RequestRecord[] = [];
  // Per path, faults apply in order: each for its `times` requests, then the next one.
  const faults = new Map<string, ActiveFault[]>();
  const add = (p: string, fault: Fault, ...then: Fault[]) => faults.set(faultKey(p), [fault, ...then].map((f) => ({ fault: f, remaining: f.times ?? Infinity })));
  const initial = options.faults instanceof Map ? [...options.faults] : Object.entries(options.faults ?? {});
  for (const [p, f] of initial) add(p, f);
  const timers = new Set<NodeJS.Timeout>();

  /** Map a URL path to a file inside the root, or a status explaining why not. */
  const resolveFile = async (urlPath: string): Promise<{ file: string; st: Stats } | { status: number }> => {
    const segments = urlPath.split('/');
    // Refuse dot-dot outright instead of normalising it away: a client asking for it is wrong.
    if (segments.some((s) => s === '..') || urlPath.includes('\0') || urlPath.includes('\\')) return { status: 403 };
    const candidate = path.resolve(realRoot, '.' + path.posix.normalize(urlPath));
    if (candidate !== realRoot && !candidate.startsWith(realRoot + path.sep)) return { status: 403 };
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      return { status: 404 };
    }
    // Symlinks are followed only while they stay inside the root.
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) return { status: 403 };
    const st = await stat(real);
    if (!st.isFile()) return { status: 404 };
    return { file: real, st };
  };

  const takeFault = (urlPath: string, method: string): Fault | undefined => {
    const active = faults.get(faultKey(urlPath))?.find((f) => f.remaining > 0);
    if (!active) return undefined;
    // A HEAD has no body to cut or range to ignore: leave those faults for the GET that follows.
    if (method === 'HEAD' && !['status', 'delay', 'redirect'].includes(active.fault.kind)) return undefined;
    active.remaining -= 1;
    return active.fault;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, record: RequestRecord) => {
    const finish = (status: number, body?: string, headers: http.OutgoingHttpHeaders = {}) => {
      record.status = status;
      const text = body ?? `${status} ${http.STATUS_CODES[status] ?? ''}\n`;
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return finish(405, undefined, { Allow: 'GET, HEAD' });

    let fault = takeFault(record.path, req.method);
    if (fault?.kind === 'delay') {
      record.fault = 'delay';
      const ms = fault.ms;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, ms);
        timers.add(t);
      });
      if (res.destroyed) return;
      fault = undefined;
    }
    if (fault?.kind === 'redirect') {
      record.fault = 'redirect';
      return finish(fault.status ?? 302, undefined, { Location: fault.location });
    }
    if (fault?.kind === 'status') {
      record.fault = 'status';
      return finish(fault.status, undefined, fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {});
    }

    const found = await resolveFile(record.path);
    if ('status' in found) return finish(found.status);
    const { file, st } = found;
    const etag = etagOf(st);
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Last-Modified': st.mtime.toUTCString(),
    };
    if (req.headers['if-none-match'] === etag && !fault) {
      record.status = 304;
      res.writeHead(304, headers);
      return res.end();
    }

    let range: ByteRange | 'unsatisfiable' | undefined;
    const rangeHeader = req.headers.range;
    const ifRange = req.headers['if-range'];
    // If-Range with a stale validator means "send it all": the client's partial copy is outdated.
    const rangeAllowed = ifRange === undefined || ifRange === etag || ifRange === headers['Last-Modified'];
    if (rangeHeader && rangeAllowed && fault?.kind !== 'ignore-range') range = parseRange(rangeHeader, st.size);
    if (fault?.kind === 'ignore-range') record.fault = 'ignore-range';
    if (range === 'unsatisfiable') return finish(416, undefined, { 'Content-Range': `bytes */${st.size}` });

    const start = range?.start ?? 0;
    const end = range?.end ?? st.size - 1;
    const length = st.size === 0 ? 0 : end - start + 1;
    const status = range ? 206 : 200;
    record.status = status;
    res.writeHead(status, { ...headers, 'Content-Length': length, ...(range ? { 'Content-Range': `bytes ${start}-${end}/${st.size}` } : {}) });
    if (req.method === 'HEAD' || length === 0) return res.end();

    if (fault?.kind === 'drop-after' || fault?.kind === 'truncate') {
      record.fault = fault.kind;
      const kind = fault.kind;
      const send = Math.min(fault.bytes, length);
      const cut = () => {
        if (kind === 'drop-after') res.socket?.destroy();
        else res.socket?.end();
      };
      // With nothing to send, the headers alone are the write to wait for.
      if (send === 0) return void res.write('', cut);
      // Cut only once every sent byte has been handed to the socket, or the client would get fewer.
      let flushed = 0;
      const stream = createReadStream(file, { start, end: start + send - 1 });
      stream.on('error', () => res.destroy());
      res.on('close', () => stream.destroy());
      stream.on('data', (chunk) => {
        const n = chunk.length;
        const ok = res.write(chunk, () => {
          flushed += n;
          if (flushed >= send) cut();
        });
        if (!ok) {
          stream.pause();
          res.once('drain', () => stream.resume());
        }
      });
      return;
    }

    const stream = createReadStream(file, { start, end });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };

  const server = http.createServer((req, res) => {
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawPath);
    } catch {
      decoded = rawPath;
    }
    const record: RequestRecord = { method: req.method ?? '?', path: decoded, status: 0 };
    if (req.headers.range) record.range = req.headers.range;
    requests.push(record);
    if (!decoded.startsWith('/')) {
      record.status = 400;
      res.writeHead(400).end();
      return;
    }
    handle(req, res, record).catch(() => {
      record.status = 500;
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  // Keep-alive sockets would otherwise hold close() open.
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    root: realRoot,
    requests,
    setFault: add,
    clearFault: (p) => void faults.delete(faultKey(p)),
    clearFaults: () => faults.clear(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
