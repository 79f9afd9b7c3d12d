import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { freePort } from '../../helpers/free-port.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const registryAvailable = existsSync(REGISTRY_BIN);

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  base: string;
  /** The registry's storage root, for tampering with blobs. */
  storage: string;
  stop(): Promise<void>;
}

/** Debian's docker-registry (the distribution project's registry) on 127.0.0.1, with storage in a temp dir. */
export async function startDockerRegistry(): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'flatbake-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/v2/`);
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, base, storage, stop };
}

/** Where the filesystem driver keeps a blob's bytes. */
export function blobDataPath(storage: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export type Compression = 'gzip' | 'zstd' | 'none';

export interface Blob {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

export interface BuiltManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  blobs: Blob[];
  platform: { os: string; architecture: string; variant?: string };
}

const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' },
};
const DOCKER = {
  index: 'application/vnd.docker.distribution.manifest.list.v2+json',
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: { none: 'application/vnd.docker.image.rootfs.diff.tar', gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip', zstd: 'unsupported' },
};

function compress(tar: Buffer, how: Compression): Buffer {
  if (how === 'gzip') return gzipSync(tar);
  if (how === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
  return tar;
}

/** An image manifest with its config and layers, in the OCI or Docker v2 schema 2 format. */
export function buildManifest(options: {
  layers: Array<{ tar: Buffer; compression: Compression }>;
  arch: 'amd64' | 'arm64';
  docker?: boolean;
  /** Lie in the config (for the arch-mismatch test). */
  configArch?: string;
  /** Lie about the uncompressed digests (for the diff_id test). */
  diffIds?: string[];
}): BuiltManifest {
  const t = options.docker ? DOCKER : OCI;
  const platform = options.arch === 'arm64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: 'amd64' };
  const layers: Blob[] = options.layers.map((l) => {
    const bytes = compress(l.tar, l.compression);
    return { mediaType: t.layer[l.compression], digest: sha256(bytes), bytes };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: options.configArch ?? platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'] },
      rootfs: { type: 'layers', diff_ids: options.diffIds ?? options.layers.map((l) => sha256(l.tar)) },
    }),
  );
  const configBlob: Blob = { mediaType: t.config, digest: sha256(config), bytes: config };
  const desc = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.bytes.length });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: t.manifest, config: desc(configBlob), layers: layers.map(desc) }, null, 2));
  return { mediaType: t.manifest, digest: sha256(bytes), bytes, blobs: [configBlob, ...layers], platform };
}

export interface BuiltIndex {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  manifests: BuiltManifest[];
}

export function buildIndex(manifests: BuiltManifest[], options: { docker?: boolean; withAttestation?: boolean } = {}): BuiltIndex {
  const t = options.docker ? DOCKER : OCI;
  const entries: unknown[] = manifests.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, platform: m.platform }));
  if (options.withAttestation) {
    // What buildx adds: an entry for no platform, which must be skipped.
    entries.push({ mediaType: OCI.manifest, digest: manifests[0]!.digest, size: manifests[0]!.bytes.length, platform: { os: 'unknown', architecture: 'unknown' } });
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: t.index, manifests: entries }, null, 2));
  return { mediaType: t.index, digest: sha256(bytes), bytes, manifests };
}

/** Write an image as an OCI image layout (oci-layout, index.json, blobs/sha256/...). */
export async function writeOciLayout(dir: string, image: BuiltIndex | BuiltManifest, refName: string): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = (digest: string, bytes: Buffer) => writeFile(join(blobs, digest.slice(7)), bytes);
  const manifests = 'manifests' in image ? image.manifests : [image];
  for (const m of manifests) {
    for (const b of m.blobs) await put(b.digest, b.bytes);
    await put(m.digest, m.bytes);
  }
  if ('manifests' in image) await put(image.digest, image.bytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI.index,
      manifests: [{ mediaType: image.mediaType, digest: image.digest, size: image.bytes.length, annotations: { 'org.opencontainers.image.ref.name': refName } }],
    }),
  );
}

async function expectStatus(res: Response, wanted: number, what: string): Promise<void> {
  if (res.status !== wanted) throw new Error(`${what}: HTTP ${res.status}: ${await res.text()}`);
}

async function pushBlob(base: string, repo: string, digest: string, bytes: Buffer): Promise<void> {
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(start, 202, `start upload of ${digest}`);
  const location = new URL(start.headers.get('location')!, base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  await expectStatus(put, 201, `upload ${digest}`);
}

async function pushManifest(base: string, repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: bytes, headers: { 'content-type': mediaType } });
  await expectStatus(res, 201, `push manifest ${repo}:${reference}`);
}

/** Push everything an OCI layout's index.json names, over the distribution API: blobs, then manifests, then the tag. */
export async function pushOciLayout(layout: string, base: string, repo: string, tag: string): Promise<void> {
  const blob = (digest: string) => readFile(join(layout, 'blobs', 'sha256', digest.slice(7)));
  const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ mediaType: string; digest: string }> };
  for (const root of top.manifests) {
    const pushImageManifest = async (digest: string, mediaType: string, reference: string): Promise<void> => {
      const bytes = await blob(digest);
      const m = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
      for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) await pushBlob(base, repo, d, await blob(d));
      await pushManifest(base, repo, reference, mediaType, bytes);
    };
    if (root.mediaType.endsWith('index.v1+json') || root.mediaType.endsWith('list.v2+json')) {
      const bytes = await blob(root.digest);
      const idx = JSON.parse(bytes.toString()) as { manifests: Array<{ mediaType: string; digest: string }> };
      const seen = new Set<string>();
      for (const m of idx.manifests) {
        if (seen.has(m.digest)) continue;
        seen.add(m.digest);
        await pushImageManifest(m.digest, m.mediaType, m.digest);
      }
      await pushManifest(base, repo, tag, root.mediaType, bytes);
    } else {
      await pushImageManifest(root.digest, root.mediaType, tag);
    }
  }
}

/** Build the layout in a temp dir, push it, remove the layout. */
export async function pushImage(base: string, repo: string, tag: string, image: BuiltIndex | BuiltManifest): Promise<void> {
  const layout = await mkdtemp(join(tmpdir(), 'flatbake-layout-'));
  try {
    await writeOciLayout(layout, image, tag);
    await pushOciLayout(layout, base, repo, tag);
  } finally {
    await rm(layout, { recursive: true, force: true });
  }
}
