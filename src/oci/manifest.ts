import { InputError } from '../errors.js';
import { normalizeArch } from '../arch.js';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Sent on every manifest request: without it, registries answer with an old schema 1 manifest. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest].join(', ');

export type LayerCompression = 'none' | 'gzip' | 'zstd';

/** Layer media types we can apply, and the compression each announces. */
const LAYER_TYPES: Readonly<Record<string, LayerCompression>> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export type AnyManifest = ImageIndex | ImageManifest;

/** The part of the image config we read. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  rootfs?: { type?: string; diff_ids?: string[] };
  config?: Record<string, unknown>;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** An architecture in any spelling normalizeArch takes, as OCI names its platform: amd64, arm64/v8. */
export function ociPlatform(arch: string): Platform {
  return normalizeArch(arch) === 'x86-64' ? { os: 'linux', architecture: 'amd64' } : { os: 'linux', architecture: 'arm64', variant: 'v8' };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** An arm64 entry without a variant is v8: the only one there is. */
function platformMatches(candidate: Platform, wanted: Platform): boolean {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (wanted.variant === undefined) return true;
  return candidate.variant === undefined || candidate.variant === wanted.variant;
}

function invalid(what: string, why: string): InputError {
  return new InputError(`invalid ${what}: ${why}`, 'the registry returned something that is not an OCI or Docker v2 image manifest');
}

function parseDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw invalid(what, 'a descriptor is not an object');
  const v = value as Record<string, unknown>;
  if (typeof v['mediaType'] !== 'string') throw invalid(what, 'a descriptor has no mediaType');
  if (typeof v['digest'] !== 'string' || !DIGEST.test(v['digest'])) {
    throw invalid(what, `descriptor digest ${JSON.stringify(v['digest'])} is not sha256:<64 hex>`);
  }
  if (typeof v['size'] !== 'number' || !Number.isSafeInteger(v['size']) || v['size'] < 0) throw invalid(what, 'a descriptor has no valid size');
  const d: Descriptor = { mediaType: v['mediaType'], digest: v['digest'], size: v['size'] };
  const p = v['platform'];
  if (typeof p === 'object' && p !== null) {
    const pp = p as Record<string, unknown>;
    if (typeof pp['os'] === 'string' && typeof pp['architecture'] === 'string') {
      d.platform = { os: pp['os'], architecture: pp['architecture'] };
      if (typeof pp['variant'] === 'string') d.platform.variant = pp['variant'];
    }
  }
  return d;
}

/**
 * Parse manifest bytes. The media type is the body's own `mediaType` when it
 * has one (a mirror served as static files has no meaningful Content-Type),
 * else the response's Content-Type.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what = 'manifest'): AnyManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(what, 'it is not JSON');
  }
  if (typeof json !== 'object' || json === null) throw invalid(what, 'it is not a JSON object');
  const m = json as Record<string, unknown>;
  const declared = typeof m['mediaType'] === 'string' ? m['mediaType'] : undefined;
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  let mediaType = declared ?? header;
  // An OCI index or manifest may omit mediaType; its shape tells which it is.
  if (mediaType === undefined || !Object.values(MEDIA_TYPES).includes(mediaType as never)) {
    if (declared === undefined && Array.isArray(m['manifests'])) mediaType = MEDIA_TYPES.ociIndex;
    else if (declared === undefined && Array.isArray(m['layers'])) mediaType = MEDIA_TYPES.ociManifest;
  }
  if (m['schemaVersion'] !== 2) {
    throw invalid(what, `schemaVersion ${JSON.stringify(m['schemaVersion'])} is not supported (only schema 2 / OCI)`);
  }
  switch (mediaType) {
    case MEDIA_TYPES.ociIndex:
    case MEDIA_TYPES.dockerList: {
      if (!Array.isArray(m['manifests'])) throw invalid(what, 'an index without "manifests"');
      return { kind: 'index', mediaType, manifests: m['manifests'].map((d) => parseDescriptor(d, what)) };
    }
    case MEDIA_TYPES.ociManifest:
    case MEDIA_TYPES.dockerManifest: {
      if (!Array.isArray(m['layers'])) throw invalid(what, 'a manifest without "layers"');
      return { kind: 'manifest', mediaType, config: parseDescriptor(m['config'], what), layers: m['layers'].map((d) => parseDescriptor(d, what)) };
    }
    default:
      throw invalid(what, `media type ${JSON.stringify(mediaType)} is not an image index or manifest`);
  }
}

/** The index entry for `wanted`; an error listing what the index offers when none fits. */
export function selectPlatform(index: ImageIndex, wanted: Platform, what = 'image'): Descriptor {
  const candidates = index.manifests.filter((d) => d.platform !== undefined && platformMatches(d.platform, wanted));
  // Prefer the exact variant over an entry that leaves it out.
  const exact = candidates.find((d) => d.platform?.variant === wanted.variant);
  const chosen = exact ?? candidates[0];
  if (chosen === undefined) {
    const offered = index.manifests
      .map((d) => (d.platform ? formatPlatform(d.platform) : undefined))
      .filter((p): p is string => p !== undefined && p !== 'unknown/unknown');
    throw new InputError(
      `${what} has no ${formatPlatform(wanted)} variant${offered.length ? `; it offers ${offered.join(', ')}` : ''}`,
      'choose another --arch or another image',
    );
  }
  return chosen;
}

/** The compression a layer's media type announces; an error for anything that is not a filesystem layer. */
export function layerCompression(layer: Descriptor): LayerCompression {
  const c = LAYER_TYPES[layer.mediaType];
  if (c === undefined) {
    throw new InputError(
      `layer ${layer.digest} has media type ${layer.mediaType}, which is not a filesystem layer`,
      'this image is not a container image (an artifact such as a Helm chart or a signature?)',
    );
  }
  return c;
}

export function parseImageConfig(bytes: Buffer, digest: string): ImageConfig {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InputError(`image config ${digest} is not JSON`);
  }
  if (typeof json !== 'object' || json === null) throw new InputError(`image config ${digest} is not a JSON object`);
  return json as ImageConfig;
}
