import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { NetworkError, VerificationError } from '../../src/errors.js';
import { download, downloadAll, type DownloadRequest, type RetryInfo } from '../../src/net/download.js';
import { createProgress } from '../../src/net/progress.js';
import { sendTruncated, serveRange, startServer, waitForSize, type Handler, type TestServer } from './server.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const FAST = { backoffMs: 1, maxBackoffMs: 5 };

let dir: string;
let server: TestServer | undefined;

async function serve(handler: Handler): Promise<TestServer> {
  server = await startServer(handler);
  return server;
}

beforeAll(() => {
  // The download agent honours proxy variables; the test server is local.
  vi.stubEnv('no_proxy', '127.0.0.1,localhost');
  vi.stubEnv('NO_PROXY', '127.0.0.1,localhost');
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flatbake-dl-'));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

function req(url: string, name: string, extra: Partial<DownloadRequest> = {}): DownloadRequest {
  return { url, dest: join(dir, name), label: name, ...extra };
}

describe('download', () => {
  const body = randomBytes(300 * 1024 + 17);

  it('fetches a file, checks its digest and renames it into place', async () => {
    const s = await serve((r, res) => serveRange(res, r, body));
    const result = await download(req(`${s.base}/a/file.bin`, 'file.bin', { expectedSha256: sha(body).toUpperCase(), expectedSize: body.length }));
    expect(result).toEqual({
      path: join(dir, 'file.bin'),
      size: body.length,
      sha256: sha(body),
      url: `${s.base}/a/file.bin`,
      resumed: false,
      rewritten: false,
      attempts: 1,
    });
    expect((await readFile(join(dir, 'file.bin'))).equals(body)).toBe(true);
    expect(existsSync(join(dir, 'file.bin.part'))).toBe(false);
    expect(s.seen[0]?.headers['accept-encoding']).toBe('identity');
    expect(s.seen[0]?.headers.range).toBeUndefined();
  });

  it('reports a 404 as "not found" with a hint, without retrying', async () => {
    const s = await serve((_r, res) => {
      res.writeHead(404).end('nope');
    });
    const err = await download(req(`${s.base}/missing.raw`, 'missing.raw'), FAST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).message).toBe(`not found: ${s.base}/missing.raw`);
    expect((err as NetworkError).hint).toBeTruthy();
    expect(s.seen).toHaveLength(1);
    expect(existsSync(join(dir, 'missing.raw'))).toBe(false);
  });

  it('returns undefined for an optional file that is not there', async () => {
    const s = await serve((_r, res) => {
      res.writeHead(404).end();
    });
    await expect(download(req(`${s.base}/x.conf`, 'x.conf', { optional: true }), FAST)).resolves.toBeUndefined();
    expect(existsSync(join(dir, 'x.conf'))).toBe(false);
    expect(existsSync(join(dir, 'x.conf.part'))).toBe(false);
  });

  it('does not retry other 4xx statuses', async () => {
    const s = await serve((_r, res) => {
      res.writeHead(403).end();
    });
    await expect(download(req(`${s.base}/f`, 'f'), FAST)).rejects.toThrow(/HTTP 403/);
    expect(s.seen).toHaveLength(1);
  });

  it('retries 503 and 429 with backoff and counts the attempts', async () => {
    const s = await serve((r, res, i) => {
      if (i === 0) res.writeHead(503).end('busy');
      else if (i === 1) res.writeHead(429, { 'retry-after': '0' }).end();
      else serveRange(res, r, body);
    });
    const retries: RetryInfo[] = [];
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), { ...FAST, onRetry: (i) => retries.push(i) });
    expect(result?.attempts).toBe(3);
    expect(s.seen).toHaveLength(3);
    expect(retries.map((r) => [r.attempt, r.maxAttempts])).toEqual([
      [1, 6],
      [2, 6],
    ]);
    expect(retries[0]?.reason).toMatch(/HTTP 503/);
    expect(retries[1]?.reason).toMatch(/HTTP 429/);
  });

  it('gives up after the configured retries on persistent 5xx', async () => {
    const s = await serve((_r, res) => {
      res.writeHead(500).end();
    });
    await expect(download(req(`${s.base}/f`, 'f'), { ...FAST, retries: 2 })).rejects.toThrow(/HTTP 500 .*after 3 attempts/);
    expect(s.seen).toHaveLength(3);
  });

  it('retries refused connections, then names the cause', async () => {
    const s = await serve((_r, res) => {
      res.end();
    });
    const url = `${s.base}/f`;
    await s.close();
    server = undefined;
    const retries: RetryInfo[] = [];
    const err = await download(req(url, 'f'), { ...FAST, retries: 1, onRetry: (i) => retries.push(i) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/ECONNREFUSED.*after 2 attempts/);
    expect(retries).toHaveLength(1);
  });

  it('retries when the server does not answer within the timeout', async () => {
    const s = await serve((r, res, i) => {
      // The first request gets no answer at all.
      if (i > 0) serveRange(res, r, body);
    });
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), { ...FAST, timeoutMs: 200 });
    expect(result?.attempts).toBe(2);
    expect(s.seen).toHaveLength(2);
  });

  it('resumes with Range and If-Range after the connection drops mid-body', async () => {
    const cut = 100_000;
    const s = await serve((r, res, i) => {
      if (i === 0) sendTruncated(res, body, cut, { headers: { etag: '"v1"' }, settled: () => waitForSize(join(dir, 'f.bin.part'), cut) });
      else serveRange(res, r, body, '"v1"');
    });
    const result = await download(req(`${s.base}/f.bin`, 'f.bin', { expectedSha256: sha(body) }), FAST);
    expect(s.seen).toHaveLength(2);
    expect(s.seen[1]?.headers.range).toBe(`bytes=${cut}-`);
    expect(s.seen[1]?.headers['if-range']).toBe('"v1"');
    // Resuming only appends: a reader following the .part read the final bytes.
    expect(result).toMatchObject({ resumed: true, rewritten: false, attempts: 2, size: body.length, sha256: sha(body) });
    expect((await readFile(join(dir, 'f.bin'))).equals(body)).toBe(true);
  });

  it('uses Last-Modified for If-Range when the ETag is weak', async () => {
    const lm = 'Wed, 21 Oct 2015 07:28:00 GMT';
    const s = await serve((_r, res, i) => {
      if (i === 0) {
        sendTruncated(res, body, 5000, {
          headers: { etag: 'W/"weak"', 'last-modified': lm },
          settled: () => waitForSize(join(dir, 'f.part'), 5000),
        });
      }
      else {
        res.writeHead(206, { 'content-range': `bytes 5000-${body.length - 1}/${body.length}`, 'content-length': body.length - 5000 });
        res.end(body.subarray(5000));
      }
    });
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(s.seen[1]?.headers['if-range']).toBe(lm);
    expect(result?.resumed).toBe(true);
  });

  it('starts over when the server answers a Range request with 200', async () => {
    const s = await serve((_r, res, i) => {
      if (i === 0) sendTruncated(res, body, 50_000, { headers: { etag: '"v1"' }, settled: () => waitForSize(join(dir, 'f.part'), 50_000) });
      else {
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      }
    });
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(s.seen[1]?.headers.range).toBe('bytes=50000-');
    // Starting over rewrote bytes a reader following the .part may have read already.
    expect(result).toMatchObject({ resumed: false, rewritten: true, attempts: 2, size: body.length });
    expect((await readFile(join(dir, 'f'))).equals(body)).toBe(true);
  });

  it('starts over when a 206 begins at the wrong offset', async () => {
    const s = await serve((r, res, i) => {
      if (i === 0) sendTruncated(res, body, 50_000, { headers: { etag: '"v1"' }, settled: () => waitForSize(join(dir, 'f.part'), 50_000) });
      else if (i === 1) {
        res.writeHead(206, { 'content-range': `bytes 10-${body.length - 1}/${body.length}`, 'content-length': body.length - 10 });
        res.end(body.subarray(10));
      } else serveRange(res, r, body);
    });
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(s.seen[2]?.headers.range).toBeUndefined();
    expect(result).toMatchObject({ resumed: false, attempts: 3 });
    expect((await readFile(join(dir, 'f'))).equals(body)).toBe(true);
  });

  it('fails with "truncated download" when every attempt is short, leaving no final file', async () => {
    // Supports Range, but never has more than the first 1000 bytes to give.
    const s = await serve((_r, res, i) => {
      if (i === 0) sendTruncated(res, body, 1000, { settled: () => waitForSize(join(dir, 't.bin.part'), 1000) });
      else {
        res.writeHead(206, { 'content-range': `bytes 1000-${body.length - 1}/${body.length}`, 'content-length': body.length - 1000 });
        res.flushHeaders();
        setImmediate(() => res.socket?.destroy());
      }
    });
    const err = await download(req(`${s.base}/t.bin`, 't.bin'), { ...FAST, retries: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(
      new RegExp(`^truncated download of ${s.base}/t\\.bin: got 1000 of ${body.length} bytes`),
    );
    expect(s.seen.map((x) => x.headers.range)).toEqual([undefined, 'bytes=1000-', 'bytes=1000-']);
    expect(existsSync(join(dir, 't.bin'))).toBe(false);
    // Kept so that the next run resumes.
    expect((await stat(join(dir, 't.bin.part'))).size).toBe(1000);
  });

  it('treats a clean end before Content-Length is reached as truncated', async () => {
    // No length on the wire (chunked), so only expectedSize tells the body is short.
    const s = await serve((_r, res) => {
      res.writeHead(200);
      res.end(body.subarray(0, 10));
    });
    await expect(download(req(`${s.base}/t`, 't', { expectedSize: body.length }), { ...FAST, retries: 1 })).rejects.toThrow(
      `truncated download of ${s.base}/t: got 10 of ${body.length} bytes`,
    );
    expect(s.seen).toHaveLength(2);
  });

  it('rejects a digest mismatch with VerificationError and removes the bytes', async () => {
    const s = await serve((r, res) => serveRange(res, r, body));
    const wrong = 'ab'.repeat(32);
    const err = await download(req(`${s.base}/d.raw`, 'd.raw', { expectedSha256: wrong }), FAST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    const msg = (err as Error).message;
    expect(msg).toContain('d.raw');
    expect(msg).toContain(wrong);
    expect(msg).toContain(sha(body));
    expect(existsSync(join(dir, 'd.raw'))).toBe(false);
    expect(existsSync(join(dir, 'd.raw.part'))).toBe(false);
    expect(s.seen).toHaveLength(1);
  });

  it('rejects a file whose announced size differs from the expected size', async () => {
    const s = await serve((r, res) => serveRange(res, r, body));
    await expect(download(req(`${s.base}/f`, 'f', { expectedSize: body.length + 1 }), FAST)).rejects.toBeInstanceOf(VerificationError);
    expect(existsSync(join(dir, 'f'))).toBe(false);
  });

  it('resumes a .part left by an earlier run, hashing its bytes first', async () => {
    const have = 123_456;
    await writeFile(join(dir, 'f.part'), body.subarray(0, have));
    const s = await serve((r, res) => serveRange(res, r, body));
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(s.seen).toHaveLength(1);
    expect(s.seen[0]?.headers.range).toBe(`bytes=${have}-`);
    // No validator is known for bytes from an earlier run.
    expect(s.seen[0]?.headers['if-range']).toBeUndefined();
    expect(result).toMatchObject({ resumed: true, attempts: 1, sha256: sha(body) });
    expect((await readFile(join(dir, 'f'))).equals(body)).toBe(true);
  });

  it('resumes across two calls after the first one gave up', async () => {
    let failing = true;
    const s = await serve((r, res) => {
      if (failing) sendTruncated(res, body, 70_000, { settled: () => waitForSize(join(dir, 'f.part'), 70_000) });
      else serveRange(res, r, body);
    });
    await expect(download(req(`${s.base}/f`, 'f'), { ...FAST, retries: 0 })).rejects.toBeInstanceOf(NetworkError);
    failing = false;
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(s.seen[1]?.headers.range).toBe('bytes=70000-');
    expect(result?.resumed).toBe(true);
    expect((await readFile(join(dir, 'f'))).equals(body)).toBe(true);
  });

  it('finishes a complete leftover .part on 416 without fetching the body again', async () => {
    await writeFile(join(dir, 'f.part'), body);
    const s = await serve((r, res) => serveRange(res, r, body));
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(s.seen[0]?.headers.range).toBe(`bytes=${body.length}-`);
    expect(result).toMatchObject({ resumed: true, size: body.length, sha256: sha(body) });
  });

  it('fetches the whole file again when a resumed file fails its digest', async () => {
    // A stale leftover: right size prefix, wrong bytes.
    await writeFile(join(dir, 'f.part'), Buffer.alloc(4096, 0x55));
    const s = await serve((r, res) => serveRange(res, r, body));
    const result = await download(req(`${s.base}/f`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(s.seen.map((x) => x.headers.range)).toEqual(['bytes=4096-', undefined]);
    expect(result).toMatchObject({ resumed: false, sha256: sha(body) });
    expect((await readFile(join(dir, 'f'))).equals(body)).toBe(true);
  });

  it('discards a leftover .part larger than the expected size', async () => {
    await writeFile(join(dir, 'f.part'), Buffer.alloc(body.length + 10));
    const s = await serve((r, res) => serveRange(res, r, body));
    const result = await download(req(`${s.base}/f`, 'f', { expectedSize: body.length }), FAST);
    expect(s.seen[0]?.headers.range).toBeUndefined();
    expect(result).toMatchObject({ resumed: false, size: body.length, sha256: sha(body) });
  });

  it('discards a leftover .part larger than the total the server reports', async () => {
    await writeFile(join(dir, 'f.part'), Buffer.alloc(body.length + 10));
    const s = await serve((r, res) => serveRange(res, r, body));
    const result = await download(req(`${s.base}/f`, 'f'), FAST);
    expect(s.seen.map((x) => x.headers.range)).toEqual([`bytes=${body.length + 10}-`, undefined]);
    expect(result).toMatchObject({ resumed: false, size: body.length, sha256: sha(body) });
    expect((await readFile(join(dir, 'f'))).equals(body)).toBe(true);
  });

  it('fetches through --mirror as <mirror>/HOST/PATH with the query kept', async () => {
    const s = await serve((r, res) => {
      if (r.url === '/stable.release.flatcar-linux.net:8443/amd64-usr/current/x.bin?sig=1') serveRange(res, r, body);
      else res.writeHead(404).end();
    });
    const url = 'https://stable.release.flatcar-linux.net:8443/amd64-usr/current/x.bin?sig=1';
    const result = await download(req(url, 'x.bin', { expectedSha256: sha(body) }), { ...FAST, mirror: `${s.base}/` });
    expect(result?.url).toBe(`${s.base}/stable.release.flatcar-linux.net:8443/amd64-usr/current/x.bin?sig=1`);
    expect(s.seen.map((x) => x.url)).toEqual(['/stable.release.flatcar-linux.net:8443/amd64-usr/current/x.bin?sig=1']);
    const miss = await download(req('https://other.example/y', 'y'), { ...FAST, mirror: s.base }).catch((e: unknown) => e);
    expect((miss as NetworkError).message).toBe(`not found: ${s.base}/other.example/y`);
    expect((miss as NetworkError).hint).toMatch(/mirror/);
  });

  it('follows redirects', async () => {
    const s = await serve((r, res) => {
      if (r.url === '/old') res.writeHead(302, { location: '/new' }).end();
      else serveRange(res, r, body);
    });
    const result = await download(req(`${s.base}/old`, 'f', { expectedSha256: sha(body) }), FAST);
    expect(result?.size).toBe(body.length);
    expect(s.seen.map((x) => x.url)).toEqual(['/old', '/new']);
  });

  it('stops when the signal is aborted, keeping the .part', async () => {
    const controller = new AbortController();
    const s = await serve((_r, res) => {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 1000), () => controller.abort(new Error('stop')));
    });
    await expect(download(req(`${s.base}/f`, 'f'), { ...FAST, signal: controller.signal })).rejects.toThrow('stop');
    expect(s.seen).toHaveLength(1);
    expect(existsSync(join(dir, 'f'))).toBe(false);
  });

  it('reports progress as plain lines', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    // A clock that moves 1 s per reading: the download "takes" seconds, so it ends with a line
    // (a sub-second download under 1 MiB leaves none).
    let t = 0;
    const progress = createProgress({ stream, now: () => (t += 1000) });
    const s = await serve((r, res) => serveRange(res, r, body));
    await download(req(`${s.base}/f`, 'image.bin'), { ...FAST, progress });
    // The start line comes after a real second, which a loaded machine may take.
    expect(lines.slice(0, -1).every((l) => l === 'image.bin: started, 300.0 KiB')).toBe(true);
    const end = /^image\.bin: done, 300\.0 KiB in (\d+(?:\.\d)?)s \(([0-9.]+) KiB\/s\)$/.exec(lines.at(-1)!);
    expect(end, lines.join('\n')).not.toBeNull();
    // The rate is the size over the duration as printed.
    expect(Number(end![2])).toBeCloseTo(300 / Number(end![1]), 1);
  });
});

