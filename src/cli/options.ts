import { Command, Option } from 'commander';
import { defaultSettings, optionSynopsis, plainHelp, settingsFor, type Setting, type SettingCommand, type Settings } from '../settings.js';

/** Commander options for a command, made from the declarations (commander needs fresh instances per command). */
export function commanderOptions(command: SettingCommand): Option[] {
  const options: Option[] = [];
  for (const setting of settingsFor(command)) {
    const shownDefault = setting.commandDefaults?.[command] ?? defaultForHelp(setting);
    // a default that is not a value (the XDG cache dir) is said in words
    const words = shownDefault === undefined && setting.arg && setting.defaultDoc ? ` (default: ${plainHelp(setting.defaultDoc)})` : '';
    const option = new Option(optionSynopsis(setting), plainHelp(setting.help) + words);
    if (shownDefault !== undefined) option.default(shownDefault);
    if (setting.repeatable) option.argParser((v: string, previous: string[] | undefined) => [...(Array.isArray(previous) ? previous : []), v]);
    options.push(option);
    for (const alias of setting.aliases ?? []) options.push(new Option(`--${alias} ${setting.arg ?? ''}`.trim()).hideHelp());
  }
  return options;
}

/** Commander shows defaults as text; flags and unset values show none. */
function defaultForHelp(setting: Setting): string | undefined {
  if (!setting.arg || setting.default === undefined) return undefined;
  if (Array.isArray(setting.default)) return setting.default.length ? setting.default.join(',') : undefined;
  return String(setting.default);
}

/** commander's attribute for `--some-key`: someKey (a `--no-x` flag shares x's attribute). */
export function attributeOf(key: string): string {
  const name = key.startsWith('no-') ? key.slice(3) : key;
  return name.replace(/[-_]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The values the user typed for one setting on the command line, as strings (flags: 'true'); none -> undefined. */
export function givenOnCommandLine(command: Command, setting: Setting): string[] | undefined {
  for (const key of [setting.key, ...(setting.aliases ?? [])]) {
    const attr = key.includes('_') ? key : attributeOf(key);
    if (command.getOptionValueSource(attr) !== 'cli') continue;
    const value: unknown = command.getOptionValue(attr);
    if (!setting.arg) {
      // `--oem-sysext` and `--no-oem-sysext` share an attribute: only false means the negation was given.
      if (setting.key.startsWith('no-') ? value === false : value === true) return ['true'];
      continue;
    }
    if (Array.isArray(value)) return value.length ? value.map(String) : undefined;
    if (typeof value === 'string') return [value];
  }
  return undefined;
}

/** One setting's typed value from its given strings (the last wins unless repeatable). */
export function parseGiven(setting: Setting, given: string[], base: string): unknown {
  if (!setting.arg) return setting.parse('true', { base });
  if (setting.repeatable) return given.flatMap((v) => setting.parse(v, { base }) as unknown[]);
  return setting.parse(given[given.length - 1]!, { base });
}

/**
 * The typed settings of one command: the command line first, then `fromFile` (already parsed,
 * relative to its own file), then the declared defaults.
 */
export function resolveSettings(command: Command, which: SettingCommand, fromFile: Partial<Settings> = {}, cwd = process.cwd()): Settings {
  const settings = defaultSettings(which, cwd) as Record<string, unknown>;
  for (const setting of settingsFor(which)) {
    const given = givenOnCommandLine(command, setting);
    if (given) settings[setting.field] = parseGiven(setting, given, cwd);
    else if (setting.field in fromFile) settings[setting.field] = (fromFile as Record<string, unknown>)[setting.field];
  }
  return settings as Settings;
}

/** Load the --recipes-dir directories into this run's recipe catalogue (a notice for each override). */
export async function useRecipesDirs(dirs: readonly string[]): Promise<void> {
  if (dirs.length === 0) return;
  const { useRecipeDirs } = await import('../recipes/index.js');
  useRecipeDirs(dirs, (text) => process.stderr.write(`flatbake: notice: ${text}\n`));
}
