import { describe, expect, it } from 'vitest';
import { compareUpstreamVersions, forVersion, versionAtLeast } from '../../src/recipes/versions.js';

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
