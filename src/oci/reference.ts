import { InputError } from '../errors.js';

/** Docker Hub's names (`alpine`, `docker.io/library/alpine`) are served by this host. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export interface ImageRef {
  /** `host` or `host:port`, lower case; the registry that is contacted. */
  registry: string;
  /** `library/alpine`, `org/img`. */
  repository: string;
  /** Set when the reference names a tag; `latest` when it names neither tag nor digest. */
  tag?: string;
  /** `sha256:<64 hex>`: the manifest is pulled by digest and its bytes must hash to it. */
  digest?: string;
  /** Plain HTTP only for loopback registries or when asked for explicitly. */
  scheme: 'http' | 'https';
}

export interface ParseImageRefOptions {
  /** `--registry`: contact this host (optionally `http://host:port`) instead of the one in the name. */
  registry?: string;
  /** `--insecure-registry`: plain HTTP even for a non-loopback host. */
  insecure?: boolean;
}

// The grammar of the distribution project's reference package, written out for our needs.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

function bad(text: string, why: string): InputError {
  return new InputError(
    `invalid image reference "${text}": ${why}`,
    'write it as [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST], e.g. alpine:3.20 or ghcr.io/org/img:tag',
  );
}

/** Split an optional `http://`/`https://` prefix from a registry or reference. */
function splitScheme(text: string): { scheme?: 'http' | 'https'; rest: string } {
  const m = /^(https?):\/\//i.exec(text);
  if (!m) return { rest: text };
  return { scheme: m[1]!.toLowerCase() as 'http' | 'https', rest: text.slice(m[0].length) };
}

/** The host part of `host[:port]`, without brackets. */
function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}

/** Registries on this machine may be spoken to without TLS: nothing crosses a network. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = hostName(registry).toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

function normalizeRegistry(text: string, original: string): string {
  if (!HOST.test(text)) throw bad(original, `"${text}" is not a registry host[:port]`);
  const port = /:(\d+)$/.exec(text.startsWith('[') ? text.slice(text.indexOf(']')) : text);
  if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) throw bad(original, `port ${port[1]} is out of range`);
  return text.toLowerCase();
}

/**
 * Parse `alpine`, `alpine:3.20`, `library/alpine@sha256:...`, `ghcr.io/org/img:tag`,
 * `localhost:5000/x`, `http://10.0.0.5:5000/x`. The first path component is a
 * registry when it has a `.` or a `:` or is `localhost`, as Docker decides;
 * otherwise the image is on Docker Hub and a one-component name gets `library/`.
 * `options.registry` replaces the registry host and keeps the repository path
 * (for Docker Hub names, `library/...`, the path a pull-through mirror uses).
 */
export function parseImageRef(text: string, options: ParseImageRefOptions = {}): ImageRef {
  const original = text;
  const { scheme: refScheme, rest } = splitScheme(text.trim());
  if (rest === '') throw bad(original, 'it is empty');
  if (/\s/.test(rest)) throw bad(original, 'it contains white space');

  let remainder = rest;
  let digest: string | undefined;
  const at = remainder.indexOf('@');
  if (at !== -1) {
    digest = remainder.slice(at + 1);
    remainder = remainder.slice(0, at);
    if (!DIGEST.test(digest)) {
      if (/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:/.test(digest) && !digest.startsWith('sha256:')) {
        throw bad(original, `only sha256 digests are supported, got "${digest.split(':')[0]}"`);
      }
      throw bad(original, `"${digest}" is not sha256:<64 lower-case hex digits>`);
    }
  }

  let tag: string | undefined;
  const lastSlash = remainder.lastIndexOf('/');
  const colon = remainder.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = remainder.slice(colon + 1);
    remainder = remainder.slice(0, colon);
    if (!TAG.test(tag)) throw bad(original, `"${tag}" is not a valid tag`);
  }

  const parts = remainder.split('/');
  let registry: string;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = normalizeRegistry(first, original);
    parts.shift();
  } else {
    registry = 'docker.io';
  }
  if (parts.length === 0 || parts.some((p) => p === '')) throw bad(original, 'the repository name is empty or has an empty component');
  for (const p of parts) {
    if (!PATH_COMPONENT.test(p)) {
      throw bad(original, `"${p}" is not a valid name component (lower-case letters, digits and single . _ __ - separators)`);
    }
  }
  const onHub = DOCKER_HUB_ALIASES.has(registry);
  if (onHub) {
    registry = DOCKER_HUB_REGISTRY;
    if (parts.length === 1) parts.unshift('library');
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw bad(original, 'the repository name is longer than 255 characters');

  let scheme: 'http' | 'https' | undefined = refScheme;
  if (options.registry !== undefined && options.registry !== '') {
    const override = splitScheme(options.registry.trim());
    const host = override.rest.replace(/\/+$/, '');
    if (host.includes('/')) throw bad(options.registry, '--registry takes a host[:port], not a path');
    registry = normalizeRegistry(host, options.registry);
    if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB_REGISTRY;
    scheme = override.scheme;
  }
  scheme ??= options.insecure || isLoopbackRegistry(registry) ? 'http' : 'https';

  const ref: ImageRef = { registry, repository, scheme };
  if (digest !== undefined) ref.digest = digest;
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined) ref.tag = 'latest';
  return ref;
}

/** `registry/repository[:tag][@digest]`, for messages and the result. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** What the manifest endpoint is asked for: the digest when there is one (it is verified), else the tag. */
export function manifestReference(ref: ImageRef): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** `https://host/v2/` */
export function registryBase(ref: Pick<ImageRef, 'registry' | 'scheme'>): string {
  return `${ref.scheme}://${ref.registry}/v2/`;
}
