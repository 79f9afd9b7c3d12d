/**
 * Text rewrites of systemd units for wrapped and converted programs. Pure.
 *
 * Rewrites edit lines in place (comments, order and untouched lines stay as they were) rather than
 * re-rendering a parsed unit, so a reviewer can diff the result against the original.
 */

/** Every Exec*= key of service and socket units. */
export const EXEC_KEYS: ReadonlySet<string> = new Set([
  'ExecCondition', 'ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecReload',
  'ExecStop', 'ExecStopPre', 'ExecStopPost',
]);

export interface RewriteResult {
  text: string;
  /** One line per change made. */
  changed: string[];
  /** One line per thing seen but deliberately not changed. */
  leftAlone: string[];
}

interface ExecLine {
  index: number;
  key: string;
  /** Text before the program (indent, key, "=", prefixes). */
  head: string;
  program: string;
  /** The program as written (with its quotes, if any). */
  programRaw: string;
  tail: string;
}

function parseExecLine(line: string, index: number): ExecLine | undefined {
  const m = /^(\s*)(Exec[A-Za-z]+)(\s*=\s*)([-@:+!|]*)(\s*)(.*)$/.exec(line);
  if (!m || !EXEC_KEYS.has(m[2]!)) return undefined;
  const rest = m[6]!;
  if (rest === '') return undefined;
  let programRaw: string;
  let program: string;
  const q = rest[0];
  if (q === '"' || q === "'") {
    const end = rest.indexOf(q, 1);
    programRaw = end === -1 ? rest : rest.slice(0, end + 1);
    program = end === -1 ? rest.slice(1) : rest.slice(1, end);
  } else {
    programRaw = /^\S+/.exec(rest)![0];
    program = programRaw;
  }
  return { index, key: m[2]!, head: m[1]! + m[2]! + m[3]! + m[4]! + m[5]!, program, programRaw, tail: rest.slice(programRaw.length) };
}

/** The programs of all Exec*= lines, in order (duplicates kept). */
export function execPrograms(text: string): string[] {
  return text.split('\n').map(parseExecLine).flatMap((e) => (e ? [e.program] : []));
}

/**
 * Replace each Exec*= program found in REPLACEMENTS by its value, keeping prefixes, quoting and
 * arguments. Absolute programs that are not in the map are reported as left alone.
 */
export function rewriteExecPrograms(text: string, replacements: ReadonlyMap<string, string>): RewriteResult {
  const changed: string[] = [];
  const leftAlone: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const e = parseExecLine(line, i);
    if (!e) return;
    const to = replacements.get(e.program);
    if (to === undefined) {
      if (e.program.startsWith('/')) leftAlone.push(`${e.key}=${e.program}: not one of the wrapped programs, kept as is`);
      return;
    }
    const quoted = e.programRaw.startsWith('"') || e.programRaw.startsWith("'") ? `${e.programRaw[0]}${to}${e.programRaw[0]}` : to;
    lines[i] = e.head + quoted + e.tail;
    changed.push(`${e.key}=${e.program} -> ${to}`);
  });
  return { text: lines.join('\n'), changed, leftAlone };
}

/** The Torcx variables and what they mean once the image's bin/ and lib/ live in /usr. */
export const TORCX_ENVIRONMENT: ReadonlyArray<readonly [string, string]> = [
  ['TORCX_BINDIR', '/usr/bin'],
  ['TORCX_UNPACKDIR', '/'],
  ['TORCX_IMAGEDIR', ''],
];

const TORCX_ENV_FILE = /^-?\/run\/metadata\/torcx$/;
const DEPENDENCY_KEYS = new Set(['Requires', 'Requisite', 'Wants', 'BindsTo', 'PartOf', 'Upholds', 'After', 'Before', 'WantedBy', 'RequiredBy', 'UpheldBy']);
const TORCX_VAR = /\$(\{TORCX_[A-Z]+\}|TORCX_[A-Z]+\b)/;

/**
 * Put the variables' values in literally. systemd expands ${VAR} only in Exec*= arguments, never
 * in the program path nor in other keys, so the Environment= lines alone would not be enough.
 * IMAGEDIR is empty and UNPACKDIR is "/": `${TORCX_UNPACKDIR}${TORCX_IMAGEDIR}/bin` becomes `/bin`.
 */
