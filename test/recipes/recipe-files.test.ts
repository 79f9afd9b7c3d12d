/**
 * Recipe files: the built-ins and the skeleton pass the schema; invalid files fail with
 * FILE:LINE: what; a user recipe made from a built-in's --show output builds from its own
 * (fixture) upstream and overrides a built-in with a notice; version ranges and options pick
 * downloads as the upstreams need.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { InputError, VerificationError } from '../../src/errors.js';
import { buildRecipe, builtinRecipes, getRecipe, parseRecipeFile } from '../../src/recipes/index.js';
import { recipeSkeleton } from '../../src/recipes/skeleton.js';
import { compareVersions, versionInRange } from '../../src/recipes/version-range.js';
import { quietReporter } from '../../src/util/report.js';
import { schemaErrors } from '../helpers/schemas.js';
import { runCli } from '../helpers/cli.js';
import { kataRelease } from './fixtures-bakery.js';
import { elf, sha256, Upstream } from './upstream.js';
import { verifyImage } from './verify.js';

let work: string;
let upstream: Upstream;
let server: StaticServer;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-recipe-files-'));
  upstream = new Upstream(path.join(work, 'mirror'));
  await mkdir(upstream.root, { recursive: true });
  server = await serveStatic(upstream.root);
});
afterAll(async () => {
  await server?.close();
  await upstream?.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** The message of the InputError parseRecipeFile throws for TEXT. */
