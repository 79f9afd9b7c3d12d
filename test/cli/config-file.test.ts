import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/bake/manifest.js';
import { configSysexts, parseConfig } from '../../src/cli/config-file.js';
import { UsageError } from '../../src/errors.js';
import { readJson, runCli } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

const FILE = '/srv/bakes/prod/bake.yaml';

function usageError(text: string): UsageError {
  try {
    parseConfig(text, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('no error');
}

describe('config file: parsing', () => {
  it('every key is a long option; paths are relative to the file', () => {
    const config = parseConfig(
      ['# a bake kept in git', 'release: 4230.2.1', 'arch: aarch64', 'vendor: [qemu_uefi, azure]', 'output: ../out', 'cache-dir: cache', 'no-cache: true',
        'oem-sysext: [oem-azure.raw]', 'signing-key: https://example.org/key.asc', 'image: /images/base.bin', 'retries: 2', 'fetch: false', 'install_to: oem:/sysexts',
        'sysexts:', '  - hello:hello.raw', '  - docker:/abs/docker.raw'].join('\n'),
      FILE,
    );
    expect(config.settings).toEqual({
      release: '4230.2.1', arch: 'arm64', vendors: ['qemu_uefi', 'azure'], output: '/srv/bakes/out', cacheDir: '/srv/bakes/prod/cache', cache: false,
      oemSysexts: ['/srv/bakes/prod/oem-azure.raw'], signingKey: 'https://example.org/key.asc', image: '/images/base.bin', retries: 2, fetch: false, installTo: 'oem:/sysexts',
    });
    expect(configSysexts(config, false)).toEqual(['hello:/srv/bakes/prod/hello.raw', 'docker:/abs/docker.raw']);
    // with --fetch, FILE is a bakery file name, not a path
    expect(configSysexts(config, true)).toEqual(['hello:hello.raw', 'docker:/abs/docker.raw']);
    expect(parseConfig('', FILE).settings).toEqual({});
    expect(parseConfig('vendor: gce', FILE).settings).toEqual({ vendors: ['gce'] });
  });

  it('an unknown key names the key and line and suggests the nearest', () => {
    const e = usageError('release: stable\n\nrelase-server: http://x\n');
    expect(e.message).toBe(`${FILE}:3: unknown key 'relase-server' (did you mean 'release-server'?)`);
    expect(e.hint).toMatch(/flatbake bake --help/);
    expect(usageError('vendors: gce').message).toBe(`${FILE}:1: unknown key 'vendors' (did you mean 'vendor'?)`);
    // --config is not a key of its own file
    expect(usageError('config: other.yaml').message).toMatch(/:1: unknown key 'config'/);
    expect(usageError('zzzzzzzzzz: 1').message).toBe(`${FILE}:1: unknown key 'zzzzzzzzzz'`);
  });

  it('bad values, types and YAML name the line', () => {
    expect(usageError('release: stable\narch: mips').message).toBe(`${FILE}:2: arch: unknown architecture 'mips'`);
    expect(usageError('fetch: yes please').message).toBe(`${FILE}:1: 'fetch' is a flag: true or false, not "yes please"`);
    expect(usageError('release: [a, b]').message).toMatch(/:1: 'release' needs one value/);
    expect(usageError('retries: -1').message).toMatch(/:1: retries: --retries must be a whole number/);
    expect(usageError('release: stable\nrelease: beta').message).toMatch(/:2: not valid YAML: .*unique/i);
    expect(usageError('release: [stable\n').message).toMatch(new RegExp(`^${FILE}:\\d+: not valid YAML`));
    expect(usageError('- release').message).toMatch(/must be a mapping/);
  });
});

describe('config file: a bake', () => {
  let served: ServedRelease;
  let scratch: string;
  beforeAll(async () => {
    served = await serveSyntheticRelease();
    // The served release's own scratch dir: close() removes it with everything written there.
    scratch = served.dir;
  });
  afterAll(async () => {
    await served?.close();
  });

  it('bakes what the file says, paths relative to it, the command line overriding it', async () => {
    const dir = path.join(scratch, 'bakes');
    await mkdir(dir, { recursive: true });
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!;
    await cp(hello.file, path.join(dir, 'my-hello.raw'));
    const url = served.server.url;
    await writeFile(
      path.join(dir, 'bake.yaml'),
      [`release-server: ${url}/{channel}`, `releases-json: ${url}/releases.json`, `signing-key: ${url}/key.asc`, 'release: 9999.9.9', 'no-cache: true', 'output: out',
        'install-to: root:/opt/baked/', 'sysexts:', '  - greet:my-hello.raw', ''].join('\n'),
    );
    // run elsewhere: the file's paths must not depend on the cwd; --release overrides the file's
    const r = await runCli(['--config', path.join(dir, 'bake.yaml'), '--release', served.release.version, '--json'], { cwd: scratch });
    expect(r.exitCode, r.stderr).toBe(0);
    const manifest = await readJson<Manifest>(path.join(dir, 'out', 'flatbake-manifest.json'));
    expect(JSON.parse(r.stdout)).toEqual(manifest);
    expect(manifest.release.version).toBe(served.release.version);
    expect(manifest.sysexts).toEqual([expect.objectContaining({ name: 'greet', source: path.join(dir, 'my-hello.raw'), sha256: hello.sha256 })]);
    expect(manifest.installTo).toBe('root:/opt/baked');

    const bad = await runCli(['--config', path.join(dir, 'bake.yaml'), '--output', path.join(scratch, 'never')], { cwd: scratch });
    expect(bad.exitCode).toBe(1); // release 9999.9.9 is not on the server: the file's value was used
    await writeFile(path.join(dir, 'typo.yaml'), 'release: stable\nvendr: gce\n');
    const typo = await runCli(['--config', path.join(dir, 'typo.yaml'), 'x:y.raw']);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr.split('\n').slice(0, 2)).toEqual([
      `flatbake: error: ${path.join(dir, 'typo.yaml')}:2: unknown key 'vendr' (did you mean 'vendor'?)`,
      'flatbake: hint: the keys are the long options of `flatbake bake --help` without the dashes, and `sysexts:`',
    ]);
  });
});
