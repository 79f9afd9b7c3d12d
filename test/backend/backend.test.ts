/** The backend seam (src/backend/): the factory, the tool lists doctor reads, and the one path rule. */
import { describe, expect, it } from 'vitest';
import { symlinkRefusal, walkPartitionPath, type EntryInfo } from '../../src/backend/editor.js';
import { openBackend } from '../../src/backend/open.js';
import { BACKEND_HOST_TOOLS, MOUNT_TOOLS, OFFLINE_TOOLS } from '../../src/backend/tools.js';
import { runDoctor } from '../../src/doctor/doctor.js';
import { DiskFormatError } from '../../src/errors.js';

describe('openBackend', () => {
  it('gives the offline backend when asked for it and its tools are here', async () => {
    expect((await openBackend('offline', { btrfs: true }, 'test')).name).toBe('offline');
  });
});

describe('host tools', () => {
  it('doctor lists every tool each backend runs, btrfs and fakeroot included', async () => {
    const listed = new Set((await runDoctor()).tools.map((t) => t.command));
    for (const tool of BACKEND_HOST_TOOLS) expect(listed, tool.command).toContain(tool.command);
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
