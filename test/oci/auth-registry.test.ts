import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { NetworkError, VerificationError } from '../../src/errors.js';
import { pullImage } from '../../src/oci/pull.js';
import { startServer, type TestServer } from '../net/server.js';
import { buildIndex, buildManifest, sha256, type BuiltIndex } from './helpers/registry.js';
import { recordingReporter } from './helpers/report.js';
import { buildTar } from './helpers/tar-writer.js';

/**
 * A registry that wants a bearer token (or basic credentials), a token service,
 * and object storage on another origin that blobs are redirected to: the
 * shape of Docker Hub and ghcr.io, on 127.0.0.1.
 */
interface Behaviour {
  auth: 'bearer' | 'basic';
  /** Answer manifests by digest with other bytes. */
  wrongManifestBytes?: boolean;
  /** Announce a wrong Docker-Content-Digest for the tag. */
  wrongDigestHeader?: boolean;
  /** Serve the config blob with one byte flipped. */
  tamperConfig?: boolean;
}

const USER = 'flat';
const PASSWORD = 'bake';
const TOKEN = 'tok-123';

let behaviour: Behaviour;
let image: BuiltIndex;
let registry: TestServer;
let storage: TestServer;
let tokens: TestServer;
let work: string;

const blobs = new Map<string, Buffer>();
const manifests = new Map<string, { mediaType: string; bytes: Buffer }>();

function deny(res: ServerResponse): void {
  const challenge =
    behaviour.auth === 'bearer' ? `Bearer realm="${tokens.base}/token",service="fake-registry",scope="repository:team/app:pull"` : 'Basic realm="fake"';
  res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
  res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
}

function authorized(req: IncomingMessage): boolean {
  const h = req.headers.authorization;
  if (behaviour.auth === 'bearer') return h === `Bearer ${TOKEN}`;
  return h === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
}

