/**
 * systemd-sysupdate transfer files of a release, as the bakery publishes them: one stream per
 * recipe (`<recipe>.conf`, any version), one per Kubernetes minor for the Kubernetes
 * distributions (`kubernetes-v1.31.conf` follows v1.31 patches only, so a cluster is not moved
 * to a new minor behind its back), and `noop.conf`. Pure.
 */
import { InputError } from '../errors.js';
import type { VersionEntry } from './versions-file.js';

/** Recipes whose versions follow Kubernetes minors and get a stream per minor. */
export const MINOR_STREAM_RECIPES: readonly string[] = ['kubernetes', 'crio', 'k3s', 'rke2'];

/** Where the bakery's "latest" release is downloaded from; the base of every `Path=`. */
export const DEFAULT_BASE_URL = 'https://github.com/flatcar/sysext-bakery/releases/latest/download/';

export interface TransferSpec {
  /** `kubernetes.conf`, `kubernetes-v1.31.conf`. */
  fileName: string;
  /** The sysext the transfer installs: `/opt/extensions/<recipe>`, `/etc/extensions/<recipe>.raw`. */
  recipe: string;
  /** `kubernetes-@v-%a.raw`, `kubernetes-v1.31.@v-%a.raw`. */
  matchPattern: string;
}

/**
 * The minor a version belongs to, spelled as the version spells it: `v1.31` for `v1.31.1` and
 * `v1.31.1+k3s1`, `1.31` for CRI-O's `1.31.1`. Undefined when there is no `major.minor.` prefix.
 */
export function minorOf(version: string): string | undefined {
  return /^(v?\d+\.\d+)\./.exec(version)?.[1];
}

/** Throws unless VALUE can go on one line of an INI-style file. */
function singleLine(value: string, what: string): string {
  if (/[\r\n]/.test(value)) throw new InputError(`${what} must not contain a line break: ${JSON.stringify(value)}`);
  return value;
}

/** Throws unless URL is an absolute http(s) URL; sysupdate's url-file sources need one. */
export function checkBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(`--base-url is not a URL: ${url}`, `give the URL the release will be published at, e.g. ${DEFAULT_BASE_URL}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InputError(`--base-url must be http(s): ${url}`);
  return singleLine(url, '--base-url');
}

/** One transfer: fetch `<baseUrl>/<match>` (listed in its SHA256SUMS) into /opt/extensions/<recipe>. */
export function sysupdateTransfer(spec: { recipe: string; matchPattern: string; baseUrl: string }): string {
  const recipe = singleLine(spec.recipe, 'recipe name');
  const pattern = singleLine(spec.matchPattern, 'MatchPattern');
  return [
    '[Transfer]',
    // The bakery does not sign its SHA256SUMS; the digests it lists are still checked.
    'Verify=false',
    '',
    '[Source]',
    'Type=url-file',
    `Path=${checkBaseUrl(spec.baseUrl)}`,
    `MatchPattern=${pattern}`,
    '',
    '[Target]',
    'InstancesMax=3',
    'Type=regular-file',
    `Path=/opt/extensions/${recipe}`,
    `CurrentSymlink=/etc/extensions/${recipe}.raw`,
    `MatchPattern=${pattern}`,
    '',
  ].join('\n');
}

/**
 * The bakery's noop.conf: a transfer that can never match anything. The stock
 * systemd-sysupdate.service updates /etc/sysupdate.d and fails when that holds no transfer (the
 * sysexts' own transfers live in /etc/sysupdate.<name>.d and run with `-C <name>`); this file,
 * dropped into /etc/sysupdate.d, keeps that run from failing.
 */
export function noopTransfer(): string {
  return [
    '[Source]',
    'Type=regular-file',
    'Path=/',
    'MatchPattern=invalid@v.raw',
    '',
    '[Target]',
    'Type=regular-file',
    'Path=/',
    'MatchPattern=invalid@v.raw',
    '',
  ].join('\n');
}

export const NOOP_TRANSFER_FILE = 'noop.conf';

/** The transfers a release with these entries publishes, sorted by file name. */
export function transfersFor(entries: readonly Pick<VersionEntry, 'recipe' | 'version'>[]): TransferSpec[] {
  const specs = new Map<string, TransferSpec>();
  for (const { recipe, version } of entries) {
    specs.set(`${recipe}.conf`, { fileName: `${recipe}.conf`, recipe, matchPattern: `${recipe}-@v-%a.raw` });
    const minor = MINOR_STREAM_RECIPES.includes(recipe) ? minorOf(version) : undefined;
    if (minor !== undefined) {
      // @v is then only what follows the minor (the patch level and any build suffix).
      specs.set(`${recipe}-${minor}.conf`, { fileName: `${recipe}-${minor}.conf`, recipe, matchPattern: `${recipe}-${minor}.@v-%a.raw` });
    }
  }
  return [...specs.values()].sort((a, b) => a.fileName.localeCompare(b.fileName));
}
