/**
 * The extension-release file of a sysext: rendering, parsing and validation.
 * Pure: no I/O. Syntax follows os-release(5).
 */
import { InputError } from '../errors.js';
import { finding, type Finding } from './findings.js';
import { normalizeArch } from '../arch.js';

/** The NAME rule shared with the bake command line (NAME of NAME:FILE, see README.md). */
export const SYSEXT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

/** Architecture names systemd accepts in ARCHITECTURE= (systemd's architecture table). */
export const SYSTEMD_ARCHITECTURES: readonly string[] = [
  'alpha', 'arc', 'arc-be', 'arm', 'arm-be', 'arm64', 'arm64-be', 'cris', 'ia64', 'loongarch64',
  'm68k', 'mips', 'mips-le', 'mips64', 'mips64-le', 'nios2', 'parisc', 'parisc64', 'ppc', 'ppc-le',
  'ppc64', 'ppc64-le', 'riscv32', 'riscv64', 's390', 's390x', 'sh', 'sh64', 'sparc', 'sparc64',
  'tilegx', 'x86', 'x86-64',
];

/** Throws InputError unless NAME is a safe sysext name (it becomes a file name and part of a path). */
export function validateSysextName(name: string): void {
  if (!SYSEXT_NAME_PATTERN.test(name) || name.includes('..')) {
    throw new InputError(
      `invalid sysext name "${name}"`,
      'a name starts with a letter or digit and contains only letters, digits and _ . + - (no "/", no "..")',
    );
  }
}

/** os-release ID syntax (lower-case letters, digits, "_", "-", "."); `_any` matches every OS. */
const OS_ID_PATTERN = /^[a-z0-9._-]+$/;
const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ExtensionReleaseOptions {
  /** `_any` for every OS, else the os-release ID (e.g. `flatcar`). */
  os: string;
  arch?: string;
  /** Ask systemd to reload the manager after merging (the sysext ships units). */
  reload?: boolean;
  extra?: Record<string, string>;
}

function quoteValue(value: string): string {
  if (/^[A-Za-z0-9._:+\/-]*$/.test(value) && value !== '') return value;
  return `"${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

export function renderExtensionRelease(options: ExtensionReleaseOptions): string {
  if (options.os !== '_any' && !OS_ID_PATTERN.test(options.os)) {
    throw new InputError(`invalid OS ID "${options.os}"`, 'use `_any` or an os-release ID such as `flatcar`');
  }
  const fields: Array<[string, string]> = [['ID', options.os]];
  // SYSEXT_LEVEL (not VERSION_ID) so the image keeps matching across Flatcar updates.
  if (options.os !== '_any') fields.push(['SYSEXT_LEVEL', '1.0']);
  if (options.arch !== undefined) fields.push(['ARCHITECTURE', normalizeArch(options.arch)]);
  if (options.reload) fields.push(['EXTENSION_RELOAD_MANAGER', '1']);
  const reserved = new Set(fields.map(([k]) => k).concat(['ID', 'SYSEXT_LEVEL', 'ARCHITECTURE', 'EXTENSION_RELOAD_MANAGER']));
  for (const [key, value] of Object.entries(options.extra ?? {})) {
    if (!KEY_PATTERN.test(key)) throw new InputError(`invalid extension-release key "${key}"`);
    if (reserved.has(key)) throw new InputError(`extension-release key ${key} is set by its own option`);
    if (value.includes('\n')) throw new InputError(`extension-release value of ${key} contains a newline`);
    fields.push([key, value]);
  }
  return fields.map(([k, v]) => `${k}=${quoteValue(v)}\n`).join('');
}

export interface ParsedExtensionRelease {
  fields: Record<string, string>;
  /** Malformed lines, 1-based. */
  errors: Array<{ line: number; message: string }>;
}

/** Parse os-release syntax; malformed lines are reported, not fatal (the checker turns them into findings). */
export function parseExtensionRelease(text: string): ParsedExtensionRelease {
  const fields: Record<string, string> = {};
  const errors: Array<{ line: number; message: string }> = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      errors.push({ line: lineNo, message: `expected KEY=value, got "${raw}"` });
      return;
    }
    const key = line.slice(0, eq);
    if (!KEY_PATTERN.test(key)) {
      errors.push({ line: lineNo, message: `invalid key "${key}"` });
      return;
    }
    const value = parseValue(line.slice(eq + 1));
    if (typeof value !== 'string') {
      errors.push({ line: lineNo, message: `${key}: ${value.error}` });
      return;
    }
    fields[key] = value;
  });
  return { fields, errors };
}

/** Shell-like value: concatenated unquoted, '…' and "…" parts; unquoted whitespace is an error. */
function parseValue(input: string): string | { error: string } {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) return { error: 'unterminated single quote' };
      out += input.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let closed = false;
      while (j < input.length) {
        const d = input[j]!;
        if (d === '\\' && j + 1 < input.length && '\\"$`'.includes(input[j + 1]!)) {
          out += input[j + 1];
          j += 2;
        } else if (d === '"') {
          closed = true;
          break;
        } else {
          out += d;
          j++;
        }
      }
      if (!closed) return { error: 'unterminated double quote' };
      i = j + 1;
    } else if (c === '\\' && i + 1 < input.length) {
      out += input[i + 1];
      i += 2;
    } else if (/\s/.test(c)) {
      return { error: 'unquoted whitespace in value (quote the value)' };
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Validate the fields of extension-release.NAME; `name` only labels the findings. */
export function validateExtensionRelease(fields: Record<string, string>, name: string): Finding[] {
  const path = `usr/lib/extension-release.d/extension-release.${name}`;
  const findings: Finding[] = [];
  const id = fields.ID;
  if (id === undefined || id === '') {
    findings.push(finding('error', 'extension-release-id', 'ID= is missing (use `_any` or the OS ID, e.g. `flatcar`)', path));
  } else if (id !== '_any' && !OS_ID_PATTERN.test(id)) {
    findings.push(finding('error', 'extension-release-id', `ID="${id}" is not a valid os-release ID (lower-case letters, digits, "_-.")`, path));
  }
  if (id !== undefined && id !== '' && id !== '_any') {
    if (!fields.SYSEXT_LEVEL && !fields.VERSION_ID) {
      findings.push(finding('error', 'extension-release-level', `ID=${id} needs SYSEXT_LEVEL= (or VERSION_ID=), else systemd refuses to merge`, path));
    } else if (!fields.SYSEXT_LEVEL) {
      findings.push(finding('warning', 'extension-release-level', 'only VERSION_ID= is set: the image stops matching after an OS update; prefer SYSEXT_LEVEL=1.0', path));
    }
  }
  const arch = fields.ARCHITECTURE;
  if (arch !== undefined && !SYSTEMD_ARCHITECTURES.includes(arch)) {
    findings.push(finding('error', 'extension-release-arch', `ARCHITECTURE="${arch}" is not a systemd architecture name (e.g. x86-64, arm64)`, path));
  }
  const reload = fields.EXTENSION_RELOAD_MANAGER;
  if (reload !== undefined && !/^(0|1|yes|no|true|false|on|off)$/i.test(reload)) {
    findings.push(finding('warning', 'extension-release-syntax', `EXTENSION_RELOAD_MANAGER="${reload}" is not a boolean`, path));
  }
  return findings;
}
