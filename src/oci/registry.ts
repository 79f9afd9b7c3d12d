import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { NetworkError, VerificationError } from '../errors.js';
import { download, type DownloadResult } from '../net/download.js';
import { applyMirror } from '../net/mirror.js';
import { silentProgress, type ProgressSink } from '../net/progress.js';
import { commitFile } from '../util/atomic-write.js';
import { VERSION } from '../version.js';
import { basicAuthorization, parseWwwAuthenticate, tokenUrl, type AuthChallenge, type RegistryCredentials } from './auth.js';
import { MANIFEST_ACCEPT, type Descriptor } from './manifest.js';
import { formatImageRef, registryBase, type ImageRef } from './reference.js';

export interface RegistryClientOptions {
  credentials?: RegistryCredentials;
  /** `--mirror`: every registry URL is fetched as `<mirror>/HOST/PATH`. */
  mirror?: string;
  signal?: AbortSignal;
  /** Connect, header and body-idle timeout. Default 60 000. */
  timeoutMs?: number;
  /** Attempts for manifest and token requests that fail transiently. Default 3. */
  attempts?: number;
  /** First retry delay; doubles. Default 500. */
  backoffMs?: number;
}

export interface FetchedManifest {
  bytes: Buffer;
  contentType: string | undefined;
  /** `sha256:` of the bytes, computed here. */
  digest: string;
  /** What the registry says the digest is (`Docker-Content-Digest`), when it says. */
  announcedDigest: string | undefined;
}

