import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { request, type Dispatcher } from 'undici';
import { FlatbakeError, InputError, NetworkError, VerificationError } from '../errors.js';
import { commitFile } from '../util/atomic-write.js';
import { VERSION } from '../version.js';
import { createDispatcher, DEFAULT_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, drain, errorCode, errorText, hashFile, header, localFailure, LocalWriteFailure, parseContentRange, parseUnsatisfiedRange, redirectProblem, retryAfterMs, TRANSIENT_CODES, TransientError, writeAll } from './http.js';
import { applyMirror } from './mirror.js';
import { silentProgress, type ProgressSink, type ProgressTask } from './progress.js';

export interface DownloadRequest {
  url: string;
  /** Final path; bytes go to `dest + '.part'` until the file is complete and verified. */
  dest: string;
  /** Short name for progress and messages ("flatcar_production_image.bin.bz2"). */
  label: string;
  expectedSize?: number;
  /** Lower- or upper-case hex. */
  expectedSha256?: string;
  /** A 404/410 resolves to `undefined` instead of failing (files such as NAME.conf). */
  optional?: boolean;
  /**
   * Whether the finished file reaches the disk (fsync) before it takes its name; default true.
   * False for files proven again by every reader (the cache's blobs) or used only by this run
   * (a work dir): a crash that tears one costs a download, and the flush cost the cold bake
   * its base image's 400+ MB written out while it decompressed.
   */
  durable?: boolean;
}

export interface RetryInfo {
  url: string;
  label: string;
  /** The attempt that just failed (1-based). */
  attempt: number;
  maxAttempts: number;
  delayMs: number;
  reason: string;
}

export interface DownloadOptions {
  mirror?: string;
  /** Retries after the first attempt. Default 5. */
  retries?: number;
  /** First backoff delay; doubles per retry up to `maxBackoffMs`. Default 500. */
  backoffMs?: number;
  /** Default 30 000. */
  maxBackoffMs?: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
  /** Connect, response-header and body-idle timeout. Default 60 000. */
  timeoutMs?: number;
  /** Told about each retry before the wait, e.g. to log it. */
  onRetry?: (info: RetryInfo) => void;
}

export interface DownloadAllOptions extends DownloadOptions {
  /** Parallel downloads. Default 4. */
  concurrency?: number;
}

export interface DownloadResult {
  path: string;
  size: number;
  /** Lower-case hex. */
  sha256: string;
  /** The URL actually requested (after --mirror). */
  url: string;
  /** Some bytes of the file came from an earlier attempt or run (Range request). */
  resumed: boolean;
  /**
   * The `.part` file was cut back to empty at least once (a stale or bad head, a server that
   * ignored Range). When false it only ever grew at its end, so a reader that followed it while
   * it grew and read `size` bytes read exactly the final file.
   */
  rewritten: boolean;
  attempts: number;
}


type AttemptOutcome = 'complete' | 'absent';

/** One file: the state that survives from attempt to attempt. */
class Transfer {
  private readonly part: string;
  private readonly expectedSha256: string | undefined;
  private size = 0;
  private hash: Hash = createHash('sha256');
  private total: number | undefined;
  /** Strong ETag or Last-Modified of the bytes already in the .part, for If-Range. */
  private validator: string | undefined;
  private resumed = false;
  private rewritten = false;
  private task: ProgressTask | undefined;

  constructor(
    private readonly req: DownloadRequest,
    private readonly url: string,
    private readonly opts: DownloadOptions,
    private readonly dispatcher: Dispatcher,
  ) {
    this.part = `${req.dest}.part`;
    if (req.expectedSha256 !== undefined) {
      const hex = req.expectedSha256.trim().toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new InputError(`not a SHA-256 digest for ${req.label}: ${req.expectedSha256}`);
      this.expectedSha256 = hex;
    }
    if (req.expectedSize !== undefined && !(Number.isSafeInteger(req.expectedSize) && req.expectedSize >= 0)) {
      throw new InputError(`bad expected size for ${req.label}: ${req.expectedSize}`);
    }
  }

