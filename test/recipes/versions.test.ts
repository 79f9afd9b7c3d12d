import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { compareUpstreamVersions, forVersion, latestReleaseTag, versionAtLeast } from '../../src/recipes/versions.js';

describe('upstream versions', () => {
  it('order numerically, ignore v and +build, put pre-releases before their release', () => {
    const sorted = ['v0.15.0', '0.14.1', '0.9.9', '0.15.0-rc.1', '0.15.0-alpha.2', 'v0.14.10', '1.0.0+k3s1'].sort(compareUpstreamVersions);
    expect(sorted).toEqual(['0.9.9', '0.14.1', 'v0.14.10', '0.15.0-alpha.2', '0.15.0-rc.1', 'v0.15.0', '1.0.0+k3s1']);
    expect(versionAtLeast('v0.14.0', '0.14.0')).toBe(true);
    expect(versionAtLeast('0.13.9', 'v0.14.0')).toBe(false);
  });

  it('pick the row of a version table whose range holds the version', () => {
    const table = [{ name: 'old' }, { since: '0.14.0', name: 'mid' }, { since: '2.0.0', name: 'new' }];
    expect(forVersion(table, '0.13.5').name).toBe('old');
    expect(forVersion(table, 'v0.14.0').name).toBe('mid');
    expect(forVersion(table, '1.99.0').name).toBe('mid');
    expect(forVersion(table, '2.0.0-rc.1').name).toBe('mid');
    expect(forVersion(table, 'v2.0.0').name).toBe('new');
    expect(() => forVersion([{ since: '1.0.0', name: 'x' }], '1.0.0')).toThrow(/starts with a row without since/);
  });
});

describe('latestReleaseTag', () => {
  const URL = 'https://api.github.com/repos/containernetworking/plugins/releases/latest';
  const answer = (body: string) => async (url: string) => (url === URL ? body : Promise.reject(new Error(`unexpected ${url}`)));

  it('returns the tag of a GitHub latest-release answer', async () => {
    expect(await latestReleaseTag(answer('{"tag_name":"v1.6.0","name":"v1.6.0"}'), URL, /^v\d+\.\d+\.\d+$/, 'cni-version', 'v1.5.1')).toBe('v1.6.0');
  });

  it.each([
    ['a tag of another shape', '{"tag_name":"nightly"}'],
    ['no tag at all', '{"message":"API rate limit exceeded"}'],
    ['no JSON (an HTML error page)', '<html>rate limited</html>'],
    ['JSON null', 'null'],
  ])('refuses %s with the option to pass instead', async (_what, body) => {
    const failed = latestReleaseTag(answer(body), URL, /^v\d+\.\d+\.\d+$/, 'cni-version', 'v1.5.1');
    await expect(failed).rejects.toBeInstanceOf(InputError);
    await expect(failed).rejects.toMatchObject({ message: `${URL} gave no usable tag_name`, hint: 'pass the cni-version option, e.g. v1.5.1' });
  });
});