/** Manifests are small; anything bigger is not one. */
const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_REDIRECTS = 5;
const TRANSIENT_STATUS = (status: number): boolean => status === 429 || status >= 500;

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readLimited(res: Dispatcher.ResponseData, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new NetworkError(`${what} is larger than ${limit} bytes: not a manifest`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Speaks the distribution API to one registry for one repository: manifests
 * with the right Accept header, anonymous or bearer-token or basic auth, and
 * blobs verified by digest. Blobs a registry serves without auth, or hands
 * off to storage by redirect, go through the shared downloader (retries,
 * resume); only a blob the registry itself serves behind auth is streamed here,
 * because the downloader sends no Authorization header.
 */
export class RegistryClient {
  private readonly agent: EnvHttpProxyAgent;
  private authorization: string | undefined;
  private readonly base: string;

  constructor(
    readonly ref: ImageRef,
    private readonly options: RegistryClientOptions = {},
  ) {
    const timeout = options.timeoutMs ?? 60_000;
    this.agent = new EnvHttpProxyAgent({ headersTimeout: timeout, bodyTimeout: timeout, connect: { timeout } });
    this.base = registryBase(ref);
  }

  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }

  /** The URL of `manifests/<reference>` or `blobs/<digest>` in this repository. */
  url(kind: 'manifests' | 'blobs', reference: string): string {
    return `${this.base}${this.ref.repository}/${kind}/${reference}`;
  }

  /** Registry URLs go through --mirror; a URL the registry redirected to already points where it should. */
  private requestUrl(url: string): string {
    return url.startsWith(this.base) ? applyMirror(url, this.options.mirror) : url;
  }

  /** GET with auth: a 401 with a challenge is answered once (token or basic), then the request is repeated. */
  private async get(url: string, headers: Record<string, string>, what: string): Promise<Dispatcher.ResponseData> {
    const attempts = this.options.attempts ?? 3;
    let answeredChallenge = false;
    for (let attempt = 1; ; attempt++) {
      const all: Record<string, string> = { 'user-agent': `flatbake/${VERSION}`, ...headers };
      if (this.authorization !== undefined) all['authorization'] = this.authorization;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(this.requestUrl(url), { method: 'GET', headers: all, dispatcher: this.agent, signal: this.options.signal });
      } catch (err) {
        if (this.options.signal?.aborted) throw this.options.signal.reason ?? err;
        if (attempt < attempts) {
          await this.backoff(attempt);
          continue;
        }
        throw new NetworkError(`cannot reach registry ${this.ref.registry} for ${what}: ${errorText(err)}`, this.reachHint(), { cause: err });
      }
      if (res.statusCode === 401 && !answeredChallenge) {
        const challenges = parseWwwAuthenticate(header(res, 'www-authenticate') ?? '');
        await res.body.dump().catch(() => undefined);
        await this.authenticate(challenges, what);
        answeredChallenge = true;
        attempt--; // answering a challenge is not a failed attempt
        continue;
      }
      if (TRANSIENT_STATUS(res.statusCode) && attempt < attempts) {
        await res.body.dump().catch(() => undefined);
        await this.backoff(attempt);
        continue;
      }
      return res;
    }
  }

  private async backoff(attempt: number): Promise<void> {
    const delay = (this.options.backoffMs ?? 500) * 2 ** (attempt - 1);
    await sleep(delay, undefined, { signal: this.options.signal });
  }

  private reachHint(): string {
    return this.ref.scheme === 'https'
      ? 'check the registry name, DNS and proxy settings; a registry that speaks plain HTTP needs an http:// prefix or --insecure-registry'
      : 'check the registry address and that it is running';
  }

  private async authenticate(challenges: AuthChallenge[], what: string): Promise<void> {
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params['realm'] !== undefined);
    const creds = this.options.credentials;
    if (bearer !== undefined) {
      const scope = bearer.params['scope'] ?? `repository:${this.ref.repository}:pull`;
      const url = tokenUrl(bearer, [scope]);
      const headers: Record<string, string> = { 'user-agent': `flatbake/${VERSION}`, accept: 'application/json' };
      if (creds !== undefined) headers['authorization'] = basicAuthorization(creds);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: 'GET', headers, dispatcher: this.agent, signal: this.options.signal });
      } catch (err) {
        throw new NetworkError(`cannot get a registry token from ${new URL(url).origin} for ${what}: ${errorText(err)}`, undefined, { cause: err });
      }
      const body = await readLimited(res, 1 << 20, 'token response');
      if (res.statusCode !== 200) {
        throw new NetworkError(
          `the token service ${new URL(url).origin} refused a token for ${scope} (HTTP ${res.statusCode})`,
          creds === undefined
            ? 'the image may be private: set FLATBAKE_REGISTRY_USER and FLATBAKE_REGISTRY_PASSWORD'
            : 'check FLATBAKE_REGISTRY_USER and FLATBAKE_REGISTRY_PASSWORD',
        );
      }
      let token: unknown;
      try {
        const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        token = json['token'] ?? json['access_token'];
      } catch {
        /* reported below */
      }
      if (typeof token !== 'string' || token === '') throw new NetworkError(`the token service ${new URL(url).origin} answered without a token`);
      this.authorization = `Bearer ${token}`;
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (creds === undefined) {
        throw new NetworkError(
          `registry ${this.ref.registry} requires a user name and password for ${what}`,
          'set FLATBAKE_REGISTRY_USER and FLATBAKE_REGISTRY_PASSWORD',
        );
      }
      this.authorization = basicAuthorization(creds);
      return;
    }
    throw new NetworkError(`registry ${this.ref.registry} refused access to ${what} (HTTP 401) and offered no bearer or basic authentication`);
  }

  private statusError(res: Dispatcher.ResponseData, what: string): NetworkError {
    const s = res.statusCode;
    if (s === 404) {
      return new NetworkError(`${what} not found in ${this.ref.registry} (HTTP 404)`, 'check the image name, tag or digest');
    }
    if (s === 401 || s === 403) {
      return new NetworkError(
        `registry ${this.ref.registry} refused access to ${what} (HTTP ${s})`,
        this.options.credentials === undefined
          ? 'the image may be private: set FLATBAKE_REGISTRY_USER and FLATBAKE_REGISTRY_PASSWORD'
          : 'check FLATBAKE_REGISTRY_USER and FLATBAKE_REGISTRY_PASSWORD and that they may pull this repository',
      );
    }
    return new NetworkError(`HTTP ${s} from registry ${this.ref.registry} for ${what}`);
  }

  /** Fetch a manifest by tag or digest. A digest given here is verified against the bytes. */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const what = `manifest ${formatImageRef({ ...this.ref, tag: reference.startsWith('sha256:') ? undefined : reference, digest: reference.startsWith('sha256:') ? reference : undefined })}`;
    const res = await this.get(this.url('manifests', reference), { accept: MANIFEST_ACCEPT }, what);
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw this.statusError(res, what);
    }
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, what);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new VerificationError(`${what}: the registry sent bytes with digest ${digest}`, 'the registry (or a proxy) altered the manifest; nothing was applied');
    }
    return { bytes, contentType: header(res, 'content-type'), digest, announcedDigest: header(res, 'docker-content-digest') };
  }

  /**
   * Fetch a blob to `dest`, its SHA-256 and size checked against the descriptor.
   * Only complete, verified files appear under `dest`.
   */
  async fetchBlob(blob: Descriptor, dest: string, label: string, progress: ProgressSink = silentProgress): Promise<DownloadResult> {
    const hex = blob.digest.slice('sha256:'.length);
    const url = this.url('blobs', blob.digest);
    if (this.authorization === undefined) {
      const result = await download(
        { url, dest, label, expectedSha256: hex, expectedSize: blob.size },
        { mirror: this.options.mirror, signal: this.options.signal, progress },
      );
      return result!;
    }
    const registryOrigin = new URL(this.requestUrl(url)).origin;
    let target = url;
    for (let hop = 0; ; hop++) {
      const res = await this.get(target, {}, `blob ${blob.digest}`);
      const location = header(res, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && location !== undefined) {
        await res.body.dump().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) throw new NetworkError(`too many redirects fetching blob ${blob.digest} from ${this.ref.registry}`);
        const next = new URL(location, this.requestUrl(target)).href;
        if (new URL(next).origin !== registryOrigin) {
          // Off to object storage: it gets no credentials (they are the registry's, and
          // pre-signed URLs refuse them), and the shared downloader brings retries and resume.
          const result = await download({ url: next, dest, label, expectedSha256: hex, expectedSize: blob.size }, { signal: this.options.signal, progress });
          return result!;
        }
        target = next;
        continue;
      }
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        throw this.statusError(res, `blob ${blob.digest}`);
      }
      return await this.saveVerified(res, dest, label, hex, blob.size, progress, target);
    }
  }

  private async saveVerified(
    res: Dispatcher.ResponseData,
    dest: string,
    label: string,
    hex: string,
    size: number,
    progress: ProgressSink,
    url: string,
  ): Promise<DownloadResult> {
    const part = `${dest}.part`;
    const hash = createHash('sha256');
    const task = progress.start(label, size);
    let written = 0;
    const fh = await open(part, 'w');
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        written += buf.length;
        if (written > size) {
          res.body.destroy();
          throw new VerificationError(`size mismatch for ${label}: the registry sends more than the ${size} bytes its manifest declares`);
        }
        hash.update(buf);
        let offset = 0;
        while (offset < buf.length) offset += (await fh.write(buf, offset, buf.length - offset)).bytesWritten;
        task.advance(buf.length);
      }
    } catch (err) {
      await fh.close();
      await rm(part, { force: true });
      task.fail(errorText(err));
      if (err instanceof VerificationError || this.options.signal?.aborted) throw err;
      throw new NetworkError(`download of ${label} from ${this.ref.registry} failed: ${errorText(err)}`, undefined, { cause: err });
    }
    await fh.close();
    const sha256 = hash.digest('hex');
    if (written !== size || sha256 !== hex) {
      await rm(part, { force: true });
      task.fail('digest mismatch');
      throw new VerificationError(
        written !== size
          ? `size mismatch for ${label}: expected ${size} bytes, the registry sent ${written}`
          : `SHA-256 mismatch for ${label}: expected ${hex}, got ${sha256}`,
        `the blob in registry ${this.ref.registry} is not the one the manifest names; it was deleted`,
      );
    }
    await commitFile(part, dest);
    task.succeed();
    return { path: dest, size, sha256, url, resumed: false, rewritten: false, attempts: 1 };
  }
}
