/** The recipe framework's pure parts and its archive handling. */
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, MissingToolError, VerificationError } from '../../src/errors.js';
import { extractArchive, parseAr, unescapeTarName, unsafeMemberReason } from '../../src/recipes/archive.js';
import { findChecksum } from '../../src/recipes/checksums.js';
import { resolveDestination } from '../../src/recipes/context.js';
import { getRecipe, listRecipes, parseRecipeFileName, recipeCacheKey, recipeFileName, type Recipe } from '../../src/recipes/index.js';
import { validateRequest } from '../../src/recipes/recipe.js';
import { findToolchain, missingBuildDependency, staticElfProblem } from '../../src/recipes/toolchain.js';
import { arArchive, elf, sha256 } from './upstream.js';
import { normalizeArch } from '../../src/arch.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'flatbake-recipe-unit-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('registry', () => {
  it('lists the recipes (TypeScript and recipe files), sorted, each offering x86-64 and arm64', () => {
    const names = listRecipes().map((r) => r.name);
    expect(names).toEqual([
      'bird', 'btop', 'chrony', 'cilium', 'cloud-hypervisor', 'coder', 'consul', 'containerd', 'crio', 'dataplaneapi', 'docker', 'docker-buildx',
      'docker-compose', 'falco', 'haproxy', 'ig', 'k3s', 'kata-containers', 'keepalived', 'kubernetes', 'llamaedge', 'nebula', 'nerdctl',
      'nomad', 'nvidia-runtime', 'ollama', 'opkssh', 'rke2', 'tailscale', 'tilde', 'vault', 'wasmcloud', 'wasmedge', 'wasmtime',
    ]);
    for (const r of listRecipes()) {
      expect(Object.keys(r.arches).sort(), r.name).toEqual(['arm64', 'x86-64']);
      expect(r.versionPattern.test(r.versionExample), `${r.name} example ${r.versionExample}`).toBe(true);
      expect(['_any', 'flatcar']).toContain(r.os);
    }
  });

  it('finds recipes by name and by the bakery\'s other spelling', () => {
    expect(getRecipe('docker_compose').name).toBe('docker-compose');
    expect(getRecipe('nvidia_runtime').name).toBe('nvidia-runtime');
  });

  it('refuses an unknown recipe, listing the known ones', () => {
    let error: unknown;
    try {
      getRecipe('podman');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain('unknown recipe "podman"');
    expect((error as InputError).hint).toContain('kubernetes');
    expect((error as InputError).hint).toContain('wasmtime');
  });
});

describe('validateRequest', () => {
  const docker = getRecipe('docker');
  it('maps architecture aliases to the upstream name and fills option defaults', () => {
    expect(validateRequest(docker, { version: '27.3.1', arch: 'aarch64' }, normalizeArch)).toEqual({ arch: 'arm64', upstreamArch: 'aarch64', options: {} });
    expect(validateRequest(getRecipe('llamaedge'), { version: '0.14.16', arch: 'amd64' }, normalizeArch).options).toEqual({ 'wasmedge-version': '0.14.1' });
  });
  it('refuses versions that do not look like the upstream\'s, naming an example', () => {
    expect(() => validateRequest(getRecipe('kubernetes'), { version: '1.31.1', arch: 'x86-64' }, normalizeArch)).toThrow(/not a kubernetes version/);
    expect(() => validateRequest(getRecipe('k3s'), { version: 'v1.31.1', arch: 'x86-64' }, normalizeArch)).toThrow(InputError);
    expect(() => validateRequest(docker, { version: '27.3.1; rm -rf /', arch: 'x86-64' }, normalizeArch)).toThrow(InputError);
  });
  it('refuses unknown variants and options, and bad option values', () => {
    expect(() => validateRequest(docker, { version: '27.3.1', arch: 'x86-64', variant: 'only-runc' }, normalizeArch)).toThrow(expect.objectContaining({ hint: 'its variants: only-docker, only-containerd' }));
    expect(() => validateRequest(docker, { version: '27.3.1', arch: 'x86-64', options: { x: '1' } }, normalizeArch)).toThrow(/has no option "x"/);
    expect(() => validateRequest(getRecipe('kubernetes'), { version: 'v1.31.1', arch: 'x86-64', options: { 'cni-version': 'latest' } }, normalizeArch)).toThrow(/cni-version/);
  });
  it('refuses an architecture the recipe does not offer, and unknown architectures', () => {
    const onlyX86: Recipe = { ...docker, name: 'x86only', arches: { 'x86-64': 'amd64' } };
    expect(() => validateRequest(onlyX86, { version: '27.3.1', arch: 'arm64' }, normalizeArch)).toThrow(/does not offer arm64/);
    expect(() => validateRequest(docker, { version: '27.3.1', arch: 'riscv64' }, normalizeArch)).toThrow(/unknown architecture/);
  });
});

describe('parseRecipeFileName', () => {
  it.each([
    ['kubernetes-v1.31.1-x86-64.raw', { recipe: 'kubernetes', version: 'v1.31.1', arch: 'x86-64' }],
    ['k3s-v1.31.1+k3s1-x86-64.raw', { recipe: 'k3s', version: 'v1.31.1+k3s1', arch: 'x86-64' }],
    ['rke2-v1.31.1+rke2r1-arm64.raw', { recipe: 'rke2', version: 'v1.31.1+rke2r1', arch: 'arm64' }],
    ['nvidia-runtime-v1.16.2-arm64.raw', { recipe: 'nvidia-runtime', version: 'v1.16.2', arch: 'arm64' }],
    ['docker-compose-2.29.7-x86-64.raw', { recipe: 'docker-compose', version: '2.29.7', arch: 'x86-64' }],
    ['docker_compose-2.29.7-x86-64.raw', { recipe: 'docker_compose', version: '2.29.7', arch: 'x86-64' }],
    ['wasmedge-0.14.0-rc.1-arm64.raw', { recipe: 'wasmedge', version: '0.14.0-rc.1', arch: 'arm64' }],
    ['wasm3-0.5.0-x86-64.raw', { recipe: 'wasm3', version: '0.5.0', arch: 'x86-64' }],
  ])('%s', (name, parsed) => {
    expect(parseRecipeFileName(name)).toEqual(parsed);
    expect(recipeFileName(parsed.recipe, parsed.version, parsed.arch as 'x86-64' | 'arm64')).toBe(name);
  });
  it.each(['kubernetes.raw', 'kubernetes-v1.31.1.raw', 'kubernetes-v1.31.1-amd64.raw', 'kubernetes-v1.31.1-x86-64.img', '-1.0-x86-64.raw', 'docker-latest-x86-64.raw', 'x-1.0/../../a-x86-64.raw'])('not a recipe file: %s', (name) => {
    expect(parseRecipeFileName(name)).toBeUndefined();
  });
});

describe('recipeCacheKey', () => {
  it('changes with version, arch, variant, options and the recipe module\'s content', async () => {
    const a = path.join(tmp, 'recipe-a.js');
    const b = path.join(tmp, 'recipe-b.js');
    const c = path.join(tmp, 'recipe-c.js');
    await writeFile(a, 'export const x = 1;\n');
    await writeFile(b, 'export const x = 1;\n');
    await writeFile(c, 'export const x = 2;\n');
    const docker = getRecipe('docker');
    const at = (file: string): Recipe => ({ ...docker, source: `file://${file}` });
    const key = recipeCacheKey(at(a), '27.3.1', 'x86-64');
    expect(recipeCacheKey(at(b), '27.3.1', 'x86-64')).toBe(key);
    expect(recipeCacheKey(at(c), '27.3.1', 'x86-64')).not.toBe(key);
    expect(recipeCacheKey(at(a), '27.3.2', 'x86-64')).not.toBe(key);
    expect(recipeCacheKey(at(a), '27.3.1', 'arm64')).not.toBe(key);
    expect(recipeCacheKey(at(a), '27.3.1', 'x86-64', { variant: 'only-docker' })).not.toBe(key);
    expect(recipeCacheKey(at(a), '27.3.1', 'x86-64', { options: { o: '1' } })).not.toBe(recipeCacheKey(at(a), '27.3.1', 'x86-64', { options: { o: '2' } }));
    // Option order does not matter.
    expect(recipeCacheKey(at(a), '1', 'x86-64', { options: { p: '1', q: '2' } })).toBe(recipeCacheKey(at(a), '1', 'x86-64', { options: { q: '2', p: '1' } }));
  });
});

describe('findChecksum', () => {
  const d1 = sha256('one');
  const d2 = sha256('two');
  it('reads bare digests (Kubernetes .sha256)', () => {
    expect(findChecksum(`${d1.toUpperCase()}`, 'bare', 'kubectl', 'u')).toBe(d1);
    expect(() => findChecksum('<html>404</html>', 'bare', 'kubectl', 'https://x/kubectl.sha256')).toThrow(/kubectl.sha256 does not hold a SHA-256/);
  });
  it('finds entries in sha256sum lists, in text, binary and ./ forms', () => {
    const text = `${d1}  rke2.linux-amd64.tar.gz\n${d2} *docker-compose-linux-x86_64\n${d1}  ./ollama-linux-arm64.tgz\n${d2}  dist/k3s\n`;
    expect(findChecksum(text, 'sha256sum', 'rke2.linux-amd64.tar.gz', 'u')).toBe(d1);
    expect(findChecksum(text, 'sha256sum', 'docker-compose-linux-x86_64', 'u')).toBe(d2);
    expect(findChecksum(text, 'sha256sum', 'ollama-linux-arm64.tgz', 'u')).toBe(d1);
    expect(findChecksum(text, 'sha256sum', 'k3s', 'u')).toBe(d2);
  });
  it('prefers an exact name over a base-name match, and refuses missing or conflicting entries', () => {
    expect(findChecksum(`${d1}  a/k3s\n${d2}  k3s\n`, 'sha256sum', 'k3s', 'u')).toBe(d2);
    expect(() => findChecksum(`${d1}  k3s-arm64\n`, 'sha256sum', 'k3s', 'sums.txt')).toThrow(VerificationError);
    expect(() => findChecksum(`${d1}  x/k3s\n${d2}  y/k3s\n`, 'sha256sum', 'k3s', 'sums.txt')).toThrow(/conflicting/);
  });
});

describe('resolveDestination', () => {
  it('keeps destinations under usr/ and opt/ of the root', () => {
    expect(resolveDestination('/r', 'usr/bin/x')).toBe('/r/usr/bin/x');
    expect(resolveDestination('/r', 'opt/x/y')).toBe('/r/opt/x/y');
    for (const bad of ['/usr/bin/x', 'etc/passwd', 'usr/../etc/passwd', '../x', 'usr/bin/../../etc']) expect(() => resolveDestination('/r', bad), bad).toThrow();
  });
});

describe('archives', () => {
  it('names that could escape are refused', () => {
    expect(unsafeMemberReason('docker/docker')).toBeUndefined();
    expect(unsafeMemberReason('./bridge')).toBeUndefined();
    expect(unsafeMemberReason('a/../../etc/passwd')).toMatch(/\.\./);
    expect(unsafeMemberReason('/etc/passwd')).toMatch(/absolute/);
    expect(unescapeTarName('a\\nb\\\\c\\040d')).toBe('a\nb\\c d');
  });

  async function tarWith(name: string, build: (stage: string) => Promise<string[]>, extra: string[] = []): Promise<string> {
    const stage = path.join(tmp, `${name}-stage`);
    await mkdir(stage, { recursive: true });
    const members = await build(stage);
    const out = path.join(tmp, `${name}.tar.gz`);
    await execa('tar', ['-czf', out, '-C', stage, ...extra, ...members]);
    return out;
  }

  it('refuses a tarball with a ".." member and writes nothing', async () => {
    const archive = await tarWith('dotdot', async (stage) => {
      await mkdir(path.join(stage, 'a'), { recursive: true });
      await writeFile(path.join(stage, 'evil'), 'x');
      return ['a/../evil'];
    }, ['-P']); // -P: keep the ".." that GNU tar would otherwise strip when creating
    const dest = path.join(tmp, 'dotdot-out');
    await expect(extractArchive(archive, 'tar.gz', dest)).rejects.toThrow(/member "a\/..\/evil" has ".." in path/);
    expect(await readdir(dest).catch(() => [])).toEqual([]);
  });

  it('refuses a tarball with an absolute member', async () => {
    const abs = path.join(tmp, 'abs-target');
    await writeFile(abs, 'x');
    const archive = await tarWith('absolute', async () => [abs], ['-P']);
    await expect(extractArchive(archive, 'tar.gz', path.join(tmp, 'abs-out'))).rejects.toThrow(/absolute path/);
  });

  it('does not write through a symlink that points outside', async () => {
    const outside = path.join(tmp, 'outside');
    await mkdir(outside, { recursive: true });
    const stage = path.join(tmp, 'link-stage');
    await mkdir(path.join(stage, 'sub'), { recursive: true });
    await execa('ln', ['-s', outside, path.join(stage, 'link')]);
    const archive = path.join(tmp, 'link.tar.gz');
    // Two archives appended: first the link, then a file "through" it.
    await writeFile(path.join(stage, 'sub', 'payload'), 'pwned');
    await execa('tar', ['-cf', `${archive}.tar`, '-C', stage, 'link']);
    await execa('tar', ['-rf', `${archive}.tar`, '-C', stage, '--transform', 's,^sub,link,', 'sub/payload']);
    await execa('gzip', ['-c', `${archive}.tar`], { stdout: { file: archive } });
    await extractArchive(archive, 'tar.gz', path.join(tmp, 'link-out')).catch(() => undefined);
    expect(await readdir(outside)).toEqual([]);
  });

  it('unpacks a well-formed tarball keeping modes', async () => {
    const archive = await tarWith('good', async (stage) => {
      await mkdir(path.join(stage, 'top/bin'), { recursive: true });
      await writeFile(path.join(stage, 'top/bin/tool'), elf('x86-64', 't'), { mode: 0o755 });
      return ['top'];
    });
    const dest = path.join(tmp, 'good-out');
    await extractArchive(archive, 'tgz', dest);
    const { stat } = await import('node:fs/promises');
    expect((await stat(path.join(dest, 'top/bin/tool'))).mode & 0o777).toBe(0o755);
  });

  it('parses ar archives (Debian packages) including odd-sized members', () => {
    const ar = arArchive([{ name: 'debian-binary', data: Buffer.from('2.0\n') }, { name: 'odd', data: Buffer.from('abc') }, { name: 'data.tar.xz', data: Buffer.from('xyz!') }]);
    expect(parseAr(ar).map((m) => [m.name, m.data.toString()])).toEqual([['debian-binary', '2.0\n'], ['odd', 'abc'], ['data.tar.xz', 'xyz!']]);
    expect(() => parseAr(Buffer.from('PK\x03\x04'))).toThrow(/not an ar archive/);
    expect(() => parseAr(ar.subarray(0, ar.length - 3))).toThrow(/corrupt/);
  });
});

describe('toolchain', () => {
  it('names the Debian packages of a missing cross compiler', async () => {
    const lookup = async (p: string) => (p === 'make' || p === 'gcc' ? `/usr/bin/${p}` : undefined);
    await expect(findToolchain('x86-64', lookup, 'x86-64')).resolves.toEqual({ cc: '/usr/bin/gcc', host: undefined, make: '/usr/bin/make' });
    const err = await findToolchain('arm64', lookup, 'x86-64').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingToolError);
    expect((err as MissingToolError).hint).toContain('gcc-aarch64-linux-gnu libc6-dev-arm64-cross');
    const cross = async (p: string) => (p === 'make' || p === 'aarch64-linux-gnu-gcc' ? `/usr/bin/${p}` : undefined);
    await expect(findToolchain('arm64', cross, 'x86-64')).resolves.toMatchObject({ host: 'aarch64-linux-gnu' });
    await expect(findToolchain('x86-64', async () => undefined, 'x86-64')).rejects.toThrow(/make is not installed/);
    await expect(findToolchain('x86-64', async (p) => (p === 'make' ? '/usr/bin/make' : undefined), 'x86-64')).rejects.toMatchObject({ hint: expect.stringContaining('gcc libc6-dev') });
  });

  it('tells missing build dependencies from configure and linker output', () => {
    expect(missingBuildDependency('configure: error: \n  !!! OpenSSL is not properly installed on your system. !!!')?.packages).toEqual(['libssl-dev']);
    expect(missingBuildDependency('checking for nl_socket_alloc in -lnl-3... no\nconfigure: error: libnl-3 is required')?.packages).toContain('libnl-genl-3-dev');
    expect(missingBuildDependency('/usr/bin/ld: cannot find -lssl: No such file\n/usr/bin/ld: cannot find -lcrypto')).toEqual({ what: 'static libraries libssl.a, libcrypto.a', packages: ['libssl-dev'] });
    expect(missingBuildDependency('/usr/bin/ld: cannot find -lfoo')?.packages).toEqual(['the package with libfoo.a']);
    expect(missingBuildDependency('configure: error: C compiler cannot create executables')?.packages).toEqual(['gcc', 'libc6-dev']);
    expect(missingBuildDependency('make: *** [Makefile:3: all] Error 1')).toBeUndefined();
  });

  it('recognises static ELF executables of the right architecture', async () => {
    const src = path.join(tmp, 'hello.c');
    await writeFile(src, 'int main(void){return 0;}\n');
    const gcc = await execa('gcc', ['--version'], { reject: false });
    expect(staticElfProblem(Buffer.from('#!/bin/sh\n'.padEnd(80)), 'x86-64')).toBe('not an ELF file');
    expect(staticElfProblem(elf('arm64', 'x').subarray(0, 64), 'x86-64')).toMatch(/not x86-64/);
    if (gcc.exitCode !== 0) return; // the header cases above still ran
    const { readFile } = await import('node:fs/promises');
    await execa('gcc', ['-static', '-o', path.join(tmp, 'static'), src]);
    await execa('gcc', ['-o', path.join(tmp, 'dynamic'), src]);
    expect(staticElfProblem(await readFile(path.join(tmp, 'static')), 'x86-64')).toBeUndefined();
    expect(staticElfProblem(await readFile(path.join(tmp, 'dynamic')), 'x86-64')).toMatch(/dynamically linked/);
  });
});
