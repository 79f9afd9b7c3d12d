import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EnvHttpProxyAgent, interceptors, type Dispatcher } from 'undici';
import { FlatbakeError, NetworkError } from '../errors.js';

/**
 * What the downloader (download.ts) needs of HTTP and of the local disk, apart from its state
 * machine: undici's dispatcher with proxies and redirects, the response headers it reads, which
 * failures are worth another attempt, and the errors that name a local file. Kept apart so that
 * download.ts reads as one transfer's life.
 */

/** A failure worth another attempt: connection trouble, 5xx/429, short body. */
export class TransientError extends NetworkError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, undefined, options);
  }
}

/** Carries a local file-system error through the body loop untouched. */
export class LocalWriteFailure {
  constructor(readonly error: unknown) {}
}

export const DEFAULT_RETRIES = 5;
export const DEFAULT_BACKOFF_MS = 500;
export const DEFAULT_MAX_BACKOFF_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const MAX_REDIRECTIONS = 5;

export const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

export function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** undici reports redirect trouble as an invalid argument; say what it means. */
export function redirectProblem(err: unknown): string | undefined {
  const text = errorText(err) + ' ' + errorText((err as { cause?: unknown } | null)?.cause);
  if (/redirect loop/i.test(text)) return 'it redirects in a loop';
  if (/max(imum)? redirect|UND_ERR_MAX_REDIRECT/i.test(text) || errorCode(err) === 'UND_ERR_MAX_REDIRECTIONS') return `it redirects more than ${MAX_REDIRECTIONS} times`;
  if (/invalid url protocol/i.test(text)) return 'it redirects to a URL that is not http: or https:';
  return undefined;
}

/** A local file-system error while storing a download: one clear error naming the file. */
export function localFailure(err: unknown, file: string, label: string): unknown {
  const code = errorCode(err);
  if (code === undefined) return err;
  return new FlatbakeError(
    `cannot store ${label} in ${file}: ${code === 'ENOSPC' ? 'no space left on device' : errorText(err)}`,
    code === 'ENOSPC' || code === 'EDQUOT'
      ? `free space in ${dirname(file)}, or point --cache-dir (downloads go there) elsewhere, or use --no-cache`
      : `check that ${dirname(file)} is writable`,
    { cause: err },
  );
}

export interface SharedDispatcher {
  dispatcher: Dispatcher;
  close(): Promise<void>;
}

/**
 * Honour HTTP(S)_PROXY/NO_PROXY (mirrors in closed networks often sit behind
 * one) and follow redirects (release servers redirect to storage buckets).
 */
export function createDispatcher(timeoutMs: number): SharedDispatcher {
  const agent = new EnvHttpProxyAgent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connect: { timeout: timeoutMs } });
  const dispatcher = agent.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS }));
  return { dispatcher, close: () => agent.destroy().catch(() => undefined) };
}

export function parseContentRange(value: string | undefined): { start: number; end: number; total: number | undefined } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** Total size from `bytes *\/N` (the form a 416 uses). */
export function parseUnsatisfiedRange(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^bytes\s+\*\/(\d+)$/i.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}

export function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function retryAfterMs(res: Dispatcher.ResponseData): number | undefined {
  const v = header(res, 'retry-after');
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const when = Date.parse(v);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

export async function drain(res: Dispatcher.ResponseData): Promise<void> {
  // Reading (a bounded amount of) the body lets the connection be reused.
  await res.body.dump().catch(() => undefined);
}

export async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await fh.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}

export async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}
