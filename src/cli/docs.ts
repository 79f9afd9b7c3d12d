import { defaultText, optionSynopsis, settingsFor, type SettingCommand } from '../settings.js';

/**
 * The README's option table, rendered from the declarations in `src/settings.ts`. The README
 * holds it between `<!-- settings:COMMAND -->` markers; `npm run docs` rewrites it there and a
 * test fails when the two differ.
 */
export function markdownOptionTable(command: SettingCommand): string {
  const rows = settingsFor(command).map((s) => `| \`${optionSynopsis(s)}\` | ${s.help} | ${defaultText(s)} |`);
  return ['| option | meaning | default |', '|---|---|---|', ...rows].join('\n');
}

const begin = (command: string) => `<!-- settings:${command} (generated from src/settings.ts by \`npm run docs\`) -->`;
const end = '<!-- /settings -->';

/** The README with its generated table(s) replaced; throws when the markers are missing. */
export function updateReadme(readme: string, command: SettingCommand): string {
  const start = readme.indexOf(begin(command));
  const stop = readme.indexOf(end, start);
  if (start < 0 || stop < 0) throw new Error(`README.md has no ${begin(command)} ... ${end} block`);
  return `${readme.slice(0, start)}${begin(command)}\n${markdownOptionTable(command)}\n${readme.slice(stop)}`;
}
