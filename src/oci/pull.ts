import { mkdir, mkdtemp, readFile, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pLimit from 'p-limit';
import type { Cache } from '../cache/cache.js';
import { InputError, VerificationError } from '../errors.js';
import type { Reporter } from '../util/report.js';
import { ResourceScope } from '../util/scope.js';
import { RootfsWriter, type LayerStats } from './apply.js';
import { credentialsFromEnv, type RegistryCredentials } from './auth.js';
import { applyLayerFile } from './layer.js';
import {
  formatPlatform,
  layerCompression,
  ociPlatform,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type LayerCompression,
  type Platform,
} from './manifest.js';
import { formatImageRef, manifestReference, parseImageRef, type ImageRef } from './reference.js';
import { RegistryClient } from './registry.js';

export interface PullImageOptions {
  /** `alpine:3.20`, `ghcr.io/org/img@sha256:...`, or an already parsed reference. */
  ref: string | ImageRef;
  /** The rootfs directory: created, or an existing empty directory. */
  dir: string;
  /** `x86-64` (default) or `arm64`, with their aliases. */
  arch?: string;
  /** `--registry`: pull from this host instead of the one in the reference. */
  registry?: string;
  /** `--insecure-registry`: plain HTTP to a non-loopback registry. */
  insecureRegistry?: boolean;
  mirror?: string;
  cache: Cache;
  report: Reporter;
  signal?: AbortSignal;
  /** Default: FLATBAKE_REGISTRY_USER / FLATBAKE_REGISTRY_PASSWORD. */
  credentials?: RegistryCredentials;
  /** Parallel layer downloads. Default 4. */
  concurrency?: number;
  /** Apply owners and create device nodes. Default: whether this process is root. */
  asRoot?: boolean;
}

export interface PulledLayer {
  digest: string;
  size: number;
  mediaType: string;
  /** As found in the bytes. */
  compression: LayerCompression;
  /** `sha256:` of the uncompressed tar. */
  diffId: string;
  fromCache: boolean;
  stats: LayerStats;
}

export interface PullImageResult {
  /** The reference as resolved: `registry-1.docker.io/library/alpine:3.20`. */
  image: string;
  /** Digest of the manifest the reference named (the index for a multi-arch image). */
  digest: string;
  /** Digest of the platform's image manifest (equal to `digest` for a single-platform image). */
  manifestDigest: string;
  platform: Platform;
  dir: string;
  config: ImageConfig;
  configDigest: string;
  layers: PulledLayer[];
  warnings: string[];
}

const CACHE_NAMESPACE = 'oci-blobs';
/** An index that points at an index (it happens) is followed this deep. */
const MAX_INDEX_DEPTH = 3;

function sameArch(config: ImageConfig, platform: Platform): boolean {
  if (config.architecture === undefined) return true;
  const arch = config.architecture === 'aarch64' ? 'arm64' : config.architecture === 'x86_64' ? 'amd64' : config.architecture;
  return arch === platform.architecture && (config.os === undefined || config.os === platform.os);
}

/** The rootfs must be new or empty: layers are applied onto nothing, and a failure removes what was made. */
async function prepareRootfs(dir: string): Promise<{ root: string; created: boolean }> {
  const absolute = resolve(dir);
  let entries: string[] | undefined;
  try {
    entries = await readdir(absolute);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOTDIR') throw new InputError(`${dir} exists and is not a directory`);
    if (code !== 'ENOENT') throw err;
  }
  if (entries !== undefined && entries.length > 0) {
    throw new InputError(`${dir} is not empty`, 'give a new or empty directory for the rootfs');
  }
  if (entries === undefined) await mkdir(absolute, { recursive: true });
  // The real path, so a symlinked parent does not move the target under our feet.
  return { root: await realpath(absolute), created: entries === undefined };
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) await rm(join(dir, name), { recursive: true, force: true });
}

/**
 * Pull an image from a registry and unpack it into `dir`: resolve the
 * reference, pick the platform's manifest, fetch config and layers (verified
 * by digest, cached by content, downloaded in parallel) and apply the layers
 * in order as each arrives. On failure `dir` is left as it was found.
 */