function problems(text: string): string {
  try {
    parseRecipeFile(text, 'r.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error('the recipe file was accepted');
}

const VALID = `name: demo
description: a demo
arches: { x86-64: amd64, arm64: arm64 }
os: _any
reload: false
version: { pattern: '^v\\d+$', example: v1 }
downloads:
  - id: demo
    url: https://example.com/{version}/demo-{arch}
install:
  - { copy: demo, to: usr/bin/demo, mode: '0755' }
`;

describe('recipe files', () => {
  it('every built-in recipe file and the skeleton pass the schema', () => {
    const files = builtinRecipes().filter((r) => r.file);
    expect(files.length).toBeGreaterThanOrEqual(13);
    for (const r of files) expect(path.basename(r.file!), r.name).toBe(`${r.name}.yaml`);
    expect(parseRecipeFile(recipeSkeleton('my-tool'), 'my-tool.yaml').name).toBe('my-tool');
    expect(parseRecipeFile(VALID, 'demo.yaml').downloads({ version: 'v3', arch: 'arm64', upstreamArch: 'arm64', variant: undefined, options: {}, params: {} })[0]!.url).toBe('https://example.com/v3/demo-arm64');
  });

  it('names the file, the line and what is wrong', () => {
    expect(problems(VALID.replace('reload: false', 'reload: maybe'))).toBe('invalid recipe file r.yaml:5: reload must be boolean');
    expect(problems(VALID.replace('https://example.com', 'ftp://example.com'))).toBe('invalid recipe file r.yaml:9: downloads.0.url must match pattern "^https?://"');
    expect(problems(VALID.replace("{ copy: demo, to: usr/bin/demo, mode: '0755' }", '{ copy: demo, write: usr/x, to: usr/bin/demo }'))).toBe(
      'invalid recipe file r.yaml:11: install.0 must have exactly one of copy, tree, link, write, unit, dropin, upholds, remove',
    );
    expect(problems(VALID.replace('copy: demo,', 'copy: nodl,'))).toBe('invalid recipe file r.yaml:11: "nodl" names no download (ids: demo)');
    expect(problems(VALID.replace('demo-{arch}', 'demo-{option.flavour}'))).toBe('invalid recipe file r.yaml:9: {option.flavour} names no option in "options"');
    expect(problems(VALID.replace('description: a demo\n', ''))).toBe('invalid recipe file r.yaml:1: the recipe lacks "description"');
    expect(problems(VALID.replace('os: _any', 'os: _any\nflavour: x'))).toBe('invalid recipe file r.yaml:1: the recipe has an unknown key "flavour"');
    expect(problems(VALID.replace("example: v1 }", "example: x1 }"))).toBe('invalid recipe file r.yaml:6: example "x1" does not match version.pattern');
    // Several problems: each on its own line, in file order.
    expect(problems(VALID.replace('reload: false', 'reload: 1').replace("mode: '0755'", "mode: '999'")).split('\n')).toEqual([
      'invalid recipe file r.yaml:5: reload must be boolean',
      'r.yaml:11: install.0.mode must match pattern "^0?[0-7]{3}$"',
    ]);
    // YAML syntax errors come with the parser's line.
    expect(problems(`${VALID}install: [\n`)).toMatch(/^invalid recipe file r\.yaml:1\d: /);
  });

  it('picks downloads by version range and option', () => {
    expect(compareVersions('3.9.0', '3.21.0')).toBe(-1);
    expect(compareVersions('v1.10', '1.9.9')).toBe(1);
    expect(versionInRange('3.21.0', '>=3.21.0')).toBe(true);
    expect(versionInRange('3.20.1', '>=3.21.0')).toBe(false);
    expect(versionInRange('1.5', '>=1.0 <2')).toBe(true);
    const kata = getRecipe('kata-containers');
    const input = { arch: 'x86-64' as const, upstreamArch: 'amd64', variant: undefined, options: {}, params: {} };
    expect(kata.downloads({ ...input, version: '3.20.0' }).map((d) => [d.url.slice(d.url.lastIndexOf('/') + 1), d.extract])).toEqual([['kata-static-3.20.0-amd64.tar.xz', 'tar.xz']]);
    expect(kata.downloads({ ...input, version: '3.21.0' }).map((d) => [d.url.slice(d.url.lastIndexOf('/') + 1), d.extract])).toEqual([['kata-static-3.21.0-amd64.tar.zst', 'tar.zst']]);
    const nerdctl = getRecipe('nerdctl');
    expect(nerdctl.downloads({ ...input, version: 'v2.0.3' }).map((d) => d.id)).toEqual(['nerdctl']);
    expect(nerdctl.downloads({ ...input, version: 'v2.0.3', options: { 'with-cni': 'v1.6.2' } }).map((d) => d.url)).toContain(
      'https://github.com/containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-amd64-v1.6.2.tgz',
    );
  });
});

describe('builds from recipe files', () => {
  const build = (recipe: string, version: string, options: Record<string, string> = {}, arch = 'x86-64') =>
    buildRecipe({ recipe, version, arch, options, outputDir: path.join(work, 'out', recipe, version), mirror: server.url, cache: new Cache(undefined), report: quietReporter, sourceDateEpoch: 0, retries: 0 });

  it('kata-containers before 3.21.0: the xz tarball', async () => {
    const name = 'kata-static-3.20.0-amd64.tar.xz';
    const runtime = elf('x86-64', 'kata-runtime 3.20');
    const tar = await upstream.tar(`https://github.com/kata-containers/kata-containers/releases/download/3.20.0/${name}`, 'xz', {
      'opt/kata/bin/kata-runtime': runtime,
      'opt/kata/bin/containerd-shim-kata-v2': elf('x86-64', 'shim'),
    }, ['.']);
    await kataRelease(upstream, '3.20.0', name, tar);
    const result = await build('kata-containers', '3.20.0');
    await verifyImage(result.path, 'kata-containers', 'x86-64', {
      version: '3.20.0', os: '_any', reload: true, tops: ['opt', 'usr'],
      files: { 'opt/kata/bin/kata-runtime': 0o755 }, contents: { 'opt/kata/bin/kata-runtime': runtime },
      symlinks: { 'usr/bin/kata-runtime': '../../opt/kata/bin/kata-runtime', 'usr/bin/containerd-shim-kata-v2': '../../opt/kata/bin/containerd-shim-kata-v2' },
      // kata-collect-data.sh is optional: this release lacks it, so no dangling link.
      absent: ['usr/bin/kata-collect-data.sh'],
    });
  });

  it('kata-containers: refuses a release asset GitHub recorded no digest for, and a tarball without the runtime', async () => {
    const name = 'kata-static-3.19.0-amd64.tar.xz';
    await upstream.tar(`https://github.com/kata-containers/kata-containers/releases/download/3.19.0/${name}`, 'xz', { 'opt/kata/bin/kata-runtime': elf('x86-64', 'k') }, ['.']);
    await kataRelease(upstream, '3.19.0', name, undefined);
    await expect(build('kata-containers', '3.19.0')).rejects.toThrow(VerificationError);
    const broken = 'kata-static-3.18.0-amd64.tar.xz';
    const tar = await upstream.tar(`https://github.com/kata-containers/kata-containers/releases/download/3.18.0/${broken}`, 'xz', { 'opt/kata/bin/kata-runtime': elf('x86-64', 'k') }, ['.']);
    await kataRelease(upstream, '3.18.0', broken, tar);
    await expect(build('kata-containers', '3.18.0')).rejects.toThrow(/usr\/bin\/containerd-shim-kata-v2 would point at opt\/kata\/bin\/containerd-shim-kata-v2, which 3.18.0 does not have/);
  });

  it('nerdctl with-cni: the CNI plugins, their version and the default network', async () => {
    const base = 'https://github.com/containerd/nerdctl/releases/download/v2.0.4';
    const tgz = await upstream.tar(`${base}/nerdctl-2.0.4-linux-arm64.tar.gz`, 'gz', { nerdctl: elf('arm64', 'nerdctl') });
    await upstream.addSum(`${base}/SHA256SUMS`, 'nerdctl-2.0.4-linux-arm64.tar.gz', tgz);
    const cniUrl = 'https://github.com/containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-arm64-v1.6.2.tgz';
    const cni = await upstream.tar(cniUrl, 'gz', { bridge: elf('arm64', 'bridge'), portmap: elf('arm64', 'portmap') }, ['.']);
    await upstream.addSum(`${cniUrl}.sha256`, 'cni-plugins-linux-arm64-v1.6.2.tgz', cni);
    const result = await build('nerdctl', 'v2.0.4', { 'with-cni': 'v1.6.2' }, 'arm64');
    await verifyImage(result.path, 'nerdctl', 'arm64', {
      version: 'v2.0.4', os: '_any', reload: false,
      files: { 'usr/bin/nerdctl': 0o755, 'usr/libexec/cni/bridge': 0o755, 'usr/libexec/cni/portmap': 0o755, 'usr/share/nerdctl/etc/nerdctl.toml': 0o644, 'usr/share/nerdctl/etc/cni/net.d/10-containerd-net.conflist': 0o644 },
      contents: { 'usr/share/nerdctl/nerdctl-cni-version': 'v1.6.2\n', 'usr/lib/tmpfiles.d/10-nerdctl-etc.conf': 'C+ /etc/nerdctl - - - - /usr/share/nerdctl/etc\n' },
    });
  });
});

describe('user recipes (--recipes-dir)', () => {
  it('a copy of a built-in (--show) under a new name builds from its own upstream', async () => {
    const shown = await runCli(['sysext', 'recipes', '--show', 'nebula']);
    expect(shown.exitCode, shown.stderr).toBe(0);
    const dir = path.join(work, 'user-recipes');
    await mkdir(dir, { recursive: true });
    // The team's fork of nebula, published on its own server.
    const text = shown.stdout.replace('name: nebula', 'name: teamnet').replaceAll('https://github.com/slackhq/nebula/releases/download', 'https://dl.example.internal/teamnet');
    expect(text).not.toBe(shown.stdout);
    await writeFile(path.join(dir, 'teamnet.yaml'), text);
    const base = 'https://dl.example.internal/teamnet/v2.0.0';
    const nebula = elf('x86-64', 'team nebula');
    const tgz = await upstream.tar(`${base}/nebula-linux-amd64.tar.gz`, 'gz', { nebula, 'nebula-cert': elf('x86-64', 'team cert') });
    await upstream.addSum(`${base}/SHASUM256.txt`, 'nebula-linux-amd64.tar.gz', tgz);

    const out = path.join(work, 'out-user');
    const built = await runCli(['sysext', 'build', 'teamnet', 'v2.0.0', '--recipes-dir', dir, '--mirror', server.url, '--output', out, '--no-cache', '--json']);
    expect(built.exitCode, built.stderr).toBe(0);
    const result = JSON.parse(built.stdout) as { path: string; inputs: Array<{ url: string; sha256: string; verified: boolean }> };
    expect(schemaErrors('sysext-build', result)).toEqual([]);
    expect(result.inputs).toEqual([{ url: `${base}/nebula-linux-amd64.tar.gz`, sha256: sha256(tgz), verified: true }]);
    await verifyImage(result.path, 'teamnet', 'x86-64', {
      version: 'v2.0.0', os: '_any', reload: true,
      files: { 'usr/bin/nebula': 0o755, 'usr/lib/systemd/system/nebula.service': 0o644 }, contents: { 'usr/bin/nebula': nebula },
      upholds: [['multi-user.target', 'nebula.service']],
    });
    // Listed with the built-ins.
    const listed = await runCli(['sysext', 'recipes', '--recipes-dir', dir, '--json']);
    const catalogue = JSON.parse(listed.stdout) as { recipes: Array<{ name: string; file: string }> };
    expect(schemaErrors('sysext-recipes', catalogue)).toEqual([]);
    expect(catalogue.recipes.find((r) => r.name === 'teamnet')?.file).toBe(path.join(dir, 'teamnet.yaml'));
  });

  it('a user recipe named like a built-in replaces it, with a notice', async () => {
    const dir = path.join(work, 'override');
    await mkdir(dir, { recursive: true });
    const own = (await readFile(getRecipe('opkssh').file!, 'utf8')).replace(/^description: .*$/m, 'description: our own opkssh build');
    await writeFile(path.join(dir, 'opkssh.yaml'), own);
    const listed = await runCli(['sysext', 'recipes', '--recipes-dir', dir]);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stderr).toBe(`flatbake: notice: recipe opkssh from ${path.join(dir, 'opkssh.yaml')} overrides the recipe from ${getRecipe('opkssh').file}`);
    expect(listed.stdout).toMatch(/^opkssh +our own opkssh build/m);
  });

  it('an invalid user recipe fails the command with file:line and changes nothing', async () => {
    const dir = path.join(work, 'invalid');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'demo.yaml'), VALID.replace('reload: false', 'reload: maybe'));
    const out = path.join(work, 'out-invalid');
    const r = await runCli(['sysext', 'build', 'demo', 'v1', '--recipes-dir', dir, '--output', out]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`flatbake: error: invalid recipe file ${path.join(dir, 'demo.yaml')}:5: reload must be boolean\nflatbake: hint: see \`flatbake sysext recipe new <name>\` for a commented example, and schemas/recipe.schema.json`);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });

  it('recipe new writes a skeleton that lists and refuses to overwrite', async () => {
    const dir = path.join(work, 'new');
    const first = await runCli(['sysext', 'recipe', 'new', 'my-tool', '--output', dir]);
    expect(first.exitCode, first.stderr).toBe(0);
    // execa drops the final newline of what it collects.
    expect(first.stdout).toBe(path.join(dir, 'my-tool.yaml'));
    const again = await runCli(['sysext', 'recipe', 'new', 'my-tool', '--output', dir]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/^flatbake: error: .*my-tool\.yaml exists\nflatbake: hint: pass --force/);
    const bad = await runCli(['sysext', 'recipe', 'new', 'My.Tool', '--output', dir]);
    expect(bad.stderr).toMatch(/^flatbake: error: "My.Tool" is not a valid recipe name\nflatbake: hint: /);
    const listed = await runCli(['sysext', 'recipes', '--recipes-dir', dir, '--json']);
    expect((JSON.parse(listed.stdout) as { recipes: Array<{ name: string }> }).recipes.map((r) => r.name)).toContain('my-tool');
  });
});
