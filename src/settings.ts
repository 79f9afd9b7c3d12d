import path from 'node:path';
import { parseBackend } from './backend/index.js';
import { parseSize } from './util/size.js';
import {
  DEFAULT_BAKERY_URL,
  DEFAULT_INSTALL_TO,
  DEFAULT_RELEASE_SERVER,
  DEFAULT_RELEASES_JSON,
  DEFAULT_SIGNING_KEY,
} from './defaults.js';
import { UsageError } from './errors.js';
import { normalizeArch } from './arch.js';

/**
 * Every setting of the bake (and the ones other commands share with it), declared once:
 * long option = config-file key, type and parser, default, the text of `--help`, the README
 * table, the man page and completions, and which commands take it. `src/cli/options.ts`
 * turns these into commander options, `src/cli/config-file.ts` reads them from YAML.
 * Adding a setting is adding an entry here (then `npm run docs` for README and man page).
 */

/** The commands that take settings from this table. */
export const SETTING_COMMANDS = ['bake', 'demo', 'sysext build', 'sysext recipes', 'release', 'oci-rootfs'] as const;
export type SettingCommand = (typeof SETTING_COMMANDS)[number];

/** What a parser knows besides the text: relative paths are relative to `base` (cwd, or the config file's dir). */
export interface ParseContext {
  base: string;
}

export interface Setting<F extends string = string, V = unknown> {
  /** The long option without `--`, and the config-file key. */
  key: string;
  /** The property of the typed options object. */
  field: F;
  /** Placeholder of the value (`<list>`); absent for flags. */
  arg?: string;
  /** Markdown (backticks, links); `--help` shows it without them. */
  help: string;
  /** The README and man page default column, when the default is not simply `default`. */
  defaultDoc?: string;
  default: V;
  commands: readonly SettingCommand[];
  /** A flag spelled `--no-KEY...`: its value is the negation (e.g. `--no-cache` -> `cache: false`). */
  negated?: boolean;
  /** May be given more than once; each given value parses to a one-element list, and the lists are joined. */
  repeatable?: boolean;
  /** The value is a local path: made absolute against the command line's cwd or the config file's dir. */
  isPath?: boolean;
  /** Hidden alternative spellings, accepted on the command line and in config files. */
  aliases?: readonly string[];
  /** The value is a list joined with this (`--vendor a,b`); a config file may give a YAML list. */
  listSeparator?: string;
  /** Only on the command line, not a config-file key (`--config` itself). */
  cliOnly?: boolean;
  /** A different default for some commands, as typed on the command line (parsed like it). */
  commandDefaults?: Partial<Record<SettingCommand, string>>;
  /** Turns one given value (a string, or true for a flag) into the typed value. */
  parse: (raw: string, ctx: ParseContext) => V;
}

function flag<F extends string>(key: string, field: F, commands: readonly SettingCommand[], help: string, extra: { defaultDoc?: string; negated?: boolean } = {}): Setting<F, boolean> {
  return { key, field, help, default: !extra.negated ? false : true, commands, parse: () => !extra.negated, ...extra };
}

function value<F extends string, V>(
  key: string,
  field: F,
  arg: string,
  commands: readonly SettingCommand[],
  help: string,
  spec: { default: V; parse: (raw: string, ctx: ParseContext) => V; defaultDoc?: string; isPath?: boolean; cliOnly?: boolean; listSeparator?: string; aliases?: readonly string[]; commandDefaults?: Partial<Record<SettingCommand, string>> },
): Setting<F, V> {
  return { key, field, arg, help, commands, ...spec };
}

/** A setting given once per value (`--oem-sysext a --oem-sysext b`, or a YAML list). */
function repeatable<F extends string, T>(key: string, field: F, arg: string, commands: readonly SettingCommand[], help: string, spec: { parse: (raw: string, ctx: ParseContext) => T; defaultDoc: string; isPath?: boolean }): Setting<F, T[]> {
  return { key, field, arg, help, commands, default: [], repeatable: true, defaultDoc: spec.defaultDoc, isPath: spec.isPath, parse: (raw, ctx) => [spec.parse(raw, ctx)] };
}

const text = (raw: string) => raw;
const localPath = (raw: string, ctx: ParseContext) => path.resolve(ctx.base, raw);
/** A file or a URL: only a file is made absolute. */
const fileOrUrl = (raw: string, ctx: ParseContext) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : path.resolve(ctx.base, raw));

function parseRetries(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < 0 || n > 100) throw new UsageError(`--retries must be a whole number from 0 to 100, got '${raw}'`, 'for example --retries 3');
  return n;
}