export async function pullImage(options: PullImageOptions): Promise<PullImageResult> {
  const { cache, report } = options;
  const ref = typeof options.ref === 'string' ? parseImageRef(options.ref, { registry: options.registry, insecure: options.insecureRegistry }) : options.ref;
  const platform = ociPlatform(options.arch ?? 'x86-64');
  const image = formatImageRef(ref);
  await using scope = new ResourceScope((what, error) => report.warn(`could not ${what}: ${(error as Error).message}`));

  const { root, created } = await prepareRootfs(options.dir);
  let complete = false;
  // Registered first so it runs last: after downloads have stopped writing.
  scope.defer(`remove the incomplete rootfs ${root}`, async () => {
    if (complete) return;
    if (created) await rm(root, { recursive: true, force: true });
    else await emptyDirectory(root);
  });

  // Aborted on the first failure, so parallel layer downloads stop with it.
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
  const client = new RegistryClient(ref, { credentials: options.credentials ?? credentialsFromEnv(), mirror: options.mirror, signal });
  scope.defer('close registry connections', () => client.close());

  report.step('oci', `resolving ${image} for ${formatPlatform(platform)}`);
  const top = await client.getManifest(manifestReference(ref));
  if (ref.digest === undefined && top.announcedDigest !== undefined && /^sha256:/.test(top.announcedDigest) && top.announcedDigest !== top.digest) {
    throw new VerificationError(`manifest of ${image}: the registry says its digest is ${top.announcedDigest}, but its bytes hash to ${top.digest}`);
  }
  let current = parseManifest(top.bytes, top.contentType, `manifest of ${image}`);
  let manifestDigest = top.digest;
  for (let depth = 0; current.kind === 'index'; depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw new InputError(`${image}: image indexes nest deeper than ${MAX_INDEX_DEPTH}`);
    const chosen = selectPlatform(current, platform, image);
    report.step('oci', `${formatPlatform(platform)} is ${chosen.digest}`);
    const fetched = await client.getManifest(chosen.digest);
    manifestDigest = fetched.digest;
    current = parseManifest(fetched.bytes, fetched.contentType, `manifest ${chosen.digest} of ${image}`);
  }
  const manifest: ImageManifest = current;
  for (const layer of manifest.layers) layerCompression(layer); // refuse artifacts before downloading anything

  let staging: string;
  if (cache.dir !== undefined) {
    // A fixed place: a download cut short leaves its .part here for the next run to resume.
    staging = join(cache.dir, 'oci-staging');
    await mkdir(staging, { recursive: true });
  } else {
    staging = await mkdtemp(join(tmpdir(), 'flatbake-oci-'));
    scope.defer(`remove ${staging}`, () => rm(staging, { recursive: true, force: true }));
  }

  const fetchBlob = async (blob: Descriptor, label: string): Promise<{ path: string; fromCache: boolean }> => {
    const hex = blob.digest.slice('sha256:'.length);
    const hit = await cache.lookup(CACHE_NAMESPACE, blob.digest);
    if (hit !== undefined && hit.sha256 === hex && hit.size === blob.size) return { path: hit.path, fromCache: true };
    const dest = join(staging, hex);
    const result = await client.fetchBlob(blob, dest, label, report.progress);
    const entry = await cache.store(CACHE_NAMESPACE, blob.digest, result.path, { sha256: result.sha256, size: result.size, move: true, meta: { mediaType: blob.mediaType, image } });
    return { path: entry?.path ?? result.path, fromCache: false };
  };

  const configBlob = await fetchBlob(manifest.config, `config ${manifest.config.digest.slice(7, 19)}`);
  const config = parseImageConfig(await readFile(configBlob.path), manifest.config.digest);
  if (!sameArch(config, platform)) {
    throw new InputError(
      `${image} is built for ${config.os ?? '?'}/${config.architecture}${config.variant ? `/${config.variant}` : ''}, not ${formatPlatform(platform)}`,
      'pass the matching --arch, or pick an image built for this architecture',
    );
  }
  const diffIds = config.rootfs?.diff_ids;
  if (diffIds !== undefined && diffIds.length !== manifest.layers.length) {
    throw new VerificationError(`${image}: the config lists ${diffIds.length} layer digests, the manifest ${manifest.layers.length} layers`);
  }

  report.step('oci', `${manifest.layers.length} layer(s) into ${root}`);
  const limit = pLimit(options.concurrency ?? 4);
  const total = manifest.layers.length;
  const downloads = manifest.layers.map((layer, i) =>
    limit(() => {
      signal.throwIfAborted();
      return fetchBlob(layer, `layer ${i + 1}/${total} ${layer.digest.slice(7, 19)}`);
    }),
  );
  // Handled below in order; this keeps a rejection from being reported as unhandled meanwhile.
  for (const d of downloads) d.catch(() => undefined);

  const writer = new RootfsWriter(root, { asRoot: options.asRoot, warn: (text) => report.warn(text) });
  const layers: PulledLayer[] = [];
  const warnings: string[] = [];
  try {
    for (const [i, layer] of manifest.layers.entries()) {
      signal.throwIfAborted();
      const blob = await downloads[i]!;
      const name = `${i + 1}/${total} ${layer.digest}`;
      const applied = await applyLayerFile(writer, blob.path, { name, diffId: diffIds?.[i], signal });
      const { compression, diffId, ...stats } = applied;
      warnings.push(...stats.warnings);
      layers.push({ digest: layer.digest, size: layer.size, mediaType: layer.mediaType, compression, diffId, fromCache: blob.fromCache, stats });
      report.step(
        'oci',
        `layer ${i + 1}/${total} applied${blob.fromCache ? ' (cached)' : ''}: ${stats.files} files, ${stats.directories} dirs, ${stats.symlinks} symlinks, ` +
          `${stats.hardlinks} hard links, ${stats.devices + stats.fifos} special, ${stats.whiteouts} whiteouts, ${stats.opaqueDirs} opaque dirs` +
          (stats.skipped ? `, ${stats.skipped} skipped` : ''),
      );
    }
    await writer.finish();
  } catch (err) {
    abort.abort(err);
    // Let every download stop before the scope removes what they write to.
    await Promise.allSettled(downloads);
    throw err;
  }
  complete = true;
  report.step('oci', `${image} (${manifestDigest}) unpacked into ${root}`);
  return {
    image,
    digest: top.digest,
    manifestDigest,
    platform,
    dir: root,
    config,
    configDigest: manifest.config.digest,
    layers,
    warnings,
  };
}
