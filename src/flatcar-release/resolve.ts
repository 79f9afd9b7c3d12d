import { InputError, NetworkError, UsageError } from '../errors.js';
import { type Board, boardFor, releaseIndexArchNames } from './arch.js';
import type { Arch } from '../arch.js';

export const CHANNELS = ['alpha', 'beta', 'stable', 'lts'] as const;
export type Channel = (typeof CHANNELS)[number];

export type ReleaseSpec = { kind: 'channel'; channel: Channel } | { kind: 'version'; version: string; channel: Channel };

const VERSION_RE = /^(\d+)\.(\d+)\.(\d+)$/;

export function isVersion(value: string): boolean {
  return VERSION_RE.test(value);
}

/** The middle number names the channel: 0 alpha, 1 beta, 2 stable, anything else lts. */
export function channelOfVersion(version: string): Channel {
  const match = VERSION_RE.exec(version);
  if (!match) throw new UsageError(`'${version}' is not a Flatcar version (MAJOR.MINOR.PATCH)`);
  switch (Number(match[2])) {
    case 0:
      return 'alpha';
    case 1:
      return 'beta';
    case 2:
      return 'stable';
    default:
      return 'lts';
  }
}

export function parseReleaseSpec(value: string): ReleaseSpec {
  const v = value.trim();
  if ((CHANNELS as readonly string[]).includes(v)) return { kind: 'channel', channel: v as Channel };
  if (isVersion(v)) return { kind: 'version', version: v, channel: channelOfVersion(v) };
  throw new UsageError(
    `unknown release '${value}'`,
    `use a channel (${CHANNELS.join(', ')}) or a version such as 4230.2.1`,
  );
}

/** Numeric, component-wise version order. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The versions releases.json lists for a channel (every channel when undefined), oldest first:
 * an object keyed by version; keys that are not versions (such as `current`) are ignored. When
 * an entry lists its architectures, entries without ours are skipped.
 */
export function listedVersions(index: unknown, channel: Channel | undefined, arch: Arch, source = 'the release index'): string[] {
  if (typeof index !== 'object' || index === null || Array.isArray(index)) {
    throw new InputError(`${source} is malformed: expected a JSON object keyed by version`, 'check --releases-json');
  }
  const archNames = releaseIndexArchNames(arch);
  const candidates: string[] = [];
  let versionKeys = 0;
  for (const [key, entry] of Object.entries(index as Record<string, unknown>)) {
    if (!isVersion(key)) continue;
    versionKeys++;
    if (typeof entry !== 'object' || entry === null) {
      throw new InputError(`${source} is malformed: entry '${key}' is not an object`, 'check --releases-json');
    }
    const record = entry as { channel?: unknown; architectures?: unknown };
    if (channel !== undefined && record.channel !== channel) continue;
    if (Array.isArray(record.architectures) && !record.architectures.some((a) => archNames.includes(String(a)))) continue;
    candidates.push(key);
  }
  if (versionKeys === 0) {
    throw new InputError(`${source} is malformed: it lists no versions`, 'check --releases-json');
  }
  return candidates.sort(compareVersions);
}

/** The newest version of a channel in releases.json (see listedVersions). */
export function latestVersionOf(index: unknown, channel: Channel, arch: Arch, source = 'the release index'): string {
  const candidates = listedVersions(index, channel, arch, source);
  if (candidates.length === 0) {
    throw new NetworkError(`no ${channel} release for ${arch} found in ${source}`, 'pick another --release channel or a version');
  }
  return candidates.at(-1)!;
}

export interface ResolvedRelease {
  version: string;
  channel: Channel;
  arch: Arch;
  board: Board;
  /** Base URL of this release's files, without a trailing slash. */
  baseUrl: string;
}

/** `{channel}` in the server template is replaced; files live at `<base>/<board>/<version>/<file>`. */
export function releaseBaseUrl(serverTemplate: string, channel: Channel, board: Board, version: string): string {
  const server = serverTemplate.replaceAll('{channel}', channel).replace(/\/+$/, '');
  return `${server}/${board}/${version}`;
}

export function resolvedRelease(serverTemplate: string, version: string, arch: Arch): ResolvedRelease {
  const channel = channelOfVersion(version);
  const board = boardFor(arch);
  return { version, channel, arch, board, baseUrl: releaseBaseUrl(serverTemplate, channel, board, version) };
}

/** Parses version.txt: shell-style KEY=VALUE lines, optionally quoted. */
export function parseShellVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2]!;
    if ((value.startsWith('"') && value.endsWith('"') && value.length >= 2) || (value.startsWith("'") && value.endsWith("'") && value.length >= 2)) {
      value = value.slice(1, -1);
    }
    vars[match[1]!] = value;
  }
  return vars;
}

export interface VersionInfo {
  version: string;
  versionId?: string;
  build?: string;
  branch?: string;
  patch?: string;
  sdkVersion?: string;
}

export function parseVersionTxt(text: string, expectedVersion?: string): VersionInfo {
  const vars = parseShellVars(text);
  const version = vars.FLATCAR_VERSION;
  if (!version) throw new InputError('version.txt has no FLATCAR_VERSION line', 'the release server returned something else than a Flatcar version.txt');
  if (expectedVersion && vars.FLATCAR_VERSION_ID && vars.FLATCAR_VERSION_ID !== expectedVersion && !version.startsWith(expectedVersion)) {
    throw new InputError(`version.txt says ${vars.FLATCAR_VERSION_ID}, but release ${expectedVersion} was requested`);
  }
  return {
    version,
    versionId: vars.FLATCAR_VERSION_ID,
    build: vars.FLATCAR_BUILD,
    branch: vars.FLATCAR_BRANCH,
    patch: vars.FLATCAR_PATCH,
    sdkVersion: vars.FLATCAR_SDK_VERSION,
  };
}