const BAKE = ['bake'] as const;
const BAKE_DEMO = ['bake', 'demo'] as const;
const DOWNLOADERS = ['bake', 'sysext build', 'release', 'oci-rootfs'] as const;
const RETRYING = ['bake', 'sysext build', 'release'] as const;
/** The commands that look recipes up by name. */
const RECIPE_USERS = ['bake', 'sysext build', 'sysext recipes', 'release'] as const;

export const SETTINGS = [
  value('config', 'config', '<file.yaml>', BAKE, 'bake settings as YAML: every long option here is a key of the same name, sysexts under `sysexts:`; paths are relative to the file, the command line overrides it (see [Config file](#config-file))', {
    default: undefined as string | undefined,
    defaultDoc: 'none',
    cliOnly: true,
    isPath: true,
    parse: localPath,
  }),
  value('replay', 'replay', '<manifest.json>', BAKE, 'bake again what a `flatbake-manifest.json` records: its release version, sysexts, vendors and settings (the command line overrides settings); refuses when a fetched input\'s digest differs from the recorded one; see [Replay](#replay)', {
    default: undefined as string | undefined,
    defaultDoc: 'none',
    cliOnly: true,
    isPath: true,
    parse: localPath,
  }),
  flag('fetch', 'fetch', BAKE, "FILE is a bakery file name: download it and `NAME.conf`; each `.raw` is checked against the bakery's `SHA256SUMS`", { defaultDoc: 'off: FILE is a local path' }),
  value('vendor', 'vendors', '<list>', BAKE, 'comma-separated vendor ids (`flatbake vendors` lists them); `generic` is the plain image', {
    default: ['generic'],
    defaultDoc: '`generic`',
    listSeparator: ',',
    parse: (raw) => raw.split(',').map((v) => v.trim()).filter(Boolean),
  }),
  repeatable('oem-sysext', 'oemSysexts', '<file>', BAKE, "a vendor's OEM sysext `oem-<id>.raw` (repeatable)", {
    defaultDoc: 'fetched and signature-checked from beside the image',
    isPath: true,
    parse: localPath,
  }),
  flag('no-oem-sysext', 'noOemSysext', BAKE, "write vendor images without an OEM sysext that cannot be had (warns: the image lacks the cloud's agents)"),
  value('arch', 'arch', '<arch>', BAKE, '`x86-64` or `arm64` (aliases `amd64`, `x86_64`, `aarch64`)', { default: 'x86-64' as const, parse: normalizeArch }),
  value('release', 'release', '<release>', BAKE, '`alpha`, `beta`, `stable`, `lts` (newest of that channel) or a version `MMMM.m.p`', { default: 'stable', parse: text }),
  value('install-to', 'installTo', '<part:dir>', BAKE, '`root` or `oem`, then an absolute dir (alias `--install_to`)', { default: DEFAULT_INSTALL_TO, parse: text, aliases: ['install_to'] }),
  value('output', 'output', '<dir>', BAKE_DEMO, 'where results are written', { default: '.', defaultDoc: '`.` (demo: `flatbake-demo`)', commandDefaults: { demo: 'flatbake-demo' }, isPath: true, parse: localPath }),
  value('release-server', 'releaseServer', '<url>', BAKE, 'base of release files, `{channel}` replaced; files at `<base>/<board>/<version>/<file>`', { default: DEFAULT_RELEASE_SERVER, parse: text }),
  value('releases-json', 'releasesJson', '<url>', BAKE, 'the channel/version index', { default: DEFAULT_RELEASES_JSON, parse: text }),
  value('signing-key', 'signingKey', '<file-or-url>', BAKE, 'the OpenPGP public key that signs releases', { default: DEFAULT_SIGNING_KEY, defaultDoc: "Flatcar's image signing key URL", parse: fileOrUrl }),
  value('bakery-url', 'bakeryUrl', '<url>', BAKE, 'where `--fetch` finds sysexts, `NAME.conf` and `SHA256SUMS`', { default: DEFAULT_BAKERY_URL, parse: text }),
  value('mirror', 'mirror', '<url>', DOWNLOADERS, 'air-gapped mirror: every `https://HOST/PATH` is fetched as `<url>/HOST/PATH`', { default: undefined as string | undefined, defaultDoc: 'none', parse: text }),
  value('image', 'image', '<file>', BAKE, 'a local base image (`.bin` or `.bin.bz2`) instead of a download (not signature-checked; the release is read from its `/usr/lib/os-release`)', {
    default: undefined as string | undefined,
    defaultDoc: 'none',
    isPath: true,
    parse: localPath,
  }),
  value('cache-dir', 'cacheDir', '<dir>', DOWNLOADERS, 'cache of verified downloads, decompressed base images, layer blobs and built images', {
    default: undefined as string | undefined,
    defaultDoc: '`$XDG_CACHE_HOME/flatbake`, else `~/.cache/flatbake`',
    isPath: true,
    parse: localPath,
  }),
  flag('no-cache', 'cache', DOWNLOADERS, 'neither read nor write the cache', { negated: true, defaultDoc: 'the cache is used' }),
  repeatable('recipes-dir', 'recipesDirs', '<dir>', RECIPE_USERS, 'add the recipe files (`<name>.yaml`) of this directory to the recipes (repeatable); one named like a built-in recipe replaces it, with a notice. See [Recipe files](#recipe-files)', {
    defaultDoc: 'the built-in recipes only',
    isPath: true,
    parse: localPath,
  }),
  value('backend', 'backend', '<backend>', BAKE, 'how partitions are edited: `offline` (e2fsprogs/btrfs-progs on the image file, no root), `mount` (loop devices and mounts, root or sudo), `auto`', {
    default: 'auto' as const,
    defaultDoc: '`auto`: offline when its tools are present',
    parse: parseBackend,
  }),
  value('root-size', 'rootSize', '<size>', BAKE, "grow ROOT (partition and ext4) to this size before the sysexts go in: bytes or `K`/`M`/`G`/`T` (powers of 1024), a multiple of 4 KiB; see [Room for big sysexts](#room-for-big-sysexts)", {
    default: undefined as number | undefined,
    defaultDoc: 'ROOT as in the image',
    // Whole ext4 blocks: resize2fs cannot use a partial one.
    parse: (raw) => parseSize(raw, '--root-size', 4096),
  }),
  value('retries', 'retries', '<n>', RETRYING, 'retries of a failed download (connection errors, 5xx)', { default: 5, defaultDoc: '`5`', parse: parseRetries }),
  flag('sysupdate', 'sysupdate', BAKE, 'also wire updates: enable `systemd-sysupdate.timer`, install `/etc/sysupdate.d/noop.conf`, a `systemd-sysupdate.service` drop-in per sysext and the one that restarts systemd-sysext (each sysext needs its `NAME.conf`); see [Updates after the first boot](#updates-after-the-first-boot)'),
  flag('json', 'json', BAKE_DEMO, 'print the manifest as JSON on stdout (progress stays on stderr); on failure the manifest of what was written (`failedVendors`), else a JSON error object; see [The manifest](#the-manifest)'),
  flag('quiet', 'quiet', BAKE_DEMO, 'print errors and the closing summary only: no step lines, warnings or progress; see [Progress and the summary](#progress-and-the-summary)'),
  flag('full-digest', 'fullDigest', BAKE, 'also record the plain SHA-256 of the baked `.bin` (reads all 8 GiB, several seconds); see [Digests](#digests)', { defaultDoc: 'off: chunked SHA-256 only' }),
  flag('insecure-skip-verify', 'insecureSkipVerify', BAKE, 'DANGEROUS: skip the signature checks; warns loudly and records `verified: false`'),
] as const;