  /** Picks up a .part left by an earlier run: its bytes are hashed so the digest covers the whole file. */
  async loadLeftover(): Promise<void> {
    let size: number;
    try {
      size = (await stat(this.part)).size;
    } catch {
      return;
    }
    if (this.req.expectedSize !== undefined && size > this.req.expectedSize) {
      await this.reset();
      return;
    }
    await hashFile(this.part, this.hash);
    this.size = size;
  }

  private async reset(): Promise<void> {
    // Only cutting bytes that were there counts: a first download also starts from here.
    const had = await stat(this.part).then((st) => st.size, () => 0);
    if (had > 0 || this.size > 0) this.rewritten = true;
    await truncate(this.part, 0).catch((err: unknown) => {
      if (errorCode(err) !== 'ENOENT') throw err;
    });
    this.size = 0;
    this.hash = createHash('sha256');
    this.validator = undefined;
    this.resumed = false;
  }

  private async discard(): Promise<void> {
    await rm(this.part, { force: true });
  }

  private truncatedMessage(total: number): string {
    return `truncated download of ${this.url}: got ${this.size} of ${total} bytes`;
  }

  private showProgress(): void {
    const total = this.total ?? this.req.expectedSize;
    if (this.task === undefined) {
      this.task = (this.opts.progress ?? silentProgress).start(this.req.label, total);
      if (this.size > 0) this.task.update(this.size, total);
    } else {
      this.task.update(this.size, total);
    }
  }

  private networkFailure(err: unknown, during: string): unknown {
    const signal = this.opts.signal;
    if (signal?.aborted) return signal.reason ?? err;
    if (err instanceof FlatbakeError) return err;
    const code = errorCode(err);
    if (code !== undefined && TRANSIENT_CODES.has(code)) {
      const announced = this.total ?? this.req.expectedSize;
      if (during === 'body' && announced !== undefined) {
        return new TransientError(`${this.truncatedMessage(announced)} (${errorText(err)})`, undefined, { cause: err });
      }
      return new TransientError(`cannot fetch ${this.url}: ${errorText(err)} [${code}]`, undefined, { cause: err });
    }
    const redirect = redirectProblem(err);
    if (redirect !== undefined) {
      return new NetworkError(`cannot fetch ${this.url}: ${redirect}`, 'the server (or a proxy) redirects this file somewhere flatbake does not follow; check the URL or --mirror');
    }
    return new NetworkError(
      `cannot fetch ${this.url}: ${errorText(err)}${code ? ` [${code}]` : ''}`,
      'check the URL, DNS and any proxy settings (HTTPS_PROXY, NO_PROXY); with --mirror, check the mirror URL',
      { cause: err },
    );
  }

  /** One request. Resolves when the .part holds the whole body; throws TransientError to ask for another try. */
  async attempt(): Promise<AttemptOutcome> {
    const headers: Record<string, string> = {
      'user-agent': `flatbake/${VERSION}`,
      // The digest is of the bytes as stored; a transparently compressed body would not match.
      'accept-encoding': 'identity',
    };
    const ranged = this.size > 0;
    if (ranged) {
      headers['range'] = `bytes=${this.size}-`;
      if (this.validator !== undefined) headers['if-range'] = this.validator;
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.url, { method: 'GET', headers, dispatcher: this.dispatcher, signal: this.opts.signal });
    } catch (err) {
      throw this.networkFailure(err, 'connect');
    }
    const status = res.statusCode;

    if (status === 404 || status === 410) {
      await drain(res);
      await this.discard();
      if (this.req.optional) return 'absent';
      throw new NetworkError(
        `not found: ${this.url}`,
        this.opts.mirror
          ? 'the mirror does not have this file: copy it there as <mirror>/HOST/PATH'
          : 'check the release/version, architecture and file name; the server does not have this file',
      );
    }
    if (status === 429 || status >= 500) {
      const after = retryAfterMs(res);
      await drain(res);
      throw new TransientError(`HTTP ${status} from ${this.url}`, after);
    }
    if (status === 416 && ranged) {
      const total = parseUnsatisfiedRange(header(res, 'content-range'));
      await drain(res);
      if (total !== undefined && total === this.size) {
        // The .part already holds every byte.
        this.total = total;
        this.resumed = true;
        this.showProgress();
        return 'complete';
      }
      await this.reset();
      throw new TransientError(`${this.url}: server refused to resume at byte ${this.size}; starting over`, 0);
    }

