import { describe, expect, it } from 'vitest';
import { InputError, NetworkError, UsageError } from '../../src/errors.js';
import { boardFor } from '../../src/flatcar-release/arch.js';
import {
  channelOfVersion,
  compareVersions,
  latestVersionOf,
  parseReleaseSpec,
  parseShellVars,
  parseVersionTxt,
  releaseBaseUrl,
} from '../../src/flatcar-release/resolve.js';

describe('architectures', () => {
  it('maps boards', () => {
    expect(boardFor('x86-64')).toBe('amd64-usr');
    expect(boardFor('arm64')).toBe('arm64-usr');
  });
});

describe('release specs', () => {
  it('knows channels by the middle number', () => {
    expect(channelOfVersion('3975.0.0')).toBe('alpha');
    expect(channelOfVersion('3941.1.0')).toBe('beta');
    expect(channelOfVersion('4230.2.1')).toBe('stable');
    expect(channelOfVersion('3815.3.2')).toBe('lts');
    expect(channelOfVersion('3033.12.9')).toBe('lts');
  });
  it('parses channels and versions', () => {
    expect(parseReleaseSpec('stable')).toEqual({ kind: 'channel', channel: 'stable' });
    expect(parseReleaseSpec('4230.2.1')).toEqual({ kind: 'version', version: '4230.2.1', channel: 'stable' });
  });
  it.each(['current', 'Stable', '4230.2', '4230.2.1.1', 'v4230.2.1', '', '../etc'])('refuses %j', (bad) => {
    expect(() => parseReleaseSpec(bad)).toThrow(UsageError);
  });
  it('orders versions numerically', () => {
    expect(compareVersions('4230.2.10', '4230.2.9')).toBeGreaterThan(0);
    expect(compareVersions('999.2.1', '1000.2.0')).toBeLessThan(0);
    expect(compareVersions('1.2.3', '1.2.3')).toBe(0);
  });
  it('builds release URLs with {channel} replaced', () => {
    expect(releaseBaseUrl('https://{channel}.release.flatcar-linux.net', 'beta', 'arm64-usr', '4230.1.0')).toBe(
      'https://beta.release.flatcar-linux.net/arm64-usr/4230.1.0',
    );
    expect(releaseBaseUrl('http://127.0.0.1:8080/{channel}/', 'lts', 'amd64-usr', '3815.3.2')).toBe('http://127.0.0.1:8080/lts/amd64-usr/3815.3.2');
  });
});

describe('latestVersionOf', () => {
  const index = {
    current: { channel: 'stable' },
    '4230.2.1': { channel: 'stable', architectures: ['amd64', 'arm64'] },
    '4230.2.10': { channel: 'stable', architectures: ['amd64'] },
    '4230.2.3': { channel: 'stable', architectures: ['amd64', 'arm64'] },
    '4300.0.0': { channel: 'alpha', architectures: ['amd64', 'arm64'] },
    '3815.3.2': { channel: 'lts' },
  };
  it('picks the highest version of the channel (semantic order)', () => {
    expect(latestVersionOf(index, 'stable', 'x86-64')).toBe('4230.2.10');
    expect(latestVersionOf(index, 'alpha', 'x86-64')).toBe('4300.0.0');
  });
  it('skips releases that do not list the architecture', () => {
    expect(latestVersionOf(index, 'stable', 'arm64')).toBe('4230.2.3');
  });
  it('takes entries without an architectures list', () => {
    expect(latestVersionOf(index, 'lts', 'arm64')).toBe('3815.3.2');
  });
  it('says when nothing matches', () => {
    expect(() => latestVersionOf(index, 'beta', 'x86-64')).toThrow(NetworkError);
    expect(() => latestVersionOf(index, 'beta', 'x86-64')).toThrow(/no beta release/);
  });
  it.each([[null], [[]], ['text'], [42], [{}], [{ current: {} }], [{ '1.2.3': 'stable' }]])('refuses a malformed index %j', (bad) => {
    expect(() => latestVersionOf(bad, 'stable', 'x86-64')).toThrow(InputError);
  });
});

describe('version.txt', () => {
  const text = 'FLATCAR_BUILD=4230\nFLATCAR_BRANCH=2\nFLATCAR_PATCH=1\nFLATCAR_VERSION=4230.2.1\nFLATCAR_VERSION_ID=4230.2.1\nFLATCAR_BUILD_ID=""\nFLATCAR_SDK_VERSION=4230.0.0\n';
  it('parses the shell-style fields', () => {
    expect(parseVersionTxt(text, '4230.2.1')).toEqual({
      version: '4230.2.1',
      versionId: '4230.2.1',
      build: '4230',
      branch: '2',
      patch: '1',
      sdkVersion: '4230.0.0',
    });
  });
  it('refuses a version.txt of another release', () => {
    expect(() => parseVersionTxt(text, '4230.2.2')).toThrow(/4230.2.1/);
  });
  it('refuses text without FLATCAR_VERSION', () => {
    expect(() => parseVersionTxt('<html>not found</html>')).toThrow(InputError);
  });
  it('handles quotes, comments and export', () => {
    expect(parseShellVars("# c\nexport A='x y'\nB=\"q\"\nC=plain\n  \nnot a var\n")).toEqual({ A: 'x y', B: 'q', C: 'plain' });
  });
});
