import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { NoRoomError, ROOT_STEP, spaceNeeded, suggestRootBytes } from '../../src/bake/room.js';
import { ext4GrowthYield } from '../../src/backend/editor.js';
import { formatSizeArg, parseSize } from '../../src/util/size.js';

describe('--root-size values', () => {
  it.each([
    ['4096', 4096],
    ['512M', 512 * 2 ** 20],
    ['6G', 6 * 2 ** 30],
    ['6GiB', 6 * 2 ** 30],
    ['2t', 2 * 2 ** 40],
    ['64k', 64 * 1024],
  ])('reads %s as %d bytes', (text, bytes) => {
    expect(parseSize(text, '--root-size', 4096)).toBe(bytes);
  });

  it.each(['', '6.5G', '-1G', '0', '6X', 'G', '99999999999T'])('refuses %j with a usage error and an example', (text) => {
    expect(() => parseSize(text, '--root-size', 4096)).toThrow(UsageError);
    try {
      parseSize(text, '--root-size', 4096);
    } catch (error) {
      expect((error as UsageError).hint).toContain('--root-size 6G');
    }
  });

  it('refuses a partial ext4 block and suggests the next whole one', () => {
    expect(() => parseSize('1000', '--root-size', 4096)).toThrow(/not a multiple of 4096/);
    try {
      parseSize('6145K', '--root-size', 4096);
    } catch (error) {
      expect((error as UsageError).hint).toBe('round it, e.g. --root-size 6148K');
    }
  });

  it('prints sizes the way it reads them', () => {
    for (const bytes of [4096, 384 * 2 ** 20, 6 * 2 ** 30, 3 * 2 ** 40, 4096 * 3]) {
      expect(parseSize(formatSizeArg(bytes), '--root-size')).toBe(bytes);
    }
    expect(formatSizeArg(384 * 2 ** 20)).toBe('384M');
    expect(formatSizeArg(2 ** 30)).toBe('1G');
  });
});

describe('room for a batch of sysexts', () => {
  const bs = 4096;
  it('counts data blocks, directory entries, symlinks, configs and directories', () => {
    const one = spaceNeeded([{ size: 1 }], { blockSize: bs, longestTarget: 30, newDirs: 0 });
    // one data block, two for the directory entry, one for the /etc/extensions entry
    expect(one).toEqual({ bytes: 4 * bs, inodes: 2 });
    const withConf = spaceNeeded([{ size: 1, confSize: 300 }], { blockSize: bs, longestTarget: 30, newDirs: 0 });
    expect(withConf.bytes - one.bytes).toBe(5 * bs);
    expect(withConf.inodes).toBe(4);
    const longLink = spaceNeeded([{ size: 1 }], { blockSize: bs, longestTarget: 80, newDirs: 0 });
    expect(longLink.bytes - one.bytes).toBe(bs);
    const dirs = spaceNeeded([{ size: 1 }], { blockSize: bs, longestTarget: 30, newDirs: 3 });
    expect(dirs).toEqual({ bytes: one.bytes + 6 * bs, inodes: 5 });
  });

  it('allows extent-tree blocks for a big file in fragmented free space', () => {
    const gib = spaceNeeded([{ size: 2 ** 30 }], { blockSize: bs, longestTarget: 30, newDirs: 0 });
    // 128 extents of 8 MiB: one leaf and one index block beyond the data
    expect(gib.bytes / bs).toBe(2 ** 30 / bs + 2 + 2 + 1);
  });

  it('suggests a ROOT that covers what is missing after the growth own overhead, in 64 MiB steps', () => {
    const space = { freeBytes: 50 * 2 ** 20, blockSize: bs, freeInodes: 1000, growthYield: 0.9 };
    const error = new NoRoomError('ROOT', { bytes: 300 * 2 ** 20, inodes: 10 }, space);
    expect(error.missingBytes).toBe(250 * 2 ** 20);
    expect(error.message).toBe('not enough space on ROOT: the sysexts need 300 MiB with filesystem overhead, 50 MiB are free (250 MiB missing)');
    const suggested = suggestRootBytes(64 * 2 ** 20, error);
    expect(suggested % ROOT_STEP).toBe(0);
    // the growth times its yield covers what is missing
    expect((suggested - 64 * 2 ** 20) * 0.9).toBeGreaterThanOrEqual(250 * 2 ** 20);
    expect(suggested).toBe(384 * 2 ** 20);
  });

  it("ext4's growth yield leaves out inode tables, reserve and group metadata", () => {
    // Flatcar's ROOT as flatcar/scripts build_library/disk_util (FormatExt: mke2fs -i fs_block_size -I 256) makes it:
    // 4 KiB blocks, one 256-byte inode per 4 KiB, mke2fs's default 5% reserve; 3653632 sectors = 456704 blocks
    const y = ext4GrowthYield({ blockCount: 456704, blockSize: 4096, inodeCount: 456704, inodeSize: 256, reservedBlocks: 22835 });
    expect(y).toBeCloseTo(1 - 1 / 16 - 0.05 - 3 / 32768, 6);
  });
});
