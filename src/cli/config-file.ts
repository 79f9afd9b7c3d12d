import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import { FlatbakeError, InputError, UsageError } from '../errors.js';
import { settingsFor, type Setting, type SettingCommand, type Settings } from '../settings.js';
import { nearest } from '../util/suggest.js';

/**
 * `--config bake.yaml`: every long option of the command is a key of the same name (declared
 * once in src/settings.ts) and the sysexts are a `sysexts:` list of NAME:FILE strings. Paths
 * are relative to the file. The command line overrides the file (src/cli/options.ts).
 */
export interface ConfigFile {
  /** Absolute path of the file. */
  file: string;
  settings: Partial<Settings>;
  /** `sysexts:` as written (FILE made absolute later, when it is a path: without --fetch). */
  sysexts?: string[];
}

export const SYSEXTS_KEY = 'sysexts';

export async function loadConfigFile(file: string, which: SettingCommand = 'bake', cwd = process.cwd()): Promise<ConfigFile> {
  const absolute = path.resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read the config file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 'give --config the path of a YAML file');
  }
  return parseConfig(text, absolute, which);
}

/** Parses the YAML text of `file` (absolute); errors name the file and line. */
export function parseConfig(text: string, file: string, which: SettingCommand = 'bake'): ConfigFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const where = (node: Node | null | undefined) => (node?.range ? `${file}:${lines.linePos(node.range[0]).line}` : file);
  const first = doc.errors[0];
  if (first) throw new UsageError(`${file}:${lines.linePos(first.pos[0]).line}: not valid YAML: ${first.message.split('\n')[0]}`, 'see https://yaml.org/spec/1.2.2/ or compare with the example in the README (Config file)');
  if (doc.contents === null) return { file, settings: {} };
  if (!isMap(doc.contents)) throw new UsageError(`${file}: the config must be a mapping of option names to values`, 'write `release: stable`, one key per line, and the sysexts as a `sysexts:` list');

  const settings = settingsFor(which);
  const byKey = new Map<string, Setting>();
  for (const s of settings.filter((s) => !s.cliOnly)) for (const key of [s.key, ...(s.aliases ?? [])]) byKey.set(key, s);
  const base = path.dirname(file);
  const result: ConfigFile = { file, settings: {} };
  const given = result.settings as Record<string, unknown>;

  for (const pair of doc.contents.items) {
    const keyNode = pair.key as Node | null;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const at = where(keyNode);
    const value: unknown = (pair.value as Node | null)?.toJSON() ?? null;
    if (key === SYSEXTS_KEY) {
      result.sysexts = stringList(value, at, key);
      continue;
    }
    const setting = byKey.get(key);
    if (!setting) {
      const suggestion = nearest(key, [...byKey.keys(), SYSEXTS_KEY].filter((k) => !k.includes('_')));
      throw new UsageError(
        `${at}: unknown key '${key}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`,
        `the keys are the long options of \`flatbake ${which} --help\` without the dashes, and \`sysexts:\``,
      );
    }
    if (setting.field in given) throw new UsageError(`${at}: '${key}' is given twice`, 'keep one of them');
    given[setting.field] = configValue(setting, value, at, base);
  }
  return result;
}

function configValue(setting: Setting, value: unknown, at: string, base: string): unknown {
  try {
    if (!setting.arg) {
      if (typeof value !== 'boolean') throw new UsageError(`${at}: '${setting.key}' is a flag: true or false, not ${JSON.stringify(value)}`, `write \`${setting.key}: true\``);
      return value ? setting.parse('true', { base }) : setting.default;
    }
    if (setting.repeatable) return stringList(value, at, setting.key).flatMap((v) => setting.parse(v, { base }) as unknown[]);
    // a list where the option takes a comma-separated one (--vendor a,b) reads naturally in YAML
    const raw = Array.isArray(value) && setting.listSeparator ? stringList(value, at, setting.key).join(setting.listSeparator) : scalar(value, at, setting.key);
    return setting.parse(raw, { base });
  } catch (error) {
    if (error instanceof FlatbakeError && !error.message.startsWith(at)) throw new UsageError(`${at}: ${setting.key}: ${error.message}`, error.hint);
    throw error;
  }
}

function scalar(value: unknown, at: string, key: string): string {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  throw new UsageError(`${at}: '${key}' needs one value, not ${JSON.stringify(value)}`, `write \`${key}: VALUE\``);
}

function stringList(value: unknown, at: string, key: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === 'string' || typeof v === 'number')) {
    throw new UsageError(`${at}: '${key}' needs a string or a list of strings`, `write \`${key}:\` then one \`- VALUE\` line per value`);
  }
  return list.map(String);
}

/** `sysexts:` of the file with FILE made absolute against the file's dir (not with --fetch: then FILE is a bakery name). */
export function configSysexts(config: ConfigFile, fetch: boolean): string[] {
  return (config.sysexts ?? []).map((arg) => {
    const colon = arg.indexOf(':');
    if (fetch || colon <= 0) return arg;
    return `${arg.slice(0, colon)}:${path.resolve(path.dirname(config.file), arg.slice(colon + 1))}`;
  });
}