beforeAll(async () => {
  vi.stubEnv('NO_PROXY', '127.0.0.1,localhost');
  vi.stubEnv('no_proxy', '127.0.0.1,localhost');
  const layer = buildTar([{ path: 'etc/hello', content: 'behind auth\n' }, { path: 'usr/bin/', type: 'dir' }]);
  const layer2 = buildTar([{ path: 'etc/second', content: '2\n' }]);
  const amd = buildManifest({ arch: 'amd64', layers: [{ tar: layer, compression: 'gzip' }, { tar: layer2, compression: 'none' }] });
  const arm = buildManifest({ arch: 'arm64', layers: [{ tar: layer2, compression: 'gzip' }] });
  image = buildIndex([amd, arm], { docker: true });
  for (const m of image.manifests) {
    manifests.set(m.digest, { mediaType: m.mediaType, bytes: m.bytes });
    for (const b of m.blobs) blobs.set(b.digest, b.bytes);
  }
  manifests.set('v1', { mediaType: image.mediaType, bytes: image.bytes });
  manifests.set(image.digest, { mediaType: image.mediaType, bytes: image.bytes });

  storage = await startServer((req, res) => {
    const digest = /^\/bucket\/(sha256:[0-9a-f]{64})\?sig=ok$/.exec(req.url ?? '')?.[1];
    const body = digest ? blobs.get(digest) : undefined;
    if (!body) {
      res.writeHead(403).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  tokens = await startServer((req, res) => {
    const url = new URL(req.url ?? '', tokens.base);
    const basicOk = req.headers.authorization === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    if (url.pathname !== '/token' || url.searchParams.get('service') !== 'fake-registry' || url.searchParams.get('scope') !== 'repository:team/app:pull') {
      res.writeHead(400).end();
      return;
    }
    // Anonymous pulls get a token, as on Docker Hub; wrong credentials do not.
    if (req.headers.authorization !== undefined && !basicOk) {
      res.writeHead(401).end('{"details":"incorrect username or password"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: TOKEN, expires_in: 300 }));
  });
  registry = await startServer((req, res) => {
    const url = req.url ?? '';
    if (!authorized(req)) return deny(res);
    const m = /^\/v2\/team\/app\/(manifests|blobs)\/(.+)$/.exec(url);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    if (m[1] === 'manifests') {
      const found = manifests.get(m[2]!);
      if (!found) {
        res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
        return;
      }
      let bytes = found.bytes;
      if (behaviour.wrongManifestBytes && m[2]!.startsWith('sha256:')) bytes = Buffer.concat([bytes, Buffer.from(' ')]);
      const digest = behaviour.wrongDigestHeader ? sha256(Buffer.from('other')) : sha256(found.bytes);
      res.writeHead(200, { 'content-type': found.mediaType, 'docker-content-digest': digest, 'content-length': bytes.length });
      res.end(bytes);
      return;
    }
    const blob = blobs.get(m[2]!);
    if (!blob) {
      res.writeHead(404).end();
      return;
    }
    const isConfig = image.manifests.some((x) => x.blobs[0]!.digest === m[2]);
    if (isConfig) {
      // The registry serves small blobs itself, behind the token.
      const body = Buffer.from(blob);
      if (behaviour.tamperConfig) body[0] = body[0]! ^ 1;
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
      return;
    }
    res.writeHead(307, { location: `${storage.base}/bucket/${m[2]}?sig=ok` });
    res.end();
  });
});

afterAll(async () => {
  await registry?.close();
  await storage?.close();
  await tokens?.close();
  vi.unstubAllEnvs();
});

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'flatbake-auth-'));
  behaviour = { auth: 'bearer' };
  registry.seen.length = 0;
  storage.seen.length = 0;
  tokens.seen.length = 0;
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const ref = (): string => `127.0.0.1:${registry.port}/team/app:v1`;

describe('registry authentication', () => {
  it('gets a bearer token after a 401, uses it, and sends no credentials to blob storage', async () => {
    const dir = join(work, 'rootfs');
    const result = await pullImage({ ref: ref(), dir, cache: new Cache(join(work, 'cache')), report: recordingReporter(), credentials: undefined });
    expect(readFileSync(join(dir, 'etc/hello'), 'utf8')).toBe('behind auth\n');
    expect(readFileSync(join(dir, 'etc/second'), 'utf8')).toBe('2\n');
    expect(result.digest).toBe(image.digest);
    expect(tokens.seen).toHaveLength(1);
    expect(tokens.seen[0]!.headers.authorization).toBeUndefined();
    // First request unauthenticated, every later one with the token.
    expect(registry.seen[0]!.headers.authorization).toBeUndefined();
    expect(registry.seen.slice(1).every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(registry.seen[1]!.headers.accept).toContain('application/vnd.oci.image.index.v1+json');
    expect(registry.seen[1]!.headers.accept).toContain('application/vnd.docker.distribution.manifest.v2+json');
    expect(storage.seen).toHaveLength(2);
    expect(storage.seen.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('sends FLATBAKE_REGISTRY_USER/PASSWORD to the token service, and refuses wrong ones clearly', async () => {
    vi.stubEnv('FLATBAKE_REGISTRY_USER', USER);
    vi.stubEnv('FLATBAKE_REGISTRY_PASSWORD', PASSWORD);
    try {
      await pullImage({ ref: ref(), dir: join(work, 'a'), cache: new Cache(undefined), report: recordingReporter() });
      expect(tokens.seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`);
      vi.stubEnv('FLATBAKE_REGISTRY_PASSWORD', 'wrong');
      const error = await pullImage({ ref: ref(), dir: join(work, 'b'), cache: new Cache(undefined), report: recordingReporter() }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as NetworkError).message).toContain('refused a token for repository:team/app:pull (HTTP 401)');
      expect((error as NetworkError).hint).toContain('FLATBAKE_REGISTRY_PASSWORD');
    } finally {
      vi.stubEnv('FLATBAKE_REGISTRY_USER', undefined as unknown as string);
      vi.stubEnv('FLATBAKE_REGISTRY_PASSWORD', undefined as unknown as string);
    }
  });

  it('answers a Basic challenge with the credentials, and says which variables to set without them', async () => {
    behaviour.auth = 'basic';
    await pullImage({ ref: ref(), dir: join(work, 'a'), arch: 'arm64', cache: new Cache(undefined), report: recordingReporter(), credentials: { username: USER, password: PASSWORD } });
    expect(readFileSync(join(work, 'a/etc/second'), 'utf8')).toBe('2\n');
    const error = await pullImage({ ref: ref(), dir: join(work, 'b'), cache: new Cache(undefined), report: recordingReporter() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).message).toContain('requires a user name and password');
    expect((error as NetworkError).hint).toBe('set FLATBAKE_REGISTRY_USER and FLATBAKE_REGISTRY_PASSWORD');
  });
});

describe('manifest and blob verification', () => {
  it('refuses a manifest pulled by digest whose bytes hash to something else', async () => {
    behaviour.wrongManifestBytes = true;
    const error = await pullImage({ ref: `127.0.0.1:${registry.port}/team/app@${image.digest}`, dir: join(work, 'r'), cache: new Cache(undefined), report: recordingReporter() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerificationError);
    expect((error as Error).message).toContain(`manifest 127.0.0.1:${registry.port}/team/app@${image.digest}: the registry sent bytes with digest`);
    expect(readdirSync(work)).toEqual([]);
  });

  it('refuses a platform manifest that does not match the digest in the index', async () => {
    behaviour.wrongManifestBytes = true;
    await expect(pullImage({ ref: ref(), dir: join(work, 'r'), cache: new Cache(undefined), report: recordingReporter() })).rejects.toThrow(VerificationError);
  });

  it('refuses a tag whose announced digest does not match its bytes', async () => {
    behaviour.wrongDigestHeader = true;
    await expect(pullImage({ ref: ref(), dir: join(work, 'r'), cache: new Cache(undefined), report: recordingReporter() })).rejects.toThrow(/says its digest is sha256:/);
  });

  it('refuses a config blob served behind auth with the wrong bytes', async () => {
    behaviour.tamperConfig = true;
    const error = await pullImage({ ref: ref(), dir: join(work, 'r'), cache: new Cache(join(work, 'cache')), report: recordingReporter() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VerificationError);
    expect((error as Error).message).toContain('SHA-256 mismatch for config');
    expect(readdirSync(work)).toEqual(['cache']);
    // Nothing unverified was kept: no blob in the cache, no partial file in its staging area.
    expect(readdirSync(join(work, 'cache/oci-staging'))).toEqual([]);
  });
});

describe('--mirror', () => {
  it('fetches manifests and blobs as <mirror>/HOST/PATH from a static file tree', async () => {
    const layer = buildTar([{ path: 'etc/mirrored', content: 'yes\n' }]);
    const img = buildManifest({ arch: 'amd64', docker: true, layers: [{ tar: layer, compression: 'gzip' }] });
    const files = new Map<string, Buffer>([[`/registry.example:5000/v2/team/app/manifests/v1`, img.bytes]]);
    for (const b of img.blobs) files.set(`/registry.example:5000/v2/team/app/blobs/${b.digest}`, b.bytes);
    const mirror = await startServer((req, res) => {
      const body = files.get(req.url ?? '');
      // A static server knows nothing of media types.
      if (body) res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
      else res.writeHead(404).end();
    });
    try {
      const result = await pullImage({ ref: 'registry.example:5000/team/app:v1', mirror: mirror.base, dir: join(work, 'm'), cache: new Cache(undefined), report: recordingReporter() });
      expect(result.digest).toBe(img.digest);
      expect(readFileSync(join(work, 'm/etc/mirrored'), 'utf8')).toBe('yes\n');
      expect(mirror.seen.map((r) => r.url)).toHaveLength(3);
    } finally {
      await mirror.close();
    }
  });
});