    let append: boolean;
    if (status === 200) {
      append = false;
      const length = header(res, 'content-length');
      this.total = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    } else if (status === 206) {
      const range = parseContentRange(header(res, 'content-range'));
      if (!ranged || range === undefined || range.start !== this.size) {
        await drain(res);
        await this.reset();
        throw new TransientError(`${this.url}: partial content at an unexpected offset; starting over`, 0);
      }
      append = true;
      this.total = range.total;
    } else {
      await drain(res);
      throw new NetworkError(
        `HTTP ${status} for ${this.url}`,
        status === 401 || status === 403 ? 'the server refused access to this file' : undefined,
      );
    }

    if (this.total !== undefined && this.req.expectedSize !== undefined && this.total !== this.req.expectedSize) {
      await drain(res);
      await this.discard();
      throw new VerificationError(
        `size mismatch for ${this.req.label}: expected ${this.req.expectedSize} bytes, ${this.url} has ${this.total}`,
      );
    }

    if (!append) {
      await this.reset();
    } else {
      this.resumed = true;
    }
    const validator = this.validatorOf(res);
    if (!append || this.validator === undefined) this.validator = validator;
    this.showProgress();

    const limit = this.total ?? this.req.expectedSize;
    const fh = await open(this.part, append ? 'a' : 'w').catch((err: unknown) => {
      res.body.destroy();
      throw localFailure(err, this.part, this.req.label);
    });
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        if (limit !== undefined && this.size + buf.length > limit) {
          res.body.destroy();
          await this.reset();
          if (this.total === undefined) {
            await this.discard();
            throw new VerificationError(`size mismatch for ${this.req.label}: ${this.url} sends more than the expected ${limit} bytes`);
          }
          throw new TransientError(`${this.url}: server sent more than the announced ${limit} bytes; starting over`);
        }
        try {
          await writeAll(fh, buf);
        } catch (err) {
          throw new LocalWriteFailure(err);
        }
        this.hash.update(buf);
        this.size += buf.length;
        this.task?.advance(buf.length);
      }
    } catch (err) {
      if (err instanceof LocalWriteFailure) throw localFailure(err.error, this.part, this.req.label);
      throw this.networkFailure(err, 'body');
    } finally {
      await fh.close();
    }

    const announced = this.total ?? this.req.expectedSize;
    if (announced !== undefined && this.size < announced) throw new TransientError(this.truncatedMessage(announced));
    return 'complete';
  }

  private validatorOf(res: Dispatcher.ResponseData): string | undefined {
    // If-Range needs a strong validator; a weak ETag would make the server ignore the Range.
    const etag = header(res, 'etag');
    if (etag !== undefined && !etag.startsWith('W/')) return etag;
    return header(res, 'last-modified');
  }

  async run(): Promise<DownloadResult | undefined> {
    const retries = this.opts.retries ?? DEFAULT_RETRIES;
    const base = this.opts.backoffMs ?? DEFAULT_BACKOFF_MS;
    const cap = this.opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    const maxAttempts = retries + 1;
    const signal = this.opts.signal;
    let attempts = 0;
    let step = 0;
    let freshRetryDone = false;

    await mkdir(dirname(this.req.dest), { recursive: true });
    signal?.throwIfAborted();
    await this.loadLeftover();

    try {
      for (;;) {
        attempts++;
        const before = this.size;
        let outcome: AttemptOutcome;
        try {
          outcome = await this.attempt();
        } catch (err) {
          if (!(err instanceof TransientError) || signal?.aborted) throw err;
          // A truncated/failed final attempt still leaves the .part for the next run to resume.
          if (attempts >= maxAttempts) throw new NetworkError(`${err.message} (after ${attempts} attempts)`, undefined, { cause: err });
          // Progress means the link works; no reason to keep growing the wait.
          if (this.size > before) step = 0;
          let delay = err.retryAfterMs === 0 ? 0 : Math.min(cap, base * 2 ** step);
          delay = delay / 2 + (Math.random() * delay) / 2; // jitter: parallel downloads do not retry in lockstep
          if (err.retryAfterMs !== undefined && err.retryAfterMs > 0) delay = Math.max(delay, Math.min(err.retryAfterMs, cap));
          step++;
          this.opts.onRetry?.({ url: this.url, label: this.req.label, attempt: attempts, maxAttempts, delayMs: delay, reason: err.message });
          try {
            await sleep(delay, undefined, { signal });
          } catch (sleepErr) {
            throw signal?.reason ?? sleepErr;
          }
          continue;
        }
        if (outcome === 'absent') return undefined;

        const sha256 = this.hash.copy().digest('hex');
        if (this.expectedSha256 !== undefined && sha256 !== this.expectedSha256) {
          // A resumed file may have a stale head (the server's file changed and gave
          // us no validator); one full download settles whether the server is wrong.
          if (this.resumed && !freshRetryDone) {
            freshRetryDone = true;
            await this.reset();
            continue;
          }
          await this.discard();
          throw new VerificationError(
            `SHA-256 mismatch for ${this.req.label} (${this.req.dest}): expected ${this.expectedSha256}, got ${sha256}`,
            `the file at ${this.url} is not the expected one; it was deleted`,
          );
        }
        await commitFile(this.part, this.req.dest, { sync: this.req.durable ?? true });
        this.task?.succeed();
        return { path: this.req.dest, size: this.size, sha256, url: this.url, resumed: this.resumed, rewritten: this.rewritten, attempts };
      }
    } catch (err) {
      this.task?.fail(errorText(err));
      throw err;
    }
  }
}

