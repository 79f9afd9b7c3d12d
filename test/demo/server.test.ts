import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';

let base: string;
let root: string;
let server: StaticServer;
const data = randomBytes(3 * 1024 * 1024 + 17);
// One connection per request, so a fault on one never poisons the next.
const agent = new Agent({ pipelining: 0, keepAliveTimeout: 1 });

async function get(p: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(`${server.url}${p}`, { method, headers, dispatcher: agent });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Send a request line byte for byte, bypassing any client-side URL normalisation. */
function rawGet(target: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

beforeAll(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'demo-server-'));
  root = path.join(base, 'root');
  await mkdir(path.join(root, 'stable', 'amd64-usr', '1.2.3'), { recursive: true });
  await writeFile(path.join(root, 'data.bin'), data);
  await writeFile(path.join(root, 'empty'), '');
  await writeFile(path.join(root, 'stable', 'amd64-usr', '1.2.3', 'version.txt'), 'FLATCAR_VERSION=1.2.3\n');
  await symlink('1.2.3', path.join(root, 'stable', 'amd64-usr', 'current'));
  await writeFile(path.join(base, 'secret.txt'), 'outside the root\n');
  await symlink('../secret.txt', path.join(root, 'escape'));
  // A sparse 8 GiB file: ranges near its end prove the server streams and seeks instead of reading it all.
  await writeFile(path.join(root, 'huge.bin'), '');
  await truncate(path.join(root, 'huge.bin'), 8 * 1024 ** 3);
  server = await serveStatic(root);
});

afterEach(() => server.clearFaults());

afterAll(async () => {
  await server?.close();
  await agent.close();
  await rm(base, { recursive: true, force: true });
});