type AnySetting = (typeof SETTINGS)[number];
type SettingValue<S> = S extends Setting<string, infer V> ? V : never;

/** The typed settings object: one property per declared setting, named by its `field`. */
export type Settings = { [S in AnySetting as S['field']]: SettingValue<S> };

/** The settings a command takes, in declaration order. */
export function settingsFor(command: SettingCommand): Setting[] {
  return (SETTINGS as readonly Setting[]).filter((s) => s.commands.includes(command));
}

/** Every setting at its default for `command`; default paths are made absolute against `cwd`. */
export function defaultSettings(command: SettingCommand = 'bake', cwd = process.cwd()): Settings {
  return Object.fromEntries((SETTINGS as readonly Setting[]).map((s) => [s.field, defaultOf(s, command, cwd)])) as Settings;
}

function defaultOf(setting: Setting, command: SettingCommand, cwd: string): unknown {
  const special = setting.commandDefaults?.[command];
  if (special !== undefined) return setting.parse(special, { base: cwd });
  if (setting.isPath && typeof setting.default === 'string') return setting.parse(setting.default, { base: cwd });
  return setting.default;
}

/** `--help` text: the markdown without backticks, links reduced to their text. */
export function plainHelp(markdown: string): string {
  return markdown.replace(/\[([^\]]+)\]\([^)]*\)/g, '$1').replace(/`/g, '');
}

/** The option as the README and man page show it: `--vendor <list>`. */
export function optionSynopsis(setting: Setting): string {
  return setting.arg ? `--${setting.key} ${setting.arg}` : `--${setting.key}`;
}

/** The default column: given text, else the value itself, else off/none. */
export function defaultText(setting: Setting): string {
  if (setting.defaultDoc) return setting.defaultDoc;
  if (!setting.arg) return 'off';
  if (setting.default === undefined) return 'none';
  return `\`${Array.isArray(setting.default) ? setting.default.join(',') : String(setting.default)}\``;
}