describe('downloadAll', () => {
  it('keeps at most `concurrency` downloads in flight and returns results in order', async () => {
    const files = Array.from({ length: 6 }, (_, i) => randomBytes(1000 + i));
    let inFlight = 0;
    let max = 0;
    let waiting: Array<() => void> = [];
    const s = await serve(async (r, res) => {
      inFlight++;
      max = Math.max(max, inFlight);
      // Hold requests until two are in flight, so the test sees the limit reached.
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) {
          const go = waiting;
          waiting = [];
          for (const g of go) g();
        }
      });
      const i = Number(r.url?.slice(1));
      inFlight--;
      serveRange(res, r, files[i]!);
    });
    const results = await downloadAll(
      files.map((f, i) => req(`${s.base}/${i}`, `f${i}`, { expectedSha256: sha(f) })),
      { ...FAST, concurrency: 2 },
    );
    expect(max).toBe(2);
    expect(results.map((x) => x?.sha256)).toEqual(files.map(sha));
    expect(results.map((x) => x?.path)).toEqual(files.map((_, i) => join(dir, `f${i}`)));
  });

  it('fails fast on the first error: aborts the running ones, starts no more, keeps their .part', async () => {
    const big = randomBytes(200_000);
    const s = await serve(async (_r, res, index) => {
      const path = _r.url ?? '';
      if (path === '/slow') {
        res.writeHead(200, { 'content-length': big.length });
        res.write(big.subarray(0, 1000));
        // ...and never finishes.
        return;
      }
      if (path === '/missing') {
        // Answer only once the slow download has written its first bytes.
        const part = join(dir, 'slow.part');
        for (;;) {
          const st = await stat(part).catch(() => undefined);
          if (st !== undefined && st.size > 0) break;
          await new Promise((r) => setTimeout(r, 5));
        }
        res.writeHead(404).end();
        return;
      }
      res.writeHead(500, { 'x-index': index }).end();
    });
    const err = await downloadAll(
      [req(`${s.base}/slow`, 'slow'), req(`${s.base}/missing`, 'missing'), req(`${s.base}/c`, 'c'), req(`${s.base}/d`, 'd')],
      { ...FAST, concurrency: 2 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toBe(`not found: ${s.base}/missing`);
    expect(s.seen.map((x) => x.url).sort()).toEqual(['/missing', '/slow']);
    expect((await stat(join(dir, 'slow.part'))).size).toBe(1000);
    expect(existsSync(join(dir, 'slow'))).toBe(false);
  });

  it('returns undefined for optional files that are absent', async () => {
    const body = randomBytes(100);
    const s = await serve((r, res) => {
      if (r.url === '/a') serveRange(res, r, body);
      else res.writeHead(404).end();
    });
    const results = await downloadAll([req(`${s.base}/a`, 'a'), req(`${s.base}/b`, 'b', { optional: true })], FAST);
    expect(results[0]?.sha256).toBe(sha(body));
    expect(results[1]).toBeUndefined();
  });
});
