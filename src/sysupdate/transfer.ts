/**
 * Reading a systemd-sysupdate transfer (sysupdate.d(5)) far enough to know where it looks for
 * the installed versions of a sysext: the [Target] section's Path, MatchPattern and
 * CurrentSymlink. Pure: text in, facts out.
 */
import path from 'node:path';
import type { Arch } from '../arch.js';

export interface TransferTarget {
  /** `regular-file`, `directory`, `partition`, ... (sysupdate.d(5) "Type="). */
  type?: string;
  /** Absolute directory as the booted system sees it. */
  path?: string;
  /** `root` (default), `esp`, `xbootldr`, `boot`, or a path (newer systemd). */
  pathRelativeTo?: string;
  /** Target patterns; systemd uses the Source's when [Target] names none. */
  patterns: string[];
  currentSymlink?: string;
}

/**
 * The [Target] facts of a transfer. Later assignments win (as in systemd's parser), except
 * MatchPattern, which accumulates, and an empty `MatchPattern=`, which resets the list.
 */
export function parseTransferTarget(text: string): TransferTarget {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      current = sections.get(header[1]!) ?? new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const values = current.get(key) ?? [];
    if (key === 'MatchPattern') current.set(key, value === '' ? [] : [...values, ...value.split(/\s+/)]);
    else current.set(key, [value]);
  }
  const target = sections.get('Target') ?? new Map<string, string[]>();
  const last = (key: string) => target.get(key)?.at(-1);
  const targetPatterns = target.get('MatchPattern') ?? [];
  return {
    type: last('Type'),
    path: last('Path'),
    pathRelativeTo: last('PathRelativeTo'),
    patterns: targetPatterns.length ? targetPatterns : (sections.get('Source')?.get('MatchPattern') ?? []),
    currentSymlink: last('CurrentSymlink'),
  };
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A regular expression for one MatchPattern: `@v` is the version (systemd accepts letters, digits
 * and `.,_-+~^:` in one), the other `@x` fields are some text, `%a` is the architecture and `%%`
 * a percent sign. Other specifiers depend on the running system; they match any text.
 */
export function patternRegExp(pattern: string, arch: Arch): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const next = pattern[i + 1];
    if (c === '@' && next !== undefined) {
      out += next === '@' ? '@' : next === 'v' ? '[A-Za-z0-9.,_+~^:-]+' : '[^/]+?';
      i++;
    } else if (c === '%' && next !== undefined) {
      out += next === '%' ? '%' : next === 'a' ? escapeRe(arch) : '[^/]*?';
      i++;
    } else {
      out += escapeRe(c);
    }
  }
  return new RegExp(`^${out}$`);
}

export function matchesTransfer(fileName: string, patterns: readonly string[], arch: Arch): boolean {
  return patterns.some((p) => patternRegExp(p, arch).test(fileName));
}

export type PartitionName = 'root' | 'oem';

/** Where a sysext goes when a transfer is installed with it. */
export interface TransferPlacement {
  partition: PartitionName;
  /** Directory inside the partition. */
  dir: string;
  /** The same directory as the booted system sees it (the transfer's Target Path). */
  bootedDir: string;
  /** Things the user should know; the placement is still used. */
  warnings: string[];
}

/**
 * Where the transfer's Target looks for installed versions, as a place in the image, or a reason
 * it cannot be used (then the caller keeps --install-to). Flatcar's ROOT is `/` of the booted
 * system and OEM is mounted at `/oem`; /usr is the read-only, verity-checked USR partition.
 */
export function placementFromTransfer(name: string, fileName: string, text: string, arch: Arch): TransferPlacement | { unusable: string } {
  const target = parseTransferTarget(text);
  if ((target.type ?? '') !== 'regular-file') return { unusable: `its [Target] Type is ${target.type ?? 'missing'}, not regular-file` };
  if (target.pathRelativeTo && target.pathRelativeTo !== 'root') return { unusable: `its [Target] PathRelativeTo=${target.pathRelativeTo} is not on ROOT or OEM` };
  const dir = target.path;
  if (!dir || !dir.startsWith('/') || /[%@\0\n]/.test(dir) || dir.split('/').some((p) => p === '.' || p === '..')) {
    return { unusable: `its [Target] Path ${dir === undefined ? 'is missing' : `'${dir}' is not a plain absolute directory`}` };
  }
  const bootedDir = path.posix.normalize(dir).replace(/\/+$/, '') || '/';
  if (bootedDir === '/usr' || bootedDir.startsWith('/usr/')) return { unusable: `its [Target] Path ${bootedDir} is on the read-only USR partition` };
  const onOem = bootedDir === '/oem' || bootedDir.startsWith('/oem/');
  const warnings: string[] = [];
  if (target.patterns.length === 0) {
    warnings.push(`${name}.conf has no MatchPattern: systemd-sysupdate will not recognise ${fileName} as an installed version`);
  } else if (!matchesTransfer(fileName, target.patterns, arch)) {
    warnings.push(
      `${fileName} does not match ${name}.conf's MatchPattern ${target.patterns.join(' ')}: systemd-sysupdate will not see it as an installed version and will download one (name the file like ${target.patterns[0]})`,
    );
  }
  const link = `/etc/extensions/${name}.raw`;
  if (target.currentSymlink && target.currentSymlink !== link) {
    warnings.push(`${name}.conf's CurrentSymlink is ${target.currentSymlink}, but the sysext is linked as ${link}`);
  }
  return {
    partition: onOem ? 'oem' : 'root',
    dir: onOem ? bootedDir.slice('/oem'.length) || '/' : bootedDir,
    bootedDir,
    warnings,
  };
}
