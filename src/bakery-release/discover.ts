/**
 * --discover: the versions a release should carry for the Kubernetes distributions, found the way
 * the bakery's maintainers pick them by hand: every Kubernetes minor the project still supports
 * (its release schedule), and for each the newest final release of kubernetes, k3s, CRI-O and
 * RKE2 (their GitHub releases). Parsing is pure; discoverVersions() does the fetching.
 */
import YAML from 'yaml';
import { InputError } from '../errors.js';
import type { Reporter } from '../util/report.js';
import { fetchText, type FetchTextOptions } from '../net/fetch-text.js';
import type { VersionEntry } from './versions-file.js';

export const KUBERNETES_SCHEDULE_URL = 'https://raw.githubusercontent.com/kubernetes/website/main/data/releases/schedule.yaml';

/** One page of a repository's releases, newest first; 100 is the API's maximum page size. */
export function githubReleasesUrl(repo: string): string {
  return `https://api.github.com/repos/${repo}/releases?per_page=100`;
}

export interface SupportedMinor {
  /** `1.31`. */
  minor: string;
  /** The newest released patch, `1.31.2`; undefined while the minor has none yet. */
  latestPatch: string | undefined;
  /** `2025-10-28`, as the schedule gives it. */
  endOfLife: string | undefined;
}

type Tuple = readonly number[];

function compareTuples(a: Tuple, b: Tuple): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const numbers = (text: string): number[] => text.split('.').map(Number);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The supported minors in kubernetes/website's `data/releases/schedule.yaml`, newest first. Each
 * `schedules` entry names a minor (`release: "1.31"`), its released patches (`previousPatches`,
 * newest first, but the highest is taken rather than trusting the order) and the upcoming one
 * (`next`, not released yet, so never picked). An entry whose `endOfLifeDate` is before NOW is
 * dropped: the page is edited by hand and can lag behind the end of a minor's support.
 */
