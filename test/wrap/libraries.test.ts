import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/util/exec.js';
import { EM_X86_64 } from '../../src/sysext/elf.js';
import { readElf, readLdSoConfDirs, resolveLibraries, systemLibraryDirs } from '../../src/wrap/libraries.js';
import { resolveInRoot, RootPathLoopError } from '../../src/wrap/root-path.js';
import { elfHeader } from '../sysext/helpers.js';
import { buildJqRootfs, cleanupAll, MULTIARCH, tempDir } from './fixtures.js';

afterAll(cleanupAll);

describe('resolveInRoot', () => {
  it('follows absolute symlinks inside the root, never on the host', async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'usr/lib/x'), { recursive: true });
    await writeFile(path.join(root, 'usr/lib/x/file'), 'x');
    await symlink('usr/lib', path.join(root, 'lib'));
    await symlink('/lib/x/file', path.join(root, 'abs'));
    await symlink('../../../../../../usr/lib/x', path.join(root, 'usr/lib/up'));
    // Exists on the host, not in the root: must not resolve.
    await symlink('/etc/passwd', path.join(root, 'host'));
    expect(await resolveInRoot(root, '/abs')).toBe('/usr/lib/x/file');
    expect(await resolveInRoot(root, '/usr/lib/up/file')).toBe('/usr/lib/x/file');
    expect(await resolveInRoot(root, '/lib/./x/../x/file')).toBe('/usr/lib/x/file');
    expect(await resolveInRoot(root, '/../../usr/lib/x/file')).toBe('/usr/lib/x/file');
    expect(await resolveInRoot(root, '/host')).toBeUndefined();
    expect(await resolveInRoot(root, '/usr/lib/x/file/more')).toBeUndefined();
    expect(await resolveInRoot(root, '/')).toBe('/');
  });

  it('stops symlink loops', async () => {
    const root = await tempDir();
    await symlink('b', path.join(root, 'a'));
    await symlink('/a', path.join(root, 'b'));
    await expect(resolveInRoot(root, '/a')).rejects.toThrow(RootPathLoopError);
  });
});

describe('ld.so.conf in a rootfs', () => {
  it('expands include globs in order, relative includes, and survives an include loop', async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'etc/ld.so.conf.d'), { recursive: true });
    await writeFile(path.join(root, 'etc/ld.so.conf'), '/first\ninclude ld.so.conf.d/*.conf\ninclude /etc/loop.conf\n/last\n');
    await writeFile(path.join(root, 'etc/ld.so.conf.d/b.conf'), '/from-b\n');
    await writeFile(path.join(root, 'etc/ld.so.conf.d/a.conf'), '/from-a\n');
    await writeFile(path.join(root, 'etc/ld.so.conf.d/.hidden.conf'), '/hidden\n');
    await writeFile(path.join(root, 'etc/ld.so.conf.d/c.conf.disabled'), '/disabled\n');
    await writeFile(path.join(root, 'etc/loop.conf'), '/loop\ninclude /etc/loop.conf\n');
    const dirs = await readLdSoConfDirs(root);
    expect(dirs.slice(0, 4)).toEqual(['/first', '/from-a', '/from-b', '/loop']);
    expect(dirs.at(-1)).toBe('/last');
    expect(dirs).not.toContain('/hidden');
    expect(dirs).not.toContain('/disabled');
  });

  it('uses musl\'s path file instead of ld.so.conf for a musl loader', async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'etc'), { recursive: true });
    await writeFile(path.join(root, 'etc/ld-musl-x86_64.path'), '/lib:/usr/lib\n/opt/musl\n');
    await writeFile(path.join(root, 'etc/ld.so.conf'), '/glibc-only\n');
    const elf = { bits: 64 as const, littleEndian: true, machine: EM_X86_64, arch: 'x86-64' };
    expect(await systemLibraryDirs(root, elf, '/lib/ld-musl-x86_64.so.1')).toEqual(['/lib', '/usr/lib', '/opt/musl']);
    expect((await systemLibraryDirs(root, elf, '/lib64/ld-linux-x86-64.so.2'))[0]).toBe('/glibc-only');
  });
});

