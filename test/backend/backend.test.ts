/** The backend seam (src/backend/): the factory, the tool lists doctor reads, and the one path rule. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/index.js';
import { MountBackend } from '../../src/backend/mount.js';
import { OfflineBackend } from '../../src/backend/offline.js';
import { symlinkRefusal, walkPartitionPath, type EntryInfo } from '../../src/backend/editor.js';
import { openBackend } from '../../src/backend/open.js';
import { MOUNT_TOOLS, OFFLINE_TOOLS } from '../../src/backend/tools.js';
import { runDoctor } from '../../src/doctor/doctor.js';
import { DiskFormatError } from '../../src/errors.js';
import { readGptFromFile } from '../../src/gpt/file.js';
import { acquirePrivileges } from '../../src/privileged/privileged.js';
import { isRoot, ROOT_SKIP_REASON } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

describe('openBackend', () => {
  it('gives the offline backend when asked for it and its tools are here', async () => {
    expect((await openBackend('offline', { btrfs: true }, 'test')).name).toBe('offline');
  });
});

describe('host tools', () => {
  it('doctor lists every tool of the backend a bake would use, btrfs and fakeroot included', async () => {
    const offline = new Map((await runDoctor({ backend: 'offline' })).tools.map((t) => [t.command, t]));
    for (const tool of OFFLINE_TOOLS) expect(offline.get(tool.command)?.required, tool.command).toBe(tool.when === 'always' || tool.when === 'btrfs');
    const mount = new Map((await runDoctor({ backend: 'mount' })).tools.map((t) => [t.command, t]));
    for (const tool of MOUNT_TOOLS) if (tool.command !== 'sudo') expect(mount.get(tool.command)?.required, tool.command).toBe(tool.required);
    // The mount backend's loop devices are not asked of an offline bake.
    expect(offline.has('losetup')).toBe(false);
    expect(OFFLINE_TOOLS.map((t) => t.command)).toEqual(expect.arrayContaining(['btrfs', 'fakeroot', 'debugfs']));
    expect(MOUNT_TOOLS.map((t) => t.command)).toEqual(expect.arrayContaining(['losetup', 'mount', 'umount']));
  });
});

describe('walkPartitionPath', () => {
  // /etc is a directory, /etc/hop a symlink, /etc/file a file; nothing else exists.
  const tree: Record<string, EntryInfo['type']> = { '/etc': 'dir', '/etc/hop': 'symlink', '/etc/file': 'file' };
  const walk = (p: string) => {
    const parts = p.split('/').filter(Boolean);
    return walkPartitionPath(parts, 'ROOT', 'write a file', async (i) => tree['/' + parts.slice(0, i + 1).join('/')], (t) => t);
  };

  it('counts the components that exist and returns the last one', async () => {
    expect(await walk('/etc/new/x')).toEqual({ existing: 1 });
    expect(await walk('/etc/hop')).toEqual({ existing: 2, last: 'symlink' });
    expect(await walk('/')).toEqual({ existing: 0 });
  });

  it('refuses a symlink or a file above the last component, with one message for every editor', async () => {
    await expect(walk('/etc/hop/x.raw')).rejects.toThrow(symlinkRefusal('write a file', '/etc/hop', 'ROOT'));
    await expect(walk('/etc/hop/x.raw')).rejects.toThrow(DiskFormatError);
    await expect(walk('/etc/file/x')).rejects.toThrow('cannot write a file: /etc/file on ROOT is not a directory');
  });
});

describe('reading USR-A', () => {
  let served: ServedRelease;
  let scratch: string;
  beforeAll(async () => {
    served = await serveSyntheticRelease({ usrPayloadBytes: 0, sysexts: [] });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-backend-'));
  });
  afterAll(async () => {
    await served?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  const read = async (backend: Backend) => {
    const image = served.release.imagePath;
    const table = await readGptFromFile(image);
    return {
      updateConf: await backend.readUsrFile(image, table, 'share/flatcar/update.conf', scratch),
      missing: await backend.readUsrFile(image, table, 'share/flatcar/no-such-file', scratch),
      osRelease: await backend.readUsrOsRelease(image, table, scratch),
    };
  };

  it('offline: a file of USR-A, nothing for a missing one, and os-release', async () => {
    const got = await read(new OfflineBackend());
    expect(got.updateConf).toMatch(/^GROUP=stable$/m);
    expect(got.missing).toBeUndefined();
    expect(got.osRelease).toMatchObject({ ID: 'flatcar', VERSION_ID: served.release.version });
  });

  it.skipIf(!isRoot)(`mount: the same as offline${ROOT_SKIP_REASON}`, async () => {
    expect(await read(new MountBackend(await acquirePrivileges('backend test')))).toEqual(await read(new OfflineBackend()));
  });
});
