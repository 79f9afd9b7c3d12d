import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseSysextArgs } from '../../src/bake/inputs.js';
import { readOsReleaseFromUsrBtrfs, readOsReleaseInUsrTree } from '../../src/image/os-release.js';
import { readExtensionReleaseFields, sysextIncompatibility, type HostRelease } from '../../src/sysext/compat.js';
import { cleanupAll, RELEASE, squash, tempDir, writeTree } from './helpers.js';

/** A Flatcar 4459.2.1 x86-64 image's /usr/lib/os-release fields (set_lsb_release writes SYSEXT_LEVEL=1.0). */
const FLATCAR: HostRelease = { ID: 'flatcar', VERSION_ID: '4459.2.1', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'x86-64' };

afterAll(cleanupAll);

describe('sysext compatibility, as systemd-sysext decides it', () => {
  it('merges what the bakery ships: ID=_any, or ID=flatcar with SYSEXT_LEVEL=1.0', () => {
    // flatcar/sysext-bakery writes `ID=_any` (or ID=flatcar + SYSEXT_LEVEL=1.0) and ARCHITECTURE=x86-64.
    expect(sysextIncompatibility({ ID: '_any', ARCHITECTURE: 'x86-64' }, FLATCAR)).toBeUndefined();
    expect(sysextIncompatibility({ ID: 'flatcar', SYSEXT_LEVEL: '1.0' }, FLATCAR)).toBeUndefined();
    expect(sysextIncompatibility({ ID: 'flatcar', VERSION_ID: '4459.2.1', ARCHITECTURE: '_any' }, FLATCAR)).toBeUndefined();
  });

  it('refuses another OS, another architecture, level or version, naming the field', () => {
    expect(sysextIncompatibility({ ID: 'fedora', SYSEXT_LEVEL: '1.0' }, FLATCAR)).toMatch(/^ID=fedora, but the image is ID=flatcar/);
    expect(sysextIncompatibility({ ID: '_any', ARCHITECTURE: 'arm64' }, FLATCAR)).toMatch(/^ARCHITECTURE=arm64, but the image is x86-64/);
    expect(sysextIncompatibility({ ID: 'flatcar', SYSEXT_LEVEL: '2.0' }, FLATCAR)).toMatch(/^SYSEXT_LEVEL=2\.0/);
    expect(sysextIncompatibility({ ID: 'flatcar', VERSION_ID: '4081.3.0' }, FLATCAR)).toMatch(/^VERSION_ID=4081\.3\.0/);
    expect(sysextIncompatibility({ ID: 'flatcar' }, FLATCAR)).toMatch(/neither SYSEXT_LEVEL= nor VERSION_ID=/);
    expect(sysextIncompatibility({ SYSEXT_LEVEL: '1.0' }, FLATCAR)).toBe('ID= is missing');
    expect(sysextIncompatibility({ ID: '_any', SYSEXT_SCOPE: 'portable' }, FLATCAR)).toMatch(/SYSEXT_SCOPE=portable/);
  });

  it('accepts an ID the host names in ID_LIKE, and a VERSION_ID when the host has no SYSEXT_LEVEL', () => {
    const host: HostRelease = { ID: 'flatcar-custom', ID_LIKE: 'flatcar', VERSION_ID: '1.2.3', ARCHITECTURE: 'arm64' };
    expect(sysextIncompatibility({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', VERSION_ID: '1.2.3' }, host)).toBeUndefined();
    expect(sysextIncompatibility({ ID: 'flatcar', SYSEXT_LEVEL: '1.0' }, host)).toMatch(/neither SYSEXT_LEVEL= nor VERSION_ID=|VERSION_ID/);
  });

  it('reads extension-release.NAME out of a squashfs sysext', async () => {
    const dir = await tempDir();
    await writeTree(path.join(dir, 'tree'), { [RELEASE('tool')]: 'ID=fedora\nVERSION_ID=41\nARCHITECTURE=arm64\n', 'usr/bin/tool': '#!/bin/sh\n' });
    const raw = await squash(path.join(dir, 'tree'), path.join(dir, 'tool.raw'));
    const found = await readExtensionReleaseFields(raw, 'tool');
    expect(found?.fields).toMatchObject({ ID: 'fedora', ARCHITECTURE: 'arm64' });
    expect(sysextIncompatibility(found!.fields, FLATCAR)).toMatch(/ARCHITECTURE=arm64/);
  });
});

describe('sysext file names', () => {
  it('refuses two sysexts that would be installed as one file, naming both', () => {
    expect(() => parseSysextArgs(['a:/x/foo.raw', 'b:/y/foo.raw'], { fetch: false })).toThrow(UsageError);
    expect(() => parseSysextArgs(['a:/x/foo.raw', 'b:/y/foo.raw'], { fetch: false })).toThrow(/'a' and 'b' have the same file name foo\.raw/);
    expect(parseSysextArgs(['a:/x/foo.raw', 'b:/x/bar.raw'], { fetch: false })).toHaveLength(2);
  });
});

describe('os-release symlinks are followed inside the image, never on the host', () => {
  const osRelease = 'NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\nVERSION_ID=4459.2.1\nSYSEXT_LEVEL=1.0\n';

  it('mount backend tree: relative and absolute links inside /usr resolve in the tree', async () => {
    const root = await tempDir();
    await writeTree(root, { 'share/flatcar/os-release': osRelease, lib: { dir: true } });
    await symlink('/usr/share/flatcar/os-release', path.join(root, 'lib/os-release'));
    expect((await readOsReleaseInUsrTree(root)).VERSION_ID).toBe('4459.2.1');
    await rm(path.join(root, 'lib/os-release'));
    await symlink('../share/flatcar/os-release', path.join(root, 'lib/os-release'));
    expect((await readOsReleaseInUsrTree(root)).ID).toBe('flatcar');
  });

  it('mount backend tree: a link to /etc/os-release is refused, not read from the host', async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'lib'), { recursive: true });
    await symlink('/etc/os-release', path.join(root, 'lib/os-release'));
    await expect(readOsReleaseInUsrTree(root)).rejects.toThrow(/symlink to \/etc\/os-release, outside its USR partition/);
    await rm(path.join(root, 'lib/os-release'));
    await symlink('../../../../../etc/os-release', path.join(root, 'lib/os-release'));
    await expect(readOsReleaseInUsrTree(root)).rejects.toThrow(/outside its USR partition/);
  });

  it('offline backend: btrfs restore follows the same links inside a real btrfs', async () => {
    const dir = await tempDir();
    const tree = path.join(dir, 'usr');
    await writeTree(tree, { 'share/flatcar/os-release': osRelease, lib: { dir: true } });
    await symlink('/usr/share/flatcar/os-release', path.join(tree, 'lib/os-release'));
    const fs = path.join(dir, 'usr.btrfs');
    await writeFile(fs, '');
    await execa('truncate', ['-s', '128M', fs]);
    await execa('mkfs.btrfs', ['-q', '--rootdir', tree, fs]);
    expect((await readOsReleaseFromUsrBtrfs(fs, path.join(dir, 'out1'))).VERSION_ID).toBe('4459.2.1');

    await rm(path.join(tree, 'lib/os-release'));
    await symlink('/etc/os-release', path.join(tree, 'lib/os-release'));
    const bad = path.join(dir, 'bad.btrfs');
    await execa('truncate', ['-s', '128M', bad]);
    await execa('mkfs.btrfs', ['-q', '--rootdir', tree, bad]);
    await expect(readOsReleaseFromUsrBtrfs(bad, path.join(dir, 'out2'))).rejects.toThrow(/outside its USR partition/);
  });
});
