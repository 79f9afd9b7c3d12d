/**
 * systemd units inside a sysext: writing them (for recipes) and parsing them (for the checker).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';

/** Where a sysext ships units; /etc is not part of a sysext. */
export const SYSTEM_UNIT_DIR = 'usr/lib/systemd/system';

const UNIT_TYPES = ['service', 'socket', 'timer', 'path', 'mount', 'automount', 'swap', 'target', 'device', 'slice', 'scope'];
const UNIT_NAME_PATTERN = new RegExp(`^[A-Za-z0-9:_.\\\\@-]+\\.(${UNIT_TYPES.join('|')})$`);

export function isUnitName(name: string): boolean {
  return UNIT_NAME_PATTERN.test(name) && !name.includes('..') && name.length <= 255;
}

function requireUnitName(name: string, what = 'unit'): void {
  if (!isUnitName(name)) {
    throw new InputError(`invalid ${what} name "${name}"`, `a unit name ends in .${UNIT_TYPES.join(', .')} and has no "/"`);
  }
}

/** Write a unit file into ROOT/usr/lib/systemd/system/NAME; returns the path written. */
export async function installUnit(root: string, name: string, content: string): Promise<string> {
  requireUnitName(name);
  const dir = path.join(root, SYSTEM_UNIT_DIR);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await writeFile(file, content.endsWith('\n') ? content : `${content}\n`, { mode: 0o644 });
  return file;
}

/** The drop-in path (relative to the root) that makes TARGET uphold UNIT. */
export function upholdsDropInPath(target: string, unit: string, priority = 10): string {
  const base = unit.slice(0, unit.lastIndexOf('.'));
  return `${SYSTEM_UNIT_DIR}/${target}.d/${String(priority).padStart(2, '0')}-${base}.conf`;
}

/**
 * Start UNIT whenever TARGET is active through an `Upholds=` drop-in. Preferred over
 * `.wants/` symlinks: a drop-in merges cleanly with the base OS and other sysexts and
 * Upholds= restarts the unit if it stops.
 */
export async function upholdsDropIn(root: string, target: string, unit: string, options: { priority?: number } = {}): Promise<string> {
  requireUnitName(target, 'target');
  requireUnitName(unit);
  const priority = options.priority ?? 10;
  if (!Number.isInteger(priority) || priority < 0 || priority > 99) {
    throw new InputError(`drop-in priority must be an integer 0..99, got ${priority}`);
  }
  const file = path.join(root, upholdsDropInPath(target, unit, priority));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `[Unit]\nUpholds=${unit}\n`, { mode: 0o644 });
  return file;
}

export interface UnitEntry {
  key: string;
  value: string;
  /** 1-based line where the entry starts. */
  line: number;
}

export interface UnitSection {
  name: string;
  entries: UnitEntry[];
}

export interface ParsedUnit {
  sections: UnitSection[];
  errors: Array<{ line: number; message: string }>;
}

/**
 * Parse systemd unit syntax: `[Section]`, `Key=value` (repeated keys kept in order),
 * `#`/`;` comments, and `\` at end of line continuing onto the next (joined with a space,
 * comment lines inside a continuation skipped, as systemd does).
 */
export function parseUnit(text: string): ParsedUnit {
  const sections: UnitSection[] = [];
  const errors: Array<{ line: number; message: string }> = [];
  const lines = text.split(/\r?\n/);
  let current: UnitSection | undefined;
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1);
      i++;
      const next = lines[i]!.trim();
      if (next.startsWith('#') || next.startsWith(';')) {
        line += '\\';
        continue;
      }
      line = `${line} ${next}`;
    }
    if (line.endsWith('\\')) line = line.slice(0, -1);
    if (line.startsWith('[')) {
      if (!line.endsWith(']') || line.length < 3) {
        errors.push({ line: startLine, message: `malformed section header "${line}"` });
        current = undefined;
        continue;
      }
      current = { name: line.slice(1, -1), entries: [] };
      sections.push(current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      errors.push({ line: startLine, message: `expected Key=value, got "${line}"` });
      continue;
    }
    if (!current) {
      errors.push({ line: startLine, message: 'assignment outside of any [Section]' });
      continue;
    }
    current.entries.push({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line: startLine });
  }
  return { sections, errors };
}

/** All values of KEY in SECTION, in file order (an empty value resets the list, as in systemd). */
export function unitValues(unit: ParsedUnit, section: string, key: string): string[] {
  let values: string[] = [];
  for (const s of unit.sections) {
    if (s.name !== section) continue;
    for (const e of s.entries) {
      if (e.key !== key) continue;
      if (e.value === '') values = [];
      else values.push(e.value);
    }
  }
  return values;
}