async function downloadWith(dispatcher: Dispatcher, req: DownloadRequest, options: DownloadOptions): Promise<DownloadResult | undefined> {
  const url = applyMirror(req.url, options.mirror);
  return new Transfer(req, url, options, dispatcher).run();
}

/**
 * Fetch one file to `request.dest`, verified. Resolves to `undefined` only for
 * an optional file the server does not have. The file appears under `dest`
 * only when complete; on failure a `.part` may stay behind for the next run to
 * resume (it is deleted when its content is known to be wrong).
 */
export async function download(request: DownloadRequest, options: DownloadOptions = {}): Promise<DownloadResult | undefined> {
  const shared = createDispatcher(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    return await downloadWith(shared.dispatcher, request, options);
  } finally {
    await shared.close();
  }
}

/**
 * Several files, at most `concurrency` at a time, results in request order.
 * The first failure aborts the others and is what this rejects with, once all
 * have stopped (so nothing keeps writing after the caller sees the error).
 * Their .part files are kept on purpose: a rerun resumes them instead of
 * fetching hundreds of megabytes again, and a wrong .part is caught by the
 * size and digest checks.
 */
export async function downloadAll(
  requests: readonly DownloadRequest[],
  options: DownloadAllOptions = {},
): Promise<Array<DownloadResult | undefined>> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError(`concurrency must be a positive integer, got ${concurrency}`);
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  const limit = pLimit(concurrency);
  const shared = createDispatcher(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let first: { error: unknown } | undefined;
  try {
    const settled = await Promise.allSettled(
      requests.map((req) =>
        limit(async () => {
          try {
            // Queued work that has not started yet stops here once something failed.
            signal.throwIfAborted();
            return await downloadWith(shared.dispatcher, req, { ...options, signal });
          } catch (err) {
            if (first === undefined) {
              first = { error: err };
              controller.abort(err);
            }
            throw err;
          }
        }),
      ),
    );
    if (first !== undefined) throw first.error;
    return settled.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    });
  } finally {
    await shared.close();
  }
}
