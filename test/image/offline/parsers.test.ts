/** The pure parts of the offline editors: output parsers, path rules and the mkfs.btrfs sizing rule. */
import { describe, expect, it } from 'vitest';
import { DiskFormatError, InputError } from '../../../src/errors.js';
import { mkfsNeededBytes, mkfsOptionsFor, parseChunkProfiles, parseDumpSuper, parseSubvolumeIds } from '../../../src/image/offline/btrfs-facts.js';
import { parseDebugfsLs, parseDebugfsStat, parseDumpe2fs, quoteArg, splitDebugfsOutput } from '../../../src/image/offline/debugfs.js';
import { splitPartitionPath } from '../../../src/backend/editor.js';
import { ext4BlocksFor } from '../../../src/image/offline/ext4.js';

describe('splitPartitionPath', () => {
  it('splits absolute paths and drops empty components', () => {
    expect(splitPartitionPath('/opt//extensions/', 'ROOT')).toEqual(['opt', 'extensions']);
    expect(splitPartitionPath('/', 'OEM')).toEqual([]);
  });
  it.each(['/opt/../etc', '/..', '/./x', 'relative/path', '/a\nb', ''])('refuses %j', (p) => {
    expect(() => splitPartitionPath(p, 'ROOT')).toThrow(InputError);
  });
});

describe('debugfs output', () => {
  it('quotes arguments the way its parser reads them', () => {
    expect(quoteArg('/a b')).toBe('"/a b"');
    expect(quoteArg('/q"z')).toBe('"/q""z"');
    expect(() => quoteArg('/a\nb')).toThrow(DiskFormatError);
  });

  it('gives each command its own output and error lines', () => {
    const commands = ['mkdir "/opt"', 'stat "/opt"', 'write "/h" "/opt/x"'];
    const markers = ['/.m-0', '/.m-1', '/.m-2'];
    const stdout = [
      'debugfs: mkdir "/opt"',
      'debugfs: stat "/.m-0"',
      'debugfs: stat "/opt"',
      'Inode: 12   Type: directory    Mode:  0755   Flags: 0x80000',
      'debugfs: stat "/.m-1"',
      'debugfs: write "/h" "/opt/x"',
      'debugfs: stat "/.m-2"',
      '',
    ].join('\n');
    const stderr = [
      'debugfs 1.47.0 (5-Feb-2023)',
      'ext2fs_mkdir: Ext2 directory already exists while creating directory "opt"',
      'mkdir: Ext2 directory already exists ',
      '/.m-0: File not found by ext2_lookup ',
      '/.m-1: File not found by ext2_lookup ',
      'write: Ext2 file already exists ',
      '/.m-2: File not found by ext2_lookup ',
      '',
    ].join('\n');
    const steps = splitDebugfsOutput(commands, markers, stdout, stderr);
    expect(steps.map((s) => s.errors.length)).toEqual([2, 0, 1]);
    expect(steps[1]!.stdout).toContain('Type: directory');
    expect(steps[2]!.errors[0]).toBe('write: Ext2 file already exists');
  });

  it('fails loudly when a marker is missing instead of misattributing errors', () => {
    expect(() => splitDebugfsOutput(['stat "/x"'], ['/.m-0'], 'debugfs: stat "/x"\n', '')).toThrow(DiskFormatError);
  });

  it('parses stat, including a fast symlink whose target contains a quote', () => {
    const text = [
      'Inode: 18   Type: symlink    Mode:  0777   Flags: 0x0',
      'User:     0   Group:     0   Project:     0   Size: 6',
      'Fast link dest: "/a"b c"',
    ].join('\n');
    const s = parseDebugfsStat(text);
    expect(s).toMatchObject({ type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 6 });
    expect(s.fastLinkTarget?.toString()).toBe('/a"b c');
    const file = parseDebugfsStat('Inode: 14   Type: regular    Mode:  4755   Flags: 0x80000\nUser:  1000   Group:    50   Size: 123\n');
    expect(file).toMatchObject({ type: 'file', mode: 0o4755, uid: 1000, gid: 50, size: 123 });
  });

  it('parses ls -p and drops . and ..', () => {
    const text = '/2/040755/0/0/.//\n/2/040755/0/0/..//\n/12/040755/0/0/opt//\n/18/120777/0/0/a b/15/\n';
    expect(parseDebugfsLs(text).map((e) => e.name)).toEqual(['opt', 'a b']);
  });

  it('decodes UTF-8 names from ls -p output read byte for byte (latin1)', () => {
    // debugfs prints names as raw bytes; runDebugfs reads them as latin1, one char per byte.
    const bytes = Buffer.from('/2/040755/0/0/.//\n/12/100644/0/0/café-ü.txt/0/\n/13/040755/1000/27/日本/0/\n', 'utf8');
    expect(parseDebugfsLs(bytes.toString('latin1'))).toEqual([
      { name: 'café-ü.txt', inode: 12, mode: 0o100644, uid: 0, gid: 0, size: 0 },
      { name: '日本', inode: 13, mode: 0o40755, uid: 1000, gid: 27, size: 0 },
    ]);
  });

  it('parses dumpe2fs -h', () => {
    const text = 'Filesystem state:         clean\nFilesystem features:      has_journal ext_attr extent\nInode count:              16384\nInode size:\t          256\nBlock count:              16384\nReserved block count:     819\nFree blocks:              14312\nFree inodes:              16360\nBlock size:               4096\n';
    expect(parseDumpe2fs(text)).toMatchObject({ blockSize: 4096, blockCount: 16384, freeBlocks: 14312, reservedBlocks: 819, inodeSize: 256, inodeCount: 16384, state: 'clean' });
  });

  it('counts extent-tree blocks only beyond the four extents an inode holds', () => {
    expect(ext4BlocksFor(0, 4096)).toBe(0);
    expect(ext4BlocksFor(4097, 4096)).toBe(2);
    expect(ext4BlocksFor(4 * 32768 * 4096, 4096)).toBe(4 * 32768);
    expect(ext4BlocksFor(5 * 32768 * 4096, 4096)).toBe(5 * 32768 + 2);
  });
});

