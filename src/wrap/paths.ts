/** Command-line path specs of flix and flatwrap: `PATH` or `SRC:DEST`. Pure. */
import path from 'node:path';
import { InputError } from '../errors.js';

export interface PathSpec {
  /** Absolute path inside the rootfs. */
  source: string;
  /** Absolute destination inside the extension (under /usr or /opt). */
  dest: string;
}

/** Is P (absolute, normalised) somewhere a sysext can ship files: strictly below /usr or /opt? */
export function insideSysextTree(p: string): boolean {
  return /^\/(usr|opt)\/[^/]/.test(p);
}

function normaliseAbsolute(p: string, spec: string, role: string): string {
  if (!p.startsWith('/')) throw new InputError(`${role} "${p}" in "${spec}" is not an absolute path`, 'paths name files inside the rootfs as the rootfs sees them, e.g. /usr/bin/jq');
  if (p.split('/').includes('..')) throw new InputError(`${role} "${p}" in "${spec}" contains ".."`);
  if (p.includes('\0') || p.includes('\n')) throw new InputError(`${role} in "${spec}" contains a NUL or newline`);
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

export interface ParsePathSpecOptions {
  /**
   * Where a source outside /usr and /opt goes when no DEST is given: a directory (binaries land
   * there under their own name), or undefined to require an explicit DEST.
   */
  defaultDir?: string;
  /** What the spec names, for messages ("binary", "resource"). */
  what: string;
}

/**
 * `SRC` or `SRC:DEST`. Without DEST a source under /usr or /opt keeps its path; anything else
 * goes to DEFAULT_DIR/<basename> (e.g. /bin/jq -> /usr/bin/jq) or is refused.
 */
export function parsePathSpec(spec: string, options: ParsePathSpecOptions): PathSpec {
  const colon = spec.indexOf(':');
  const source = normaliseAbsolute(colon === -1 ? spec : spec.slice(0, colon), spec, `${options.what} source`);
  if (source === '/') throw new InputError(`${options.what} "${spec}" names the whole rootfs`);
  let dest: string;
  if (colon !== -1) {
    dest = normaliseAbsolute(spec.slice(colon + 1), spec, `${options.what} destination`);
  } else if (insideSysextTree(source)) {
    dest = source;
  } else if (options.defaultDir !== undefined) {
    dest = path.posix.join(options.defaultDir, path.posix.basename(source));
  } else {
    throw new InputError(
      `${options.what} ${source} is outside /usr and /opt, where a sysext cannot put it`,
      `name a destination: ${source}:/usr/share/NAME/${path.posix.basename(source)}`,
    );
  }
  if (!insideSysextTree(dest)) {
    throw new InputError(`${options.what} destination ${dest} (from "${spec}") is outside /usr and /opt`, 'a sysext holds only /usr and /opt; pick a destination below one of them');
  }
  return { source, dest };
}

/** Refuse two specs writing the same destination (the second would silently win). */
export function refuseDuplicateDestinations(specs: PathSpec[], what: string): void {
  const seen = new Map<string, string>();
  for (const s of specs) {
    const earlier = seen.get(s.dest);
    if (earlier !== undefined) throw new InputError(`${what} ${earlier} and ${s.source} would both be installed as ${s.dest}`, `give one of them another destination with SRC:DEST`);
    seen.set(s.dest, s.source);
  }
}

/** Quote S for a POSIX shell: single quotes, each ' written as '\''. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