export function parseKubernetesSchedule(text: string, options: { now?: Date; source?: string } = {}): SupportedMinor[] {
  const source = options.source ?? 'the Kubernetes release schedule';
  let doc: unknown;
  try {
    // Failsafe: every scalar stays a string, so an unquoted `release: 1.30` is not read as 1.3.
    doc = YAML.parse(text, { schema: 'failsafe' });
  } catch (err) {
    throw new InputError(`${source} is not YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const schedules = isRecord(doc) ? doc['schedules'] : undefined;
  if (!Array.isArray(schedules)) throw new InputError(`${source} has no "schedules" list`, 'is the URL the release schedule (data/releases/schedule.yaml)?');
  const minors: SupportedMinor[] = [];
  for (const entry of schedules) {
    if (!isRecord(entry)) continue;
    const minor = entry['release'];
    if (typeof minor !== 'string' || !/^\d+\.\d+$/.test(minor)) continue;
    const endOfLife = typeof entry['endOfLifeDate'] === 'string' ? entry['endOfLifeDate'] : undefined;
    if (endOfLife !== undefined && options.now !== undefined) {
      const end = Date.parse(endOfLife);
      if (!Number.isNaN(end) && end < options.now.getTime()) continue;
    }
    const patches = (Array.isArray(entry['previousPatches']) ? entry['previousPatches'] : [])
      .map((p) => (isRecord(p) ? p['release'] : undefined))
      .filter((r): r is string => typeof r === 'string' && r.startsWith(`${minor}.`) && /^\d+\.\d+\.\d+$/.test(r));
    patches.sort((a, b) => compareTuples(numbers(b), numbers(a)));
    minors.push({ minor, latestPatch: patches[0], endOfLife });
  }
  return minors.sort((a, b) => compareTuples(numbers(b.minor), numbers(a.minor)));
}

export interface GithubRelease {
  tag: string;
  prerelease: boolean;
  draft: boolean;
}

/** The releases in a GitHub API `GET /repos/{owner}/{repo}/releases` answer. */
export function parseGithubReleases(text: string, source: string): GithubRelease[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InputError(`${source} is not JSON`);
  }
  if (!Array.isArray(doc)) {
    const message = isRecord(doc) && typeof doc['message'] === 'string' ? `: ${doc['message']}` : '';
    throw new InputError(`${source} is not a list of releases${message}`, 'the GitHub API may be rate-limiting this address; retry later or use --mirror');
  }
  return doc.flatMap((r): GithubRelease[] =>
    isRecord(r) && typeof r['tag_name'] === 'string' ? [{ tag: r['tag_name'], prerelease: r['prerelease'] === true, draft: r['draft'] === true }] : [],
  );
}

export interface DiscoverProject {
  recipe: string;
  /** GitHub `owner/name` whose releases are read. */
  repo: string;
  /** A final release's tag; its groups are major, minor, patch and (optionally) the build number. */
  tag: RegExp;
  /** The recipe's version for a tag. */
  version(tag: string): string;
}

export const GITHUB_PROJECTS: readonly DiscoverProject[] = [
  { recipe: 'k3s', repo: 'k3s-io/k3s', tag: /^v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)$/, version: (tag) => tag },
  // The crio recipe takes the version without the tag's v (its download URL adds it).
  { recipe: 'crio', repo: 'cri-o/cri-o', tag: /^v(\d+)\.(\d+)\.(\d+)$/, version: (tag) => tag.slice(1) },
  { recipe: 'rke2', repo: 'rancher/rke2', tag: /^v(\d+)\.(\d+)\.(\d+)\+rke2r(\d+)$/, version: (tag) => tag },
];

/**
 * For each minor (`1.31`), the project's newest final release of it: drafts, pre-releases and
 * tags that are not plain releases (`-rc1`) are ignored; `v1.31.2+k3s1` beats `v1.31.1+k3s2`.
 * Minors without such a release are absent from the map.
 */
export function latestReleasePerMinor(releases: readonly GithubRelease[], project: DiscoverProject, minors: readonly string[]): Map<string, string> {
  const best = new Map<string, { key: Tuple; tag: string }>();
  for (const r of releases) {
    if (r.draft || r.prerelease) continue;
    const m = project.tag.exec(r.tag);
    if (!m) continue;
    const minor = `${m[1]}.${m[2]}`;
    if (!minors.includes(minor)) continue;
    const key = m.slice(1).map((g) => Number(g ?? 0));
    const current = best.get(minor);
    if (!current || compareTuples(key, current.key) > 0) best.set(minor, { key, tag: r.tag });
  }
  return new Map([...best].map(([minor, { tag }]) => [minor, project.version(tag)]));
}

export interface DiscoverOptions extends FetchTextOptions {
  report: Reporter;
  /** Minors whose end of life is before this are skipped; default: now. */
  now?: Date;
  scheduleUrl?: string;
}

export interface Discovery {
  entries: VersionEntry[];
  minors: SupportedMinor[];
  /** A supported minor a project has no final release for (yet). */
  missing: Array<{ recipe: string; minor: string }>;
}

/** Fetch the schedule and the projects' releases; one entry per project and supported minor. */
export async function discoverVersions(options: DiscoverOptions): Promise<Discovery> {
  const scheduleUrl = options.scheduleUrl ?? KUBERNETES_SCHEDULE_URL;
  options.report.step('discover', `reading the supported Kubernetes minors from ${scheduleUrl}`);
  const minors = parseKubernetesSchedule(await fetchText(scheduleUrl, options), { now: options.now ?? new Date(), source: scheduleUrl });
  if (minors.length === 0) throw new InputError(`${scheduleUrl} lists no supported Kubernetes minor`);
  const entries: VersionEntry[] = [];
  const missing: Discovery['missing'] = [];
  for (const m of minors) {
    if (m.latestPatch === undefined) missing.push({ recipe: 'kubernetes', minor: m.minor });
    else entries.push({ recipe: 'kubernetes', version: `v${m.latestPatch}`, origin: `discovered (${scheduleUrl})` });
  }
  const wanted = minors.map((m) => m.minor);
  for (const project of GITHUB_PROJECTS) {
    const url = githubReleasesUrl(project.repo);
    const latest = latestReleasePerMinor(parseGithubReleases(await fetchText(url, options), url), project, wanted);
    for (const minor of wanted) {
      const version = latest.get(minor);
      if (version === undefined) missing.push({ recipe: project.recipe, minor });
      else entries.push({ recipe: project.recipe, version, origin: `discovered (${url})` });
    }
  }
  for (const { recipe, minor } of missing) options.report.warn(`discover: no final ${recipe} release for Kubernetes ${minor} (yet); it is left out`);
  options.report.step('discover', `found ${entries.map((e) => `${e.recipe}-${e.version}`).join(', ')}`);
  return { entries, minors, missing };
}
