import { execFileSync } from 'node:child_process';
import { chown, cp, lstat, mkdir, readdir, readFile, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../../src/errors.js';
import { run } from '../../src/util/exec.js';
import {
  createSysext,
  REPRODUCIBLE_FORMATS,
  SYSEXT_FORMATS,
  sourceDateEpoch,
  squashfsArgs,
  stagingTarArgs,
  type SysextFormat,
} from '../../src/sysext/create.js';
import { EM_AARCH64, EM_X86_64 } from '../../src/sysext/elf.js';
import { cleanupAll, elfHeader, RELEASE, tempDir, writeTree } from './helpers.js';

const EPOCH = 1700000000;
let source: string;

beforeAll(async () => {
  source = await writeTree(await tempDir(), {
    'usr/bin/hello': elfHeader(EM_X86_64),
    'usr/bin/hi': { symlink: 'hello' },
    'usr/lib/hello/owned-by-1000': 'data\n',
    'usr/lib/systemd/system/hello.service': '[Service]\nExecStart=/usr/bin/hello\n',
    'usr/lib/systemd/system/multi-user.target.d/10-hello.conf': '[Unit]\nUpholds=hello.service\n',
    'opt/hello/README': 'hello\n',
  });
  await chown(path.join(source, 'usr/lib/hello/owned-by-1000'), 1000, 1000);
});
afterAll(cleanupAll);

const EXPECTED_RELEASE = 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n';

/** What the format's own tools say about the image: release text and the owner of every entry. */
async function readBack(format: SysextFormat, image: string, name: string): Promise<{ release: string; owners: string[] }> {
  const rel = RELEASE(name);
  switch (format) {
    case 'squashfs': {
      const release = (await run('unsquashfs', ['-cat', image, rel])).stdout;
      const listing = (await run('unsquashfs', ['-lln', image])).stdout.trim().split('\n');
      return { release, owners: listing.map((l) => l.split(/\s+/)[1]!) };
    }
    case 'erofs': {
      const out = path.join(await tempDir(), 'x');
      await run('fsck.erofs', [`--extract=${out}`, '--preserve', image]);
      const owners: string[] = [];
      for (const p of ['usr', 'usr/bin/hello', 'usr/bin/hi', 'usr/lib/hello/owned-by-1000', 'opt/hello/README']) {
        const st = await lstat(path.join(out, p));
        owners.push(`${st.uid}/${st.gid}`);
      }
      const dump = (await run('dump.erofs', ['--path=/usr/lib/hello/owned-by-1000', image])).stdout;
      owners.push(/Uid: (\d+)\s+Gid: (\d+)/.exec(dump)!.slice(1).join('/'));
      return { release: await readFile(path.join(out, rel), 'utf8'), owners };
    }
    case 'ext4': {
      const release = (await run('debugfs', ['-R', `cat /${rel}`, image])).stdout;
      const ls = (await run('debugfs', ['-R', 'ls -p /usr/lib/hello', image])).stdout;
      const owners = [...ls.matchAll(/^\/\d+\/\d+\/(\d+)\/(\d+)\//gm)].map((m) => `${m[1]}/${m[2]}`);
      return { release, owners };
    }
    case 'btrfs': {
      const out = await tempDir();
      await run('btrfs', ['restore', '-m', '-S', image, out]);
      const owners: string[] = [];
      for (const p of ['usr', 'usr/bin/hello', 'usr/lib/hello/owned-by-1000', 'opt/hello/README']) {
        const st = await lstat(path.join(out, p));
        owners.push(`${st.uid}/${st.gid}`);
      }
      return { release: await readFile(path.join(out, rel), 'utf8'), owners };
    }
  }
}

describe.each(SYSEXT_FORMATS)('createSysext --format %s', (format) => {
  it('writes NAME.raw with the extension-release and everything owned by root, read back with the format tools', async () => {
    const out = await tempDir();
    const name = `hello-${format}`;
    const result = await createSysext({ sourceDir: source, name, outputDir: out, format, os: 'flatcar', arch: 'amd64', reload: true, sourceDateEpoch: EPOCH });
    expect(result.path).toBe(path.join(out, `${name}.raw`));
    expect(result.format).toBe(format);
    expect(result.size).toBe((await stat(result.path)).size);
    expect(result.sha256).toBe(execFileSync('sha256sum', [result.path]).toString().split(' ')[0]);
    expect(await readdir(out)).toEqual([`${name}.raw`]); // no temp file left
    const { release, owners } = await readBack(format, result.path, name);
    expect(release).toBe(EXPECTED_RELEASE);
    expect(owners.length).toBeGreaterThan(0);
    expect(owners.every((o) => o === '0/0')).toBe(true);
  });
});

describe('reproducibility', () => {
  it.each(REPRODUCIBLE_FORMATS)('%s: same inputs and SOURCE_DATE_EPOCH give identical bytes from different staging paths and source copies', async (format) => {
    // The second source is a copy with other mtimes, at another path.
    const copy = path.join(await tempDir(), 'elsewhere');
    await cp(source, copy, { recursive: true, preserveTimestamps: false, verbatimSymlinks: true });
    await utimes(path.join(copy, 'usr/bin/hello'), 12345, 12345);
    const a = await createSysext({ sourceDir: source, name: 'repro', outputDir: await tempDir(), format, sourceDateEpoch: EPOCH });
    const b = await createSysext({ sourceDir: copy, name: 'repro', outputDir: await tempDir(), format, sourceDateEpoch: EPOCH });
    expect(b.sha256).toBe(a.sha256);
    expect(Buffer.compare(await readFile(a.path), await readFile(b.path))).toBe(0);
    const c = await createSysext({ sourceDir: source, name: 'repro', outputDir: await tempDir(), format, sourceDateEpoch: EPOCH + 1 });
    expect(c.sha256).not.toBe(a.sha256);
  });

  it('btrfs is left out: btrfs-progs cannot fix its device UUID and generation times', () => {
    expect(REPRODUCIBLE_FORMATS).not.toContain('btrfs');
  });

  it('stamps SOURCE_DATE_EPOCH as the squashfs creation time', async () => {
    const r = await createSysext({ sourceDir: source, name: 'stamp', outputDir: await tempDir(), sourceDateEpoch: EPOCH });
    expect((await run('unsquashfs', ['-mkfs-time', r.path])).stdout.trim()).toBe(String(EPOCH));
  });

  it('reads SOURCE_DATE_EPOCH from the environment, defaulting to 0', () => {
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '123' })).toBe(123);
    expect(sourceDateEpoch({})).toBe(0);
    expect(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: 'yesterday' })).toThrow(InputError);
  });
});

