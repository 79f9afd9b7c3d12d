/** The bakery's versions file: names with dashes, versions with + and -, and every kind of bad line. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { listRecipes } from '../../src/recipes/index.js';
import { mergeVersionEntries, parseVersionsFile } from '../../src/bakery-release/index.js';

const parse = (text: string) => parseVersionsFile(text, listRecipes(), 'versions.txt');
const pairs = (text: string) => parse(text).map((e) => `${e.recipe} ${e.version}`);

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected the versions file to be refused');
}

describe('parseVersionsFile', () => {
  it('reads a file like the bakery keeps: comments, blank lines, CRLF, several versions of a recipe', () => {
    const text = [
      '# Kubernetes: the supported minors',
      'kubernetes-v1.31.1',
      'kubernetes-v1.30.5   # still supported',
      '',
      '   ',
      'k3s-v1.31.1+k3s1\r',
      'rke2-v1.31.1+rke2r1',
      'crio-1.31.1',
      '\twasmtime-25.0.1\t',
    ].join('\n');
    expect(parse(text)).toEqual([
      { recipe: 'kubernetes', version: 'v1.31.1', origin: 'versions.txt:2' },
      { recipe: 'kubernetes', version: 'v1.30.5', origin: 'versions.txt:3' },
      { recipe: 'k3s', version: 'v1.31.1+k3s1', origin: 'versions.txt:6' },
      { recipe: 'rke2', version: 'v1.31.1+rke2r1', origin: 'versions.txt:7' },
      { recipe: 'crio', version: '1.31.1', origin: 'versions.txt:8' },
      { recipe: 'wasmtime', version: '25.0.1', origin: 'versions.txt:9' },
    ]);
  });

  it('splits names that hold dashes and underscores, and resolves aliases to the recipe name', () => {
    expect(pairs('nvidia-runtime-v1.16.2\nnvidia_runtime-v1.16.1\ndocker_compose-2.29.7\ndocker-compose-2.29.6\ndocker-27.3.1\n')).toEqual([
      'nvidia-runtime v1.16.2',
      'nvidia-runtime v1.16.1',
      'docker-compose 2.29.7',
      'docker-compose 2.29.6',
      'docker 27.3.1',
    ]);
  });

  it('keeps pre-release and build suffixes in the version', () => {
    expect(pairs('kubernetes-v1.32.0-rc.1\nk3s-v1.31.2-rc1+k3s1\nwasmedge-0.14.1-alpha.2\n')).toEqual([
      'kubernetes v1.32.0-rc.1',
      'k3s v1.31.2-rc1+k3s1',
      'wasmedge 0.14.1-alpha.2',
    ]);
  });

  it('refuses malformed lines, naming each by its line number', () => {
    expect(problems('kubernetes-v1.31.1\nkubernetes v1.31.1\nkubernetes-\n-v1.2.3\nwasmtime-latest\n')).toEqual([
      expect.stringMatching(/^versions\.txt line 2: "kubernetes v1\.31\.1" is not <recipe>-<version>/),
      expect.stringMatching(/^versions\.txt line 3: "kubernetes-" is not <recipe>-<version>/),
      expect.stringMatching(/^versions\.txt line 4: "-v1\.2\.3" is not <recipe>-<version>/),
      expect.stringMatching(/^versions\.txt line 5: "wasmtime-latest" is not <recipe>-<version>/),
    ]);
  });

  it('refuses unknown recipes, versions the recipe does not take, and repeats', () => {
    const lines = problems('# header\npodman-5.0.0\nkubernetes-1.31.1\nk3s-v1.31.1\nwasmtime-25.0.1\nwasmtime-25.0.1 # again\n');
    expect(lines).toEqual([
      'versions.txt line 2: unknown recipe "podman" in "podman-5.0.0"',
      'versions.txt line 3: "1.31.1" is not a kubernetes version (e.g. kubernetes-v1.31.1)',
      'versions.txt line 4: "v1.31.1" is not a k3s version (e.g. k3s-v1.31.1+k3s1)',
      'versions.txt line 6: wasmtime-25.0.1 repeats line 5',
    ]);
  });

  it('names the known recipes in the hint', () => {
    const err = (() => {
      try {
        parse('podman-5.0.0');
      } catch (e) {
        return e as InputError;
      }
      return undefined;
    })();
    expect(err?.hint).toContain('nvidia-runtime');
    expect(err?.hint).toContain('kubernetes');
  });

  it('gives nothing for a file of comments only', () => {
    expect(parse('# nothing yet\n\n')).toEqual([]);
  });
});

describe('mergeVersionEntries', () => {
  it('appends only the entries not already there', () => {
    const a = [{ recipe: 'kubernetes', version: 'v1.31.1', origin: 'f:1' }];
    const b = [
      { recipe: 'kubernetes', version: 'v1.31.1', origin: 'discovered' },
      { recipe: 'kubernetes', version: 'v1.30.5', origin: 'discovered' },
    ];
    expect(mergeVersionEntries(a, b)).toEqual([a[0], b[1]]);
  });
});