describe('btrfs metadata', () => {
  const SUPER = [
    'csum_type\t\t0 (crc32c)',
    'magic\t\t\t_BHRfS_M [match]',
    'fsid\t\t\t11111111-2222-4333-8444-555555555555',
    'label\t\t\tOEM',
    'total_bytes\t\t134217728',
    'bytes_used\t\t36864',
    'sectorsize\t\t4096',
    'nodesize\t\t4096',
    'num_devices\t\t1',
    'compat_ro_flags\t\t0x3',
    '\t\t\t( FREE_SPACE_TREE |',
    '\t\t\t  FREE_SPACE_TREE_VALID )',
    'incompat_flags\t\t0x345',
    '\t\t\t( MIXED_BACKREF |',
    '\t\t\t  MIXED_GROUPS |',
    '\t\t\t  EXTENDED_IREF |',
    '\t\t\t  SKINNY_METADATA |',
    '\t\t\t  NO_HOLES )',
    'dev_item.total_bytes\t134217728',
  ].join('\n');

  it('parses dump-super', () => {
    const sb = parseDumpSuper(SUPER);
    expect(sb).toMatchObject({ label: 'OEM', fsid: '11111111-2222-4333-8444-555555555555', totalBytes: 134217728, sectorSize: 4096, nodeSize: 4096, csum: 'crc32c', numDevices: 1 });
    expect(sb.incompat).toEqual(['MIXED_BACKREF', 'MIXED_GROUPS', 'EXTENDED_IREF', 'SKINNY_METADATA', 'NO_HOLES']);
    expect(sb.compatRo).toEqual(['FREE_SPACE_TREE', 'FREE_SPACE_TREE_VALID']);
    expect(() => parseDumpSuper(SUPER.replace('[match]', '[DON\'T MATCH]'))).toThrow(DiskFormatError);
  });

  it('reads profiles from the chunk tree and turns everything into mkfs options', () => {
    const mixed = parseChunkProfiles('type SYSTEM|single\n\t\tlength 8388608 owner 2 stripe_len 65536 type DATA|METADATA|single\n');
    expect(mixed).toEqual({ data: 'single', metadata: 'single', mixed: true });
    const split = parseChunkProfiles('type DATA|single\ntype SYSTEM|DUP\ntype METADATA|DUP\n');
    expect(split).toEqual({ data: 'single', metadata: 'dup', mixed: false });
    const args = mkfsOptionsFor(parseDumpSuper(SUPER), mixed);
    expect(args.join(' ')).toContain('-U 11111111-2222-4333-8444-555555555555 -n 4096 -s 4096 --csum crc32c -O extref,skinny-metadata,no-holes -R free-space-tree -L OEM --mixed -m single -d single');
    const noHoles = parseDumpSuper(SUPER.replace('  NO_HOLES )', '  RAID56 )'));
    expect(() => mkfsOptionsFor(noHoles, mixed)).toThrow(/RAID56/);
  });

  it('lists subvolumes but not the top-level tree', () => {
    expect(parseSubvolumeIds(' tree key (FS_TREE ROOT_ITEM 0) 5255168 level 0\n tree key (256 ROOT_ITEM 0) 1 level 0\n')).toEqual([256]);
  });

  it('sizes a rootdir filesystem the way mkfs.btrfs does (points measured with btrfs-progs 6.2)', () => {
    const p = { data: 'single', metadata: 'single', mixed: true };
    const MiB = 1024 * 1024;
    // One 112 MiB file fits a 128 MiB mixed filesystem, 113 MiB does not; 224 fits 256, 225 does not.
    expect(mkfsNeededBytes({ inodes: 2, dataBytes: 112 * MiB }, 4096, p, 16 * MiB)).toBeLessThanOrEqual(128 * MiB);
    expect(mkfsNeededBytes({ inodes: 2, dataBytes: 113 * MiB }, 4096, p, 16 * MiB)).toBeGreaterThan(128 * MiB);
    expect(mkfsNeededBytes({ inodes: 2, dataBytes: 224 * MiB }, 4096, p, 16 * MiB)).toBeLessThanOrEqual(256 * MiB);
    expect(mkfsNeededBytes({ inodes: 2, dataBytes: 225 * MiB }, 4096, p, 16 * MiB)).toBeGreaterThan(256 * MiB);
  });
});