describe('btrfs.* xattrs', () => {
  // btrfs.* xattrs exist only on btrfs and cannot be set on the test's tmp filesystem,
  // so this checks the exclusion is requested, not that a real btrfs.* xattr is dropped.
  it('asks the staging copy (always) and mksquashfs (when it supports it) to exclude them', () => {
    expect(stagingTarArgs('create', '/src', '/t.tar')).toContain('--xattrs-exclude=btrfs.*');
    expect(stagingTarArgs('extract', '/stage', '/t.tar')).toContain('--xattrs-exclude=btrfs.*');
    const args = squashfsArgs('/stage', '/out.raw', 0, { xattrsExclude: true, reproducible: true });
    expect(args.slice(args.indexOf('-xattrs-exclude'), args.indexOf('-xattrs-exclude') + 2)).toEqual(['-xattrs-exclude', '^btrfs\\.']);
    expect(squashfsArgs('/stage', '/out.raw', 0, { xattrsExclude: false, reproducible: true })).not.toContain('-xattrs-exclude');
  });
});

describe('refusals', () => {
  it('refuses a source with top-level entries other than usr/ and opt/, naming them, and leaves the source alone', async () => {
    const src = await writeTree(await tempDir(), { 'usr/bin/x': 'x', 'etc/x.conf': 'x', 'var/lib/x': 'x' });
    const out = await tempDir();
    const err = await createSysext({ sourceDir: src, name: 'bad', outputDir: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/etc, var/);
    expect(await readdir(out)).toEqual([]);
    expect((await readdir(path.join(src, 'usr'))).sort()).toEqual(['bin']);
  });

  it.each(['../x', 'a/b', '-x'])('refuses the name %j before touching anything', async (name) => {
    const out = await tempDir();
    await expect(createSysext({ sourceDir: source, name, outputDir: out })).rejects.toThrow(InputError);
    expect(await readdir(out)).toEqual([]);
  });

  it('refuses an existing output unless force', async () => {
    const out = await tempDir();
    const first = await createSysext({ sourceDir: source, name: 'twice', outputDir: out, sourceDateEpoch: 1 });
    await expect(createSysext({ sourceDir: source, name: 'twice', outputDir: out, sourceDateEpoch: 2 })).rejects.toThrow(/exists/);
    const forced = await createSysext({ sourceDir: source, name: 'twice', outputDir: out, sourceDateEpoch: 2, force: true });
    expect(forced.sha256).not.toBe(first.sha256);
    expect(await readdir(out)).toEqual(['twice.raw']);
  });

  it('never modifies the source tree', async () => {
    await createSysext({ sourceDir: source, name: 'pristine', outputDir: await tempDir() });
    await expect(lstat(path.join(source, 'usr/lib/extension-release.d'))).rejects.toThrow();
    expect((await stat(path.join(source, 'usr/lib/hello/owned-by-1000'))).uid).toBe(1000);
  });

  it('fails and removes the image when the built image has check errors', async () => {
    const src = await writeTree(await tempDir(), {
      'usr/lib/systemd/system/broken.service': '[Service]\nExecStart=/opt/broken/bin/missing\n',
    });
    const out = await tempDir();
    await expect(createSysext({ sourceDir: src, name: 'broken', outputDir: out })).rejects.toThrow(/exec-path.*\/opt\/broken\/bin\/missing/s);
    expect(await readdir(out)).toEqual([]);
  });
});

describe('architecture', () => {
  it('maps aarch64 to ARCHITECTURE=arm64 and accepts arm64 binaries', async () => {
    const src = await writeTree(await tempDir(), { 'usr/bin/tool': elfHeader(EM_AARCH64) });
    const r = await createSysext({ sourceDir: src, name: 'armtool', outputDir: await tempDir(), arch: 'aarch64' });
    expect((await run('unsquashfs', ['-cat', r.path, RELEASE('armtool')])).stdout).toBe('ID=_any\nARCHITECTURE=arm64\n');
  });

  it('refuses to build an arm64 image holding an x86-64 binary', async () => {
    const src = await writeTree(await tempDir(), { 'usr/bin/tool': elfHeader(EM_X86_64) });
    await expect(createSysext({ sourceDir: src, name: 'mixed', outputDir: await tempDir(), arch: 'arm64' })).rejects.toThrow(/elf-arch/);
  });

  it('refuses unknown architectures', async () => {
    await expect(createSysext({ sourceDir: source, name: 'x', outputDir: await tempDir(), arch: 'mips' })).rejects.toThrow(UsageError);
  });
});

describe('staging', () => {
  it('keeps modes and symlinks of the source', async () => {
    const src = await writeTree(await tempDir(), { 'usr/bin/tool': '#!/bin/sh\n', 'usr/lib/link': { symlink: '../bin/tool' } });
    await mkdir(path.join(src, 'opt/private'), { mode: 0o700, recursive: true });
    const r = await createSysext({ sourceDir: src, name: 'modes', outputDir: await tempDir() });
    const listing = (await run('unsquashfs', ['-lln', r.path])).stdout;
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* squashfs-root\/usr\/bin\/tool$/m);
    expect(listing).toMatch(/^drwx------ 0\/0 .* squashfs-root\/opt\/private$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* squashfs-root\/usr\/lib\/link -> \.\.\/bin\/tool$/m);
  });
});
