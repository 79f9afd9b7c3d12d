/**
 * A sysext with a usr/sbin directory shadows Flatcar's /usr/sbin -> /usr/bin symlink (Flatcar >= 4152,
 * flatcar/sysext-bakery#131). `sysext check` reports it, `sysext create` refuses the tree, and the
 * bake refuses such an image before touching anything.
 */
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSysextImage } from '../../src/bake/local-sysexts.js';
import { InputError } from '../../src/errors.js';
import { checkSysext } from '../../src/sysext/check.js';
import { createSysext } from '../../src/sysext/create.js';
import { run } from '../../src/util/exec.js';
import { elf } from './upstream.js';

let work: string;

/** A tree for sysext NAME holding usr/bin/hello, plus EXTRA (a function that adds to it). */
async function tree(label: string, extra: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(work, label);
  await mkdir(path.join(dir, 'usr/bin'), { recursive: true });
  await mkdir(path.join(dir, 'usr/lib/extension-release.d'), { recursive: true });
  await writeFile(path.join(dir, 'usr/lib/extension-release.d/extension-release.hello'), 'ID=_any\nARCHITECTURE=x86-64\n');
  await writeFile(path.join(dir, 'usr/bin/hello'), elf('x86-64', 'hello'), { mode: 0o755 });
  await extra(dir);
  return dir;
}

/** Squash a tree with mksquashfs itself: an image built elsewhere, as a user would bring one. */
async function squash(dir: string, file: string): Promise<string> {
  await run('mksquashfs', [dir, file, '-noappend', '-quiet', '-no-progress', '-all-root']);
  return file;
}

const withSbinDir = async (dir: string) => {
  await mkdir(path.join(dir, 'usr/sbin'), { recursive: true });
  await writeFile(path.join(dir, 'usr/sbin/hello-daemon'), elf('x86-64', 'daemon'), { mode: 0o755 });
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-usr-sbin-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('usr/sbin in a sysext', () => {
  it('sysext check reports a usr/sbin directory as an error', async () => {
    const file = await squash(await tree('check-bad', withSbinDir), path.join(work, 'hello.raw'));
    const result = await checkSysext(file);
    expect(result.ok).toBe(false);
    const sbin = result.findings.filter((f) => f.rule === 'usr-sbin');
    expect(sbin).toHaveLength(1);
    expect(sbin[0]!.severity).toBe('error');
    expect(sbin[0]!.message).toMatch(/shadows Flatcar's \/usr\/sbin -> \/usr\/bin symlink.*put the programs in usr\/bin/);
  });

  it('sysext check accepts a usr/sbin symlink to bin (what the base OS has)', async () => {
    const file = await squash(await tree('check-link', (d) => symlink('bin', path.join(d, 'usr/sbin'))), path.join(work, 'link-hello.raw'));
    const result = await checkSysext(file);
    expect(result.findings.filter((f) => f.rule === 'usr-sbin')).toEqual([]);
  });

  it('sysext create refuses a tree with usr/sbin and writes nothing', async () => {
    const dir = await tree('create-bad', withSbinDir);
    await rm(path.join(dir, 'usr/lib/extension-release.d'), { recursive: true });
    const out = path.join(work, 'create-out');
    const error = await createSysext({ sourceDir: dir, name: 'hello', outputDir: out, arch: 'x86-64', sourceDateEpoch: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toMatch(/has a usr\/sbin directory, which shadows/);
    expect((error as InputError).hint).toMatch(/usr\/bin/);
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });

  it('the bake refuses a sysext image with usr/sbin', async () => {
    const file = await squash(await tree('bake-bad', withSbinDir), path.join(work, 'bake-hello.raw'));
    const error = await checkSysextImage(file, 'hello').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toMatch(/^sysext hello \(bake-hello\.raw\) has a usr\/sbin directory/);
    const good = await squash(await tree('bake-good', async () => {}), path.join(work, 'bake-good.raw'));
    await expect(checkSysextImage(good, 'hello')).resolves.toMatchObject({ kind: 'squashfs' });
  });
});
