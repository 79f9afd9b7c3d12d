/** --discover's parsing: the Kubernetes release schedule and GitHub release lists. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { GITHUB_PROJECTS, latestReleasePerMinor, parseGithubReleases, parseKubernetesSchedule, type DiscoverProject } from '../../src/bakery-release/index.js';
import { CRIO_RELEASES, K3S_RELEASES, NOW, RKE2_RELEASES, SCHEDULE_YAML } from './discover-fixtures.js';

const project = (recipe: string): DiscoverProject => GITHUB_PROJECTS.find((p) => p.recipe === recipe)!;

describe('parseKubernetesSchedule', () => {
  it('gives the supported minors, newest first, with their highest released patch', () => {
    expect(parseKubernetesSchedule(SCHEDULE_YAML, { now: NOW })).toEqual([
      { minor: '1.31', latestPatch: '1.31.2', endOfLife: '2025-10-28' },
      // 1.30.6 is listed after 1.30.5 and carries a note: still the highest.
      { minor: '1.30', latestPatch: '1.30.6', endOfLife: '2025-06-28' },
      { minor: '1.29', latestPatch: '1.29.10', endOfLife: '2025-02-28' },
    ]);
  });

  it('keeps a minor whose end of life has passed only when no date is given', () => {
    expect(parseKubernetesSchedule(SCHEDULE_YAML).map((m) => m.minor)).toEqual(['1.31', '1.30', '1.29', '1.28']);
  });

  it('reads unquoted minors as text (1.30 stays 1.30, not the number 1.3) and never picks the upcoming patch', () => {
    const yaml = 'schedules:\n- release: 1.30\n  next:\n    release: 1.30.3\n  previousPatches:\n  - release: 1.30.2\n  - release: 1.30.10\n- release: 1.4\n  next:\n    release: 1.4.0\n';
    expect(parseKubernetesSchedule(yaml)).toEqual([
      { minor: '1.30', latestPatch: '1.30.10', endOfLife: undefined },
      { minor: '1.4', latestPatch: undefined, endOfLife: undefined },
    ]);
  });

  it('ignores patches of other minors and malformed entries', () => {
    const yaml = 'schedules:\n- release: "1.31"\n  previousPatches:\n  - release: 1.30.9\n  - release: 1.31.1\n  - release: 1.31.x\n  - note: no release\n- release: latest\n- just a string\n';
    expect(parseKubernetesSchedule(yaml)).toEqual([{ minor: '1.31', latestPatch: '1.31.1', endOfLife: undefined }]);
  });

  it('refuses text that is not the schedule', () => {
    expect(() => parseKubernetesSchedule('<html>404</html>', { source: 'schedule.yaml' })).toThrow(/schedule\.yaml has no "schedules" list/);
    expect(() => parseKubernetesSchedule('schedules: [unclosed', { source: 'schedule.yaml' })).toThrow(InputError);
    expect(() => parseKubernetesSchedule('schedules: {}\n')).toThrow(InputError);
  });
});

describe('parseGithubReleases', () => {
  it('reads tag, pre-release and draft flags', () => {
    const text = JSON.stringify(K3S_RELEASES().slice(0, 2).concat([{ tag_name: 'v1.0.0+k3s1' }, { name: 'no tag' }]));
    expect(parseGithubReleases(text, 'k3s')).toEqual([
      { tag: 'v1.31.3-rc1+k3s1', prerelease: true, draft: false },
      { tag: 'v1.31.2+k3s1', prerelease: false, draft: false },
      { tag: 'v1.0.0+k3s1', prerelease: false, draft: false },
    ]);
  });

  it('passes on what the API says when it answers with an error object', () => {
    const text = JSON.stringify({ message: "API rate limit exceeded for 192.0.2.1. (But here's the good news: ...)", documentation_url: 'https://docs.github.com/rest' });
    expect(() => parseGithubReleases(text, 'https://api.github.com/repos/k3s-io/k3s/releases')).toThrow(/is not a list of releases: API rate limit exceeded/);
    expect(() => parseGithubReleases('<!doctype html>', 'x')).toThrow(/x is not JSON/);
  });
});

describe('latestReleasePerMinor', () => {
  const minors = ['1.31', '1.30', '1.29'];
  const releases = (list: Array<Record<string, unknown>>) => parseGithubReleases(JSON.stringify(list), 'test');

  it('k3s: the newest final release per minor; rc, drafts and unsupported minors are ignored', () => {
    // v1.31.2+k3s1 beats v1.31.1+k3s2; the draft v1.29.11 and the 1.28 release do not count.
    expect(latestReleasePerMinor(releases(K3S_RELEASES()), project('k3s'), minors)).toEqual(
      new Map([['1.31', 'v1.31.2+k3s1'], ['1.30', 'v1.30.6+k3s1'], ['1.29', 'v1.29.10+k3s1']]),
    );
  });

  it('k3s: a higher build number of the same patch wins, whatever the order', () => {
    const list = releases([{ tag_name: 'v1.31.1+k3s1' }, { tag_name: 'v1.31.1+k3s10' }, { tag_name: 'v1.31.1+k3s2' }]);
    expect(latestReleasePerMinor(list, project('k3s'), ['1.31']).get('1.31')).toBe('v1.31.1+k3s10');
  });

  it('rke2: rkeN build suffixes, pre-releases skipped', () => {
    expect(latestReleasePerMinor(releases(RKE2_RELEASES()), project('rke2'), minors)).toEqual(
      new Map([['1.31', 'v1.31.2+rke2r1'], ['1.30', 'v1.30.6+rke2r1'], ['1.29', 'v1.29.10+rke2r1']]),
    );
  });

  it('crio: versions without the v, and a minor with no final release is absent', () => {
    expect(latestReleasePerMinor(releases(CRIO_RELEASES()), project('crio'), minors)).toEqual(new Map([['1.31', '1.31.2'], ['1.30', '1.30.7']]));
  });

  it('every discovered version is one its recipe accepts', async () => {
    const { getRecipe } = await import('../../src/recipes/index.js');
    for (const [p, list] of [['k3s', K3S_RELEASES()], ['rke2', RKE2_RELEASES()], ['crio', CRIO_RELEASES()]] as const) {
      for (const version of latestReleasePerMinor(releases(list), project(p), minors).values()) {
        expect(getRecipe(p).versionPattern.test(version), `${p} ${version}`).toBe(true);
      }
    }
  });
});
