import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { layerCompression, MANIFEST_ACCEPT, MEDIA_TYPES, ociPlatform, parseManifest, selectPlatform, type ImageIndex } from '../../src/oci/manifest.js';

const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const manifestBody = (mediaType?: string) => ({
  schemaVersion: 2,
  ...(mediaType ? { mediaType } : {}),
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(1), size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(2), size: 20 }],
});

describe('parseManifest', () => {
  it.each([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest])('reads an image manifest of type %s', (mt) => {
    const m = parseManifest(json(manifestBody(mt)), undefined);
    expect(m).toEqual({
      kind: 'manifest',
      mediaType: mt,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(1), size: 10 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(2), size: 20 }],
    });
  });

  it.each([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList])('reads an index of type %s with platforms', (mt) => {
    const m = parseManifest(
      json({ schemaVersion: 2, mediaType: mt, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: d(3), size: 5, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] }),
      undefined,
    );
    expect(m).toEqual({ kind: 'index', mediaType: mt, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: d(3), size: 5, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] });
  });

  it('takes the media type from Content-Type when the body has none, and from the shape as a last resort', () => {
    expect(parseManifest(json(manifestBody()), `${MEDIA_TYPES.dockerManifest}; charset=utf-8`).mediaType).toBe(MEDIA_TYPES.dockerManifest);
    expect(parseManifest(json(manifestBody()), 'application/octet-stream').mediaType).toBe(MEDIA_TYPES.ociManifest);
    expect(parseManifest(json({ schemaVersion: 2, manifests: [] }), 'text/plain').kind).toBe('index');
  });

  it.each([
    ['not JSON', Buffer.from('{'), 'not JSON'],
    ['a JSON string', json('x'), 'not a JSON object'],
    ['schema 1', json({ schemaVersion: 1, name: 'x', fsLayers: [] }), 'schemaVersion 1'],
    ['an unknown media type', json({ schemaVersion: 2, mediaType: 'application/vnd.cncf.helm.config.v1+json' }), 'is not an image index or manifest'],
    ['a manifest without layers', json({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: manifestBody().config }), 'without "layers"'],
    ['an index without manifests', json({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex }), 'without "manifests"'],
    ['a bad digest', json({ ...manifestBody(MEDIA_TYPES.ociManifest), config: { mediaType: 'x', digest: 'sha256:zz', size: 1 } }), 'is not sha256'],
    ['a negative size', json({ ...manifestBody(MEDIA_TYPES.ociManifest), config: { mediaType: 'x', digest: d(1), size: -1 } }), 'no valid size'],
    ['a descriptor without mediaType', json({ ...manifestBody(MEDIA_TYPES.ociManifest), layers: [{ digest: d(1), size: 1 }] }), 'no mediaType'],
  ])('refuses %s', (_what, bytes, message) => {
    expect(() => parseManifest(bytes, undefined)).toThrow(InputError);
    expect(() => parseManifest(bytes, undefined)).toThrow(message);
  });
});

describe('platforms', () => {
  it.each([
    ['x86-64', { os: 'linux', architecture: 'amd64' }],
    ['amd64', { os: 'linux', architecture: 'amd64' }],
    ['X86_64', { os: 'linux', architecture: 'amd64' }],
    ['arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['aarch64', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
  ])('ociPlatform(%s)', (arch, expected) => {
    expect(ociPlatform(arch)).toEqual(expected);
  });

  it('refuses an unknown architecture', () => {
    expect(() => ociPlatform('riscv64')).toThrow('unknown architecture');
  });

  const entry = (n: number, architecture: string, variant?: string, os = 'linux') => ({
    mediaType: MEDIA_TYPES.ociManifest,
    digest: d(n),
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const index = (manifests: ImageIndex['manifests']): ImageIndex => ({ kind: 'index', mediaType: MEDIA_TYPES.ociIndex, manifests });

  it('picks the entry for the architecture, skipping attestations and other systems', () => {
    const idx = index([entry(1, 'unknown', undefined, 'unknown'), entry(2, 'amd64', undefined, 'windows'), entry(3, 'arm', 'v7'), entry(4, 'amd64'), entry(5, 'arm64', 'v8')]);
    expect(selectPlatform(idx, ociPlatform('x86-64')).digest).toBe(d(4));
    expect(selectPlatform(idx, ociPlatform('arm64')).digest).toBe(d(5));
  });

  it('prefers arm64/v8 over an arm64 entry without a variant, and accepts the latter alone', () => {
    expect(selectPlatform(index([entry(1, 'arm64'), entry(2, 'arm64', 'v8')]), ociPlatform('arm64')).digest).toBe(d(2));
    expect(selectPlatform(index([entry(1, 'arm64')]), ociPlatform('arm64')).digest).toBe(d(1));
    expect(() => selectPlatform(index([entry(1, 'arm64', 'v9')]), ociPlatform('arm64'))).toThrow();
  });

  it('says what the index offers when nothing fits', () => {
    const idx = index([entry(1, 'unknown', undefined, 'unknown'), entry(2, 'arm', 'v7'), entry(3, 's390x')]);
    expect(() => selectPlatform(idx, ociPlatform('arm64'), 'img')).toThrow('img has no linux/arm64/v8 variant; it offers linux/arm/v7, linux/s390x');
  });
});

describe('layers', () => {
  it.each([
    ['application/vnd.oci.image.layer.v1.tar', 'none'],
    ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
    ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
    ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
  ])('%s is %s', (mediaType, compression) => {
    expect(layerCompression({ mediaType, digest: d(1), size: 1 })).toBe(compression);
  });

  it('refuses artifacts that are not filesystem layers', () => {
    expect(() => layerCompression({ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: d(1), size: 1 })).toThrow('not a filesystem layer');
  });

  it('asks for all four manifest types', () => {
    for (const mt of Object.values(MEDIA_TYPES)) expect(MANIFEST_ACCEPT).toContain(mt);
  });
});