export function substituteTorcxVariables(value: string): string {
  return value
    .replace(/\$(\{TORCX_IMAGEDIR\}|TORCX_IMAGEDIR\b)/g, '')
    .replace(/\$(\{TORCX_UNPACKDIR\}|TORCX_UNPACKDIR\b)(?=\/)/g, '')
    .replace(/\$(\{TORCX_UNPACKDIR\}|TORCX_UNPACKDIR\b)/g, '/')
    .replace(/\$(\{TORCX_BINDIR\}|TORCX_BINDIR\b)/g, '/usr/bin');
}

/**
 * Make a Torcx unit work from a sysext: drop the Torcx EnvironmentFile= and torcx.target
 * dependencies, put the TORCX_* values in, and (for services that used them) set them with
 * Environment= so programs reading them at run time still find them.
 */
export function rewriteTorcxUnit(text: string): RewriteResult {
  const changed: string[] = [];
  const leftAlone: string[] = [];
  const usesTorcx = TORCX_VAR.test(text) || /^\s*EnvironmentFile\s*=\s*-?\/run\/metadata\/torcx\s*$/m.test(text);
  const out: string[] = [];
  let section = '';
  let envInserted = false;
  const lines = text.split('\n');
  let continued = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (continued) {
      // The rest of a value broken with "\": only its variables change, never the key's fate.
      continued = trimmed.endsWith('\\');
      const substituted = substituteTorcxVariables(line);
      if (substituted !== line) changed.push(`${trimmed} -> ${substituted.trim()}`);
      out.push(substituted);
      continue;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';') || trimmed === '') {
      out.push(line);
      continue;
    }
    if (trimmed.startsWith('[')) {
      section = trimmed.replace(/^\[|\]$/g, '');
      out.push(line);
      if (section === 'Service' && usesTorcx && !envInserted) {
        for (const [k, v] of TORCX_ENVIRONMENT) out.push(`Environment=${k}=${v}`);
        changed.push(`[Service]: set ${TORCX_ENVIRONMENT.map(([k, v]) => `${k}=${v}`).join(' ')}`);
        envInserted = true;
      }
      continue;
    }
    const m = /^(\s*)([A-Za-z0-9]+)(\s*=\s*)(.*)$/.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    const [, indent, key, eq, value] = m as unknown as [string, string, string, string, string];
    continued = trimmed.endsWith('\\');
    if (!continued && key === 'EnvironmentFile' && TORCX_ENV_FILE.test(value.trim())) {
      changed.push(`dropped ${key}=${value.trim()}`);
      continue;
    }
    if (!continued && DEPENDENCY_KEYS.has(key) && /(^|\s)torcx\.target(\s|$)/.test(value)) {
      const kept = value.split(/\s+/).filter((u) => u !== '' && u !== 'torcx.target');
      changed.push(`dropped torcx.target from ${key}=`);
      if (kept.length > 0) out.push(`${indent}${key}${eq}${kept.join(' ')}`);
      continue;
    }
    if (!continued && key === 'Environment' && /^"?TORCX_(BINDIR|UNPACKDIR|IMAGEDIR)=[^\s"]*"?$/.test(value.trim())) {
      // The unit's own value pointed into the Torcx unpack dir; the [Service] defaults replace it.
      changed.push(`dropped ${key}=${value.trim()} (set for the sysext layout instead)`);
      continue;
    }
    if (key === 'Environment' && /(^|[\s"])TORCX_[A-Z]+=/.test(value)) {
      leftAlone.push(`${key}=${value.trim()}: assigns a TORCX_ variable among others; check its value`);
    }
    const substituted = substituteTorcxVariables(value);
    if (substituted !== value) changed.push(`${key}=${value.trim()} -> ${substituted.trim()}`);
    out.push(`${indent}${key}${eq}${substituted}`);
  }
  if (usesTorcx && !envInserted) leftAlone.push('uses TORCX_ variables but has no [Service] section to set them in');
  return { text: out.join('\n'), changed, leftAlone };
}
