import { InputError } from '../errors.js';

function parseMirror(mirror: string): URL {
  let base: URL;
  try {
    base = new URL(mirror);
  } catch {
    throw new InputError(`invalid --mirror URL: ${mirror}`, 'give an absolute http:// or https:// URL, e.g. https://mirror.example/flatcar');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new InputError(`--mirror must be an http:// or https:// URL, got ${base.protocol.replace(/:$/, '')}: ${mirror}`);
  }
  // A query or fragment on the mirror has no place to go once HOST/PATH is appended.
  if (base.search !== '' || base.hash !== '' || mirror.includes('?') || mirror.includes('#')) {
    throw new InputError(`--mirror must not have a query or fragment: ${mirror}`);
  }
  return base;
}

/**
 * With a mirror, `http(s)://HOST/PATH?QUERY` becomes `<mirror>/HOST/PATH?QUERY`:
 * an air-gapped mirror is a plain directory tree laid out by host name. The
 * scheme is not part of the layout; a non-default port stays in HOST as
 * `host:port` (a default port is normalised away, as URL parsing does).
 * Credentials and fragments of the original URL are dropped: they are never
 * meant for the mirror. Not idempotent: apply it once, where the fetch happens.
 */
export function applyMirror(url: string, mirror?: string): string {
  if (mirror === undefined || mirror === '') return url;
  const base = parseMirror(mirror);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new InputError(`cannot fetch through the mirror: not a URL: ${url}`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new InputError(`cannot fetch through the mirror: only http(s) URLs can be mirrored: ${url}`);
  }
  target.username = '';
  target.password = '';
  target.hash = '';
  // Slicing href (not pathname + search) keeps a bare trailing "?" exactly as given.
  const rest = target.href.slice(target.origin.length);
  const prefix = base.href.replace(/\/+$/, '');
  return `${prefix}/${target.host}${rest}`;
}