describe('resolveLibraries follows the loader\'s rules', () => {
  async function jqRoot(): Promise<{ root: string; jq: { path: string; info: NonNullable<Awaited<ReturnType<typeof readElf>>> } }> {
    const root = await buildJqRootfs(await tempDir());
    return { root, jq: { path: '/usr/bin/jq', info: (await readElf(root, '/usr/bin/jq'))! } };
  }

  it('finds the whole closure, skipping a library of the wrong ELF class met first', async () => {
    const { root, jq } = await jqRoot();
    // /usr/local/lib/x86_64-linux-gnu is searched first (ld.so.conf.d); a 32-bit libjq there must be skipped.
    await mkdir(path.join(root, 'usr/local/lib/x86_64-linux-gnu'), { recursive: true });
    const elf32 = elfHeader(EM_X86_64);
    elf32[4] = 1;
    await writeFile(path.join(root, 'usr/local/lib/x86_64-linux-gnu/libjq.so.1'), elf32);
    const { libraries, missing } = await resolveLibraries(root, [jq]);
    expect(missing).toEqual([]);
    const byName = Object.fromEntries(libraries.map((l) => [l.name, l.foundAt]));
    expect(byName['libjq.so.1']).toBe('/lib/x86_64-linux-gnu/libjq.so.1');
    expect(Object.keys(byName).sort()).toEqual(['ld-linux-x86-64.so.2', 'libc.so.6', 'libjq.so.1', 'libm.so.6', 'libonig.so.5']);
    expect(libraries.find((l) => l.name === 'libonig.so.5')?.neededBy).toBe('/usr/lib/x86_64-linux-gnu/libjq.so.1');
  });

  it('DT_RUNPATH with $ORIGIN serves only the binary\'s direct dependencies', async () => {
    const { root } = await jqRoot();
    await mkdir(path.join(root, 'usr/lib/jq-private'));
    await rename(path.join(root, MULTIARCH, 'libonig.so.5'), path.join(root, 'usr/lib/jq-private/libonig.so.5'));
    await run('patchelf', ['--set-rpath', '$ORIGIN/../lib/jq-private', path.join(root, 'usr/bin/jq')]);
    const info = (await readElf(root, '/usr/bin/jq'))!;
    expect(info.runpath).toEqual(['$ORIGIN/../lib/jq-private']);
    // libonig is needed by libjq, which does not inherit jq's RUNPATH: glibc would not find it either.
    const { missing } = await resolveLibraries(root, [{ path: '/usr/bin/jq', info }]);
    expect(missing.map((m) => m.name)).toEqual(['libonig.so.5']);
    expect(missing[0]!.searched).not.toContain('/usr/bin/../lib/jq-private');
  });

  it('DT_RPATH of the executable is inherited by its libraries', async () => {
    const { root } = await jqRoot();
    await mkdir(path.join(root, 'usr/lib/jq-private'));
    await rename(path.join(root, MULTIARCH, 'libonig.so.5'), path.join(root, 'usr/lib/jq-private/libonig.so.5'));
    await run('patchelf', ['--force-rpath', '--set-rpath', '$ORIGIN/../lib/jq-private', path.join(root, 'usr/bin/jq')]);
    const info = (await readElf(root, '/usr/bin/jq'))!;
    expect(info.rpath).toEqual(['$ORIGIN/../lib/jq-private']);
    const { libraries, missing } = await resolveLibraries(root, [{ path: '/usr/bin/jq', info }]);
    expect(missing).toEqual([]);
    expect(libraries.find((l) => l.name === 'libonig.so.5')?.foundAt).toBe('/usr/lib/jq-private/libonig.so.5');
  });

  it('resolves extra names like DT_NEEDED and reports the unknown ones', async () => {
    const { root, jq } = await jqRoot();
    const { libraries, missing } = await resolveLibraries(root, [jq], ['libgcc_s.so.1', 'libnope.so.1', '/usr/lib/x86_64-linux-gnu/libm.so.6']);
    expect(libraries.find((l) => l.name === 'libgcc_s.so.1')?.neededBy).toBe('--extra-libs');
    // Already loaded under its SONAME: not a second copy.
    expect(libraries.filter((l) => l.realPath.endsWith('/libm.so.6'))).toHaveLength(1);
    expect(missing).toEqual([expect.objectContaining({ name: 'libnope.so.1', neededBy: '--extra-libs' })]);
  });
});
