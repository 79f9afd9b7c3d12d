/** Transfers, noop.conf, SHA256SUMS and Release.md as text: read back as sysupdate and sha256sum read them. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  DEFAULT_BASE_URL,
  formatSha256Sums,
  minorOf,
  noopTransfer,
  renderReleaseNotes,
  sysupdateTransfer,
  transfersFor,
  type ReleaseImage,
} from '../../src/bakery-release/index.js';
import { parseSha256Sums } from '../../src/verify/sha256sums.js';
import { matching, parseIni, patternRegExp } from './helpers.js';

const NAMES = [
  'kubernetes-v1.31.1-x86-64.raw',
  'kubernetes-v1.31.2-arm64.raw',
  'kubernetes-v1.30.5-x86-64.raw',
  'kubernetes-v1.3.10-x86-64.raw',
  'k3s-v1.31.1+k3s1-x86-64.raw',
  'k3s-v1.30.4+k3s2-x86-64.raw',
  'rke2-v1.31.1+rke2r1-arm64.raw',
  'crio-1.31.1-x86-64.raw',
  'crio-1.30.6-x86-64.raw',
  'wasmtime-25.0.1-x86-64.raw',
  'nvidia-runtime-v1.16.2-x86-64.raw',
];

describe('minorOf', () => {
  it('keeps the version\'s own spelling of major.minor', () => {
    expect(['v1.31.1', 'v1.31.1+k3s1', 'v1.31.10+rke2r2', '1.31.1', 'v1.32.0-rc.1', '1.31', 'latest'].map(minorOf)).toEqual([
      'v1.31', 'v1.31', 'v1.31', '1.31', 'v1.32', undefined, undefined,
    ]);
  });
});

describe('transfersFor', () => {
  const specs = transfersFor([
    { recipe: 'kubernetes', version: 'v1.31.1' },
    { recipe: 'kubernetes', version: 'v1.30.5' },
    { recipe: 'k3s', version: 'v1.31.1+k3s1' },
    { recipe: 'rke2', version: 'v1.31.1+rke2r1' },
    { recipe: 'crio', version: '1.31.1' },
    { recipe: 'wasmtime', version: '25.0.1' },
    { recipe: 'wasmtime', version: '24.0.0' },
    { recipe: 'nvidia-runtime', version: 'v1.16.2' },
  ]);

  it('gives one stream per recipe and one per minor for the Kubernetes distributions only', () => {
    expect(specs.map((s) => [s.fileName, s.recipe, s.matchPattern])).toEqual([
      ['crio-1.31.conf', 'crio', 'crio-1.31.@v-%a.raw'],
      ['crio.conf', 'crio', 'crio-@v-%a.raw'],
      ['k3s-v1.31.conf', 'k3s', 'k3s-v1.31.@v-%a.raw'],
      ['k3s.conf', 'k3s', 'k3s-@v-%a.raw'],
      ['kubernetes-v1.30.conf', 'kubernetes', 'kubernetes-v1.30.@v-%a.raw'],
      ['kubernetes-v1.31.conf', 'kubernetes', 'kubernetes-v1.31.@v-%a.raw'],
      ['kubernetes.conf', 'kubernetes', 'kubernetes-@v-%a.raw'],
      ['nvidia-runtime.conf', 'nvidia-runtime', 'nvidia-runtime-@v-%a.raw'],
      ['rke2-v1.31.conf', 'rke2', 'rke2-v1.31.@v-%a.raw'],
      ['rke2.conf', 'rke2', 'rke2-@v-%a.raw'],
      ['wasmtime.conf', 'wasmtime', 'wasmtime-@v-%a.raw'],
    ]);
  });

  it('patterns select exactly their stream\'s images (a minor stream never another minor)', () => {
    const pattern = (file: string) => specs.find((s) => s.fileName === file)!.matchPattern;
    expect(matching(pattern('kubernetes.conf'), 'x86-64', NAMES)).toEqual(['kubernetes-v1.3.10-x86-64.raw', 'kubernetes-v1.30.5-x86-64.raw', 'kubernetes-v1.31.1-x86-64.raw']);
    expect(matching(pattern('kubernetes-v1.31.conf'), 'x86-64', NAMES)).toEqual(['kubernetes-v1.31.1-x86-64.raw']);
    expect(matching(pattern('kubernetes-v1.31.conf'), 'arm64', NAMES)).toEqual(['kubernetes-v1.31.2-arm64.raw']);
    expect(matching(pattern('kubernetes-v1.30.conf'), 'x86-64', NAMES)).toEqual(['kubernetes-v1.30.5-x86-64.raw']);
    expect(matching(pattern('k3s-v1.31.conf'), 'x86-64', NAMES)).toEqual(['k3s-v1.31.1+k3s1-x86-64.raw']);
    expect(matching(pattern('rke2-v1.31.conf'), 'arm64', NAMES)).toEqual(['rke2-v1.31.1+rke2r1-arm64.raw']);
    expect(matching(pattern('crio-1.31.conf'), 'x86-64', NAMES)).toEqual(['crio-1.31.1-x86-64.raw']);
    expect(matching(pattern('nvidia-runtime.conf'), 'x86-64', NAMES)).toEqual(['nvidia-runtime-v1.16.2-x86-64.raw']);
    // The version part of a minor stream is what follows the minor.
    expect(patternRegExp(pattern('k3s-v1.31.conf'), 'x86-64').exec('k3s-v1.31.1+k3s1-x86-64.raw')?.[1]).toBe('1+k3s1');
  });
});

describe('sysupdateTransfer', () => {
  it('renders the bakery\'s transfer, read back section by section', () => {
    const text = sysupdateTransfer({ recipe: 'kubernetes', matchPattern: 'kubernetes-v1.31.@v-%a.raw', baseUrl: 'https://example.org/rel/' });
    expect(parseIni(text)).toEqual({
      Transfer: { Verify: 'false' },
      Source: { Type: 'url-file', Path: 'https://example.org/rel/', MatchPattern: 'kubernetes-v1.31.@v-%a.raw' },
      Target: {
        InstancesMax: '3',
        Type: 'regular-file',
        Path: '/opt/extensions/kubernetes',
        CurrentSymlink: '/etc/extensions/kubernetes.raw',
        MatchPattern: 'kubernetes-v1.31.@v-%a.raw',
      },
    });
    expect(text.endsWith('\n')).toBe(true);
  });

  it('refuses a base URL that is not http(s) or would break the file', () => {
    expect(() => sysupdateTransfer({ recipe: 'x', matchPattern: 'x-@v-%a.raw', baseUrl: 'ftp://example.org/' })).toThrow(InputError);
    expect(() => sysupdateTransfer({ recipe: 'x', matchPattern: 'x-@v-%a.raw', baseUrl: 'not a url' })).toThrow(InputError);
    expect(() => sysupdateTransfer({ recipe: 'x', matchPattern: 'x-@v-%a.raw\nPath=/', baseUrl: DEFAULT_BASE_URL })).toThrow(InputError);
  });

  it('noop.conf is a valid transfer that matches no image', () => {
    const ini = parseIni(noopTransfer());
    expect(ini['Source']).toMatchObject({ Type: 'regular-file', Path: '/' });
    expect(ini['Target']).toMatchObject({ Type: 'regular-file', Path: '/' });
    for (const arch of ['x86-64', 'arm64']) expect(matching(ini['Source']!['MatchPattern']!, arch, NAMES)).toEqual([]);
  });
});

const image = (name: string, recipe: string, version: string, arch: 'x86-64' | 'arm64', fill: string): ReleaseImage => ({ name, recipe, version, arch, sha256: fill.repeat(64), size: 2048 });

describe('formatSha256Sums', () => {
  it('writes sha256sum lines sorted by name in byte order', () => {
    const text = formatSha256Sums([
      image('wasmtime-25.0.1-x86-64.raw', 'wasmtime', '25.0.1', 'x86-64', 'a'),
      image('kubernetes-v1.31.1-x86-64.raw', 'kubernetes', 'v1.31.1', 'x86-64', 'b'),
      image('kubernetes-v1.31.1-arm64.raw', 'kubernetes', 'v1.31.1', 'arm64', 'c'),
      image('Zed-1.0.0-x86-64.raw', 'Zed', '1.0.0', 'x86-64', 'd'),
    ]);
    expect(text).toBe(`${'d'.repeat(64)}  Zed-1.0.0-x86-64.raw\n${'c'.repeat(64)}  kubernetes-v1.31.1-arm64.raw\n${'b'.repeat(64)}  kubernetes-v1.31.1-x86-64.raw\n${'a'.repeat(64)}  wasmtime-25.0.1-x86-64.raw\n`);
    expect([...parseSha256Sums(text).keys()]).toHaveLength(4);
  });
});

describe('renderReleaseNotes', () => {
  const built = [{ ...image('kubernetes-v1.31.1-x86-64.raw', 'kubernetes', 'v1.31.1', 'x86-64', 'b'), cached: true }];
  const carried = [image('wasmtime-25.0.1-x86-64.raw', 'wasmtime', '25.0.1', 'x86-64', 'a')];
  const transfers = transfersFor([{ recipe: 'kubernetes', version: 'v1.31.1' }, { recipe: 'wasmtime', version: '25.0.1' }]);

  it('tables what was built and what was carried over, and lists the transfers', () => {
    const text = renderReleaseNotes({ built, carried, previous: 'https://example.org/old/', transfers, baseUrl: 'https://example.org/new/', skipped: [] });
    const section = (title: string) => text.split(`## ${title}\n`)[1]!.split('\n## ')[0]!;
    expect(section('Built')).toContain(`| \`kubernetes-v1.31.1-x86-64.raw\` | kubernetes | v1.31.1 | x86-64 | 2.0 KiB | \`${'b'.repeat(64)}\` | from the build cache |`);
    expect(section('Built')).not.toContain('wasmtime');
    expect(section('Carried over')).toContain(`| \`wasmtime-25.0.1-x86-64.raw\` | wasmtime | 25.0.1 | x86-64 | 2.0 KiB | \`${'a'.repeat(64)}\` |`);
    expect(section('Carried over')).not.toContain('kubernetes');
    expect(text).toContain('carried 1 over unchanged from the previous release (https://example.org/old/)');
    expect(section('systemd-sysupdate transfers')).toContain('| `kubernetes-v1.31.conf` | `kubernetes-v1.31.@v-%a.raw` |');
    expect(text).not.toContain('## Not built');
  });

  it('says when there was no previous release, and lists images left out', () => {
    const text = renderReleaseNotes({ built, carried: [], previous: undefined, transfers, baseUrl: DEFAULT_BASE_URL, skipped: [{ recipe: 'x', version: '1.0.0', arch: 'arm64', reason: 'no arm64 build' }] });
    expect(text).toContain('None: no previous release was given.');
    expect(text).toContain('## Not built\n\n- x 1.0.0 (arm64): no arm64 build');
  });
});
