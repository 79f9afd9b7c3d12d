/**
 * The dynamic loader's search rules, as text: ld.so.conf syntax, glob patterns of its `include`
 * lines, $ORIGIN-style tokens, and the default directories per architecture. Pure.
 */
import type { ElfInfo } from '../sysext/elf.js';
import { EM_386, EM_AARCH64, EM_ARM, EM_X86_64 } from '../sysext/elf.js';
import type { Arch } from '../arch.js';

export type LdSoConfEntry = { kind: 'dir'; path: string } | { kind: 'include'; pattern: string };

/**
 * Parse ld.so.conf text as glibc's ldconfig does: one directory per line, `#` comments,
 * `include PATTERN...` lines, `hwcap` lines ignored, and an old `DIR=TYPE` suffix dropped.
 */
export function parseLdSoConf(text: string): LdSoConfEntry[] {
  const entries: LdSoConfEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    if (words[0] === 'include' && words.length > 1) {
      for (const pattern of words.slice(1)) entries.push({ kind: 'include', pattern });
      continue;
    }
    if (words[0] === 'hwcap') continue;
    const dir = line.replace(/=.*$/, '').replace(/(.)\/+$/, '$1');
    if (dir !== '') entries.push({ kind: 'dir', path: dir });
  }
  return entries;
}

/** Where a relative `include` pattern points: glibc takes it relative to the including file's directory. */
export function includeBase(pattern: string, includingFile: string): string {
  if (pattern.startsWith('/')) return pattern;
  const dir = includingFile.slice(0, includingFile.lastIndexOf('/')) || '/';
  return `${dir.replace(/\/$/, '')}/${pattern}`;
}

export function hasGlob(segment: string): boolean {
  return /[*?[]/.test(segment);
}

/** A RegExp for one path segment of a glob(3) pattern: `*`, `?`, `[...]` and `[!...]`; no `/`, no leading-dot match. */
export function globSegmentToRegExp(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < segment.length) {
      out += segment[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else out += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  // glob(3) without GLOB_PERIOD: a wildcard never matches a leading dot.
  const leadingDotGuard = segment.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${leadingDotGuard}${out}$`);
}

/** The GNU multiarch triplet of an architecture, for Debian-style /usr/lib/<triplet>. */
export function multiarchTriplet(elf: ElfInfo): string | undefined {
  switch (elf.machine) {
    case EM_X86_64: return elf.bits === 64 ? 'x86_64-linux-gnu' : 'x86_64-linux-gnux32';
    case EM_AARCH64: return 'aarch64-linux-gnu';
    case EM_386: return 'i386-linux-gnu';
    case EM_ARM: return 'arm-linux-gnueabihf';
    default: return undefined;
  }
}

/** musl's loader name part: /lib/ld-musl-<arch>.so.1 and /etc/ld-musl-<arch>.path. */
export function muslArch(interpreter: string | undefined): string | undefined {
  return /\/ld-musl-([A-Za-z0-9_]+)\.so\.1$/.exec(interpreter ?? '')?.[1];
}

/**
 * Directories searched after RPATH/RUNPATH and ld.so.conf: the multiarch dirs (Debian, Ubuntu),
 * the lib64 dirs of 64-bit distributions (Fedora, Flatcar), and the plain ones (Alpine, Arch).
 * Libraries of the wrong ELF class or machine are skipped where they are found, so listing more
 * directories than one distribution uses is harmless.
 */
export function defaultLibraryDirs(elf: ElfInfo): string[] {
  const triplet = multiarchTriplet(elf);
  const dirs: string[] = [];
  if (triplet) dirs.push(`/lib/${triplet}`, `/usr/lib/${triplet}`);
  if (elf.bits === 64) dirs.push('/lib64', '/usr/lib64');
  dirs.push('/lib', '/usr/lib', '/usr/local/lib');
  return dirs;
}

/**
 * Expand the loader's dynamic string tokens in one RPATH/RUNPATH element: $ORIGIN (the directory
 * of the object, as a path inside the root), $LIB and $PLATFORM. $LIB differs between
 * distributions, so it yields every spelling; callers try each.
 */
export function expandRpathTokens(element: string, origin: string, elf: ElfInfo): string[] {
  const platform = elf.machine === EM_X86_64 ? 'x86_64' : elf.machine === EM_AARCH64 ? 'aarch64' : elf.machine === EM_386 ? 'i686' : 'unknown';
  const triplet = multiarchTriplet(elf);
  const libs = [...(triplet ? [`lib/${triplet}`] : []), elf.bits === 64 ? 'lib64' : 'lib', 'lib'];
  const withOrigin = element.replace(/\$(\{ORIGIN\}|ORIGIN\b)/g, origin).replace(/\$(\{PLATFORM\}|PLATFORM\b)/g, platform);
  if (!/\$(\{LIB\}|LIB\b)/.test(withOrigin)) return [withOrigin];
  return [...new Set(libs.map((lib) => withOrigin.replace(/\$(\{LIB\}|LIB\b)/g, lib)))];
}

/** Split musl's /etc/ld-musl-ARCH.path: directories separated by newlines or colons. */
export function parseMuslPath(text: string): string[] {
  return text.split(/[\n:]/).map((s) => s.trim()).filter((s) => s !== '');
}
