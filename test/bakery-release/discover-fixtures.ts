/**
 * Realistic answers for --discover: kubernetes/website's data/releases/schedule.yaml (as
 * schedule-builder writes it: keys sorted, dates quoted, patch versions unquoted) and GitHub's
 * `GET /repos/{owner}/{repo}/releases` JSON (newest first, with the fields that matter and a few
 * that do not).
 */

/** Supported: 1.31 (latest patch 1.31.2), 1.30 (1.30.6), 1.29 (1.29.10); 1.28 has passed its end of life on NOW. */
export const SCHEDULE_YAML = `---
schedules:
- endOfLifeDate: "2025-10-28"
  maintenanceModeStartDate: "2025-08-28"
  next:
    cherryPickDeadline: "2024-11-15"
    release: 1.31.3
    targetDate: "2024-11-19"
  previousPatches:
  - cherryPickDeadline: "2024-10-11"
    release: 1.31.2
    targetDate: "2024-10-22"
  - cherryPickDeadline: "2024-09-06"
    release: 1.31.1
    targetDate: "2024-09-11"
  - release: 1.31.0
    targetDate: "2024-08-13"
  release: "1.31"
  releaseDate: "2024-08-13"
- endOfLifeDate: "2025-06-28"
  maintenanceModeStartDate: "2025-04-28"
  next:
    cherryPickDeadline: "2024-11-15"
    release: 1.30.7
    targetDate: "2024-11-19"
  previousPatches:
  - release: 1.30.5
    targetDate: "2024-09-11"
  - cherryPickDeadline: "2024-10-11"
    note: >-
      [Out of Band release](https://groups.google.com/a/kubernetes.io/g/dev/c/example) to fix a regression
    release: 1.30.6
    targetDate: "2024-10-22"
  - release: 1.30.0
    targetDate: "2024-04-17"
  release: "1.30"
  releaseDate: "2024-04-17"
- endOfLifeDate: "2025-02-28"
  maintenanceModeStartDate: "2024-12-28"
  next:
    release: 1.29.11
    targetDate: "2024-11-19"
  previousPatches:
  - release: 1.29.10
    targetDate: "2024-10-22"
  - release: 1.29.9
    targetDate: "2024-09-11"
  release: "1.29"
  releaseDate: "2023-12-13"
- endOfLifeDate: "2024-10-28"
  maintenanceModeStartDate: "2024-08-28"
  previousPatches:
  - release: 1.28.15
    targetDate: "2024-10-22"
  release: "1.28"
  releaseDate: "2023-08-15"
upcoming_releases:
- cherryPickDeadline: "2024-11-15"
  targetDate: "2024-11-19"
- cherryPickDeadline: "2024-12-06"
  targetDate: "2024-12-10"
`;

/** A date between 1.28's end of life and everyone else's. */
export const NOW = new Date('2024-11-05T12:00:00Z');

let id = 180_000_000;

/** One release object as the GitHub API returns it. */
export function githubRelease(repo: string, tag: string, flags: { prerelease?: boolean; draft?: boolean } = {}): Record<string, unknown> {
  id += 1;
  return {
    url: `https://api.github.com/repos/${repo}/releases/${id}`,
    html_url: `https://github.com/${repo}/releases/tag/${encodeURIComponent(tag)}`,
    id,
    node_id: `RE_kwDO${id}`,
    tag_name: tag,
    target_commitish: 'master',
    name: tag,
    draft: flags.draft ?? false,
    prerelease: flags.prerelease ?? false,
    created_at: '2024-10-22T18:00:00Z',
    published_at: '2024-10-23T01:00:00Z',
    assets: [],
    body: `This release updates Kubernetes to ${tag}.`,
  };
}

export const K3S_RELEASES = (repo = 'k3s-io/k3s') => [
  githubRelease(repo, 'v1.31.3-rc1+k3s1', { prerelease: true }),
  githubRelease(repo, 'v1.31.2+k3s1'),
  githubRelease(repo, 'v1.30.6+k3s1'),
  githubRelease(repo, 'v1.31.1+k3s2'),
  githubRelease(repo, 'v1.31.1+k3s1'),
  githubRelease(repo, 'v1.30.5+k3s2'),
  githubRelease(repo, 'v1.29.10+k3s1'),
  githubRelease(repo, 'v1.28.15+k3s1'),
  githubRelease(repo, 'v1.29.11+k3s1', { draft: true }),
];

export const RKE2_RELEASES = (repo = 'rancher/rke2') => [
  githubRelease(repo, 'v1.31.2+rke2r1'),
  githubRelease(repo, 'v1.31.2-rc2+rke2r1', { prerelease: true }),
  githubRelease(repo, 'v1.30.6+rke2r1'),
  githubRelease(repo, 'v1.29.10+rke2r1'),
  githubRelease(repo, 'v1.29.9+rke2r2'),
];

/** CRI-O has no 1.29 final in this page: only a release candidate and an oddly named tag. */
export const CRIO_RELEASES = (repo = 'cri-o/cri-o') => [
  githubRelease(repo, 'v1.31.2'),
  githubRelease(repo, 'v1.32.0-rc.1', { prerelease: true }),
  githubRelease(repo, 'v1.31.1'),
  githubRelease(repo, 'v1.30.7'),
  githubRelease(repo, 'v1.29.11-rc.1'),
  githubRelease(repo, 'v1.29.10-hotfix', { prerelease: false }),
];