describe('serveStatic', () => {
  it('listens on 127.0.0.1 and serves files with validators', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await get('/data.bin');
    expect(r.status).toBe(200);
    expect(r.body.equals(data)).toBe(true);
    expect(r.headers['content-length']).toBe(String(data.length));
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers.etag).toMatch(/^".+"$/);
    expect(new Date(String(r.headers['last-modified'])).getTime()).not.toBeNaN();
    const again = await get('/data.bin', { 'if-none-match': String(r.headers.etag) });
    expect(again.status).toBe(304);
  });

  it('answers HEAD with the headers only', async () => {
    const r = await get('/data.bin', {}, 'HEAD');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(data.length));
    expect(r.body.length).toBe(0);
    expect(server.requests.at(-1)).toMatchObject({ method: 'HEAD', path: '/data.bin', status: 200 });
  });

  it('serves single byte ranges with 206 and refuses unsatisfiable ones with 416', async () => {
    const mid = await get('/data.bin', { range: 'bytes=100-199' });
    expect(mid.status).toBe(206);
    expect(mid.headers['content-range']).toBe(`bytes 100-199/${data.length}`);
    expect(mid.body.equals(data.subarray(100, 200))).toBe(true);

    const open = await get('/data.bin', { range: `bytes=${data.length - 5}-` });
    expect(open.status).toBe(206);
    expect(open.body.equals(data.subarray(data.length - 5))).toBe(true);

    const suffix = await get('/data.bin', { range: 'bytes=-10' });
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(data.subarray(data.length - 10))).toBe(true);

    const clamped = await get('/data.bin', { range: `bytes=${data.length - 2}-${data.length + 100}` });
    expect(clamped.headers['content-range']).toBe(`bytes ${data.length - 2}-${data.length - 1}/${data.length}`);

    const bad = await get('/data.bin', { range: `bytes=${data.length}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${data.length}`);
    expect(server.requests.at(-1)).toMatchObject({ range: `bytes=${data.length}-`, status: 416 });
  });

  it('streams from deep inside an 8 GiB file', async () => {
    const size = 8 * 1024 ** 3;
    const r = await get('/huge.bin', { range: `bytes=${size - 1024 * 1024}-` });
    expect(r.status).toBe(206);
    expect(r.body.length).toBe(1024 * 1024);
    expect(r.headers['content-range']).toBe(`bytes ${size - 1024 * 1024}-${size - 1}/${size}`);
    const head = await get('/huge.bin', {}, 'HEAD');
    expect(head.headers['content-length']).toBe(String(size));
  });

  it('answers 404 for missing files and directories, and serves empty files', async () => {
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/stable/')).status).toBe(404);
    const empty = await get('/empty');
    expect(empty.status).toBe(200);
    expect(empty.body.length).toBe(0);
  });

  it('follows symlinks that stay inside the root (the current alias) and refuses the others', async () => {
    const current = await get('/stable/amd64-usr/current/version.txt');
    expect(current.status).toBe(200);
    expect(current.body.toString()).toBe('FLATCAR_VERSION=1.2.3\n');
    const escape = await get('/escape');
    expect(escape.status).toBe(403);
    expect(escape.body.toString()).not.toContain('outside the root');
  });

  it('refuses path traversal however it is spelled', async () => {
    for (const target of ['/../secret.txt', '/stable/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/stable/%2E%2E/%2E%2E/secret.txt']) {
      const r = await rawGet(target);
      expect(r.status, target).toBe(403);
      expect(r.text, target).not.toContain('outside the root');
    }
  });

  it('fault status: answers 503 twice, then the file', async () => {
    server.setFault('/data.bin', { kind: 'status', status: 503, times: 2 });
    expect((await get('/data.bin')).status).toBe(503);
    expect((await get('/data.bin')).status).toBe(503);
    const third = await get('/data.bin');
    expect(third.status).toBe(200);
    expect(third.body.equals(data)).toBe(true);
    expect(server.requests.slice(-3).map((r) => [r.status, r.fault])).toEqual([
      [503, 'status'],
      [503, 'status'],
      [200, undefined],
    ]);
  });

  it('fault drop-after: sends N bytes then kills the connection, only `times` times', async () => {
    server.setFault('/data.bin', { kind: 'drop-after', bytes: 65536, times: 1 });
    // Count what actually arrives with node's own client.
    const received = await new Promise<{ bytes: number; error?: string }>((resolve) => {
      const req = http.get(`${server.url}/data.bin`, { agent: false }, (res) => {
        expect(res.headers['content-length']).toBe(String(data.length));
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('error', (e) => resolve({ bytes, error: e.message }));
        res.on('end', () => resolve({ bytes }));
        res.on('close', () => resolve({ bytes, error: res.complete ? undefined : 'incomplete' }));
      });
      req.on('error', (e) => resolve({ bytes: -1, error: e.message }));
    });
    expect(received.bytes).toBe(65536);
    expect(received.error).toBeDefined();
    expect(server.requests.at(-1)).toMatchObject({ fault: 'drop-after', status: 200 });
    const after = await get('/data.bin');
    expect(after.body.equals(data)).toBe(true);
  });

  it('fault truncate: announces the full length but sends N bytes, every time', async () => {
    server.setFault('/data.bin', { kind: 'truncate', bytes: 1000 });
    for (let i = 0; i < 2; i++) {
      const res = await request(`${server.url}/data.bin`, { dispatcher: agent });
      expect(res.headers['content-length']).toBe(String(data.length));
      await expect(res.body.arrayBuffer()).rejects.toThrow();
    }
    expect(server.requests.slice(-2).every((r) => r.fault === 'truncate')).toBe(true);
  });

  it('fault ignore-range: answers 200 with the whole file to a Range request', async () => {
    server.setFault('/data.bin', { kind: 'ignore-range' });
    const r = await get('/data.bin', { range: 'bytes=10-20' });
    expect(r.status).toBe(200);
    expect(r.headers['content-range']).toBeUndefined();
    expect(r.body.equals(data)).toBe(true);
  });

  it('fault delay: answers after the delay', async () => {
    server.setFault('/stable/amd64-usr/1.2.3/version.txt', { kind: 'delay', ms: 1000, times: 1 });
    const start = performance.now();
    const r = await get('/stable/amd64-usr/1.2.3/version.txt');
    expect(performance.now() - start).toBeGreaterThanOrEqual(990);
    expect(r.status).toBe(200);
    const quick = performance.now();
    await get('/stable/amd64-usr/1.2.3/version.txt');
    // Only the first request was delayed.
    expect(performance.now() - quick).toBeLessThan(900);
  });

  it('takes faults at construction too, and closes with requests in flight', async () => {
    const other = await serveStatic(root, { faults: { '/data.bin': { kind: 'delay', ms: 10_000 } } });
    const pending = request(`${other.url}/data.bin`, { dispatcher: agent }).then(
      () => 'answered',
      () => 'aborted',
    );
    await new Promise((r) => setTimeout(r, 50));
    const closing = performance.now();
    await other.close();
    expect(performance.now() - closing).toBeLessThan(2000);
    expect(await pending).toBe('aborted');
  });
});
