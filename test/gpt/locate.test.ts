import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGptFromFile } from '../../src/gpt/file.js';
import {
  FLATCAR_PARTITIONS,
  FLATCAR_USR_A_UNIQUE_GUID,
  FLATCAR_USR_B_UNIQUE_GUID,
  GUID_FLATCAR_ROOT,
  GUID_FLATCAR_USR,
  GUID_LINUX_FILESYSTEM,
  locateFlatcarPartition,
  locatePartition,
} from '../../src/gpt/locate.js';
import { GptError, type GptTable } from '../../src/gpt/types.js';
import { FLATCAR_LAYOUT, USR_A_UNIQUE, USR_B_UNIQUE, makeFlatcarImage, makeTempDir, sgdisk } from './helpers.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let table: GptTable;

beforeAll(async () => {
  tmp = await makeTempDir();
  const path = join(tmp.dir, 'flatcar.bin');
  await makeFlatcarImage(path);
  table = await readGptFromFile(path);
});

afterAll(async () => {
  await tmp?.cleanup();
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GptError);
    return (err as GptError).code;
  }
  return undefined;
}

describe('Flatcar constants', () => {
  it('match the layout of flatcar/scripts disk_layout.json', () => {
    expect(FLATCAR_PARTITIONS.map((p) => [p.number, p.label, p.typeGuid, p.sizeSectors])).toEqual(
      FLATCAR_LAYOUT.map((p) => [p.number, p.label, p.type, p.size]),
    );
    expect(FLATCAR_PARTITIONS.map((p) => p.filesystem)).toEqual(['vfat', 'none', 'btrfs', 'none', 'btrfs', 'none', 'ext4']);
    expect(FLATCAR_USR_A_UNIQUE_GUID).toBe(USR_A_UNIQUE);
    expect(FLATCAR_USR_B_UNIQUE_GUID).toBe(USR_B_UNIQUE);
    expect(Object.isFrozen(FLATCAR_PARTITIONS)).toBe(true);
  });
});

describe('locatePartition', () => {
  it('finds every Flatcar partition by label and type, whatever its position', () => {
    for (const spec of FLATCAR_PARTITIONS) {
      const p = locateFlatcarPartition(table, spec.label);
      expect(p.number).toBe(spec.number);
      expect(p.name).toBe(spec.label);
    }
    expect(locatePartition(table, 'ROOT', GUID_FLATCAR_ROOT).firstLba).toBe(FLATCAR_LAYOUT.at(-1)!.first);
    expect(locatePartition(table, 'USR-B', GUID_FLATCAR_USR.toLowerCase()).uniqueGuid).toBe(USR_B_UNIQUE);
    expect(locatePartition(table, 'OEM').number).toBe(6);
  });

  it('reports a missing label, listing what is there', () => {
    expect(codeOf(() => locatePartition(table, 'ROOT-C'))).toBe('label-missing');
    expect(codeOf(() => locatePartition(table, 'root'))).toBe('label-missing');
    expect(() => locatePartition(table, 'ROOT-C')).toThrow(/no partition labelled ROOT-C: is this a Flatcar image\? \(partitions found: EFI-SYSTEM, BIOS-BOOT/);
  });

  it('reports a wrong type GUID', () => {
    expect(codeOf(() => locatePartition(table, 'ROOT', GUID_LINUX_FILESYSTEM))).toBe('wrong-type');
    expect(() => locatePartition(table, 'OEM', GUID_FLATCAR_ROOT)).toThrow(
      `partition OEM has type ${GUID_LINUX_FILESYSTEM}, expected ${GUID_FLATCAR_ROOT}`,
    );
  });

  it('reports duplicate labels', async () => {
    const path = join(tmp.dir, 'dup.bin');
    await (await open(path, 'w')).close();
    await truncate(path, 16 * 1024 * 1024);
    await sgdisk(['-n', '1:2048:4095', '-c', '1:ROOT', '-n', '3:4096:8191', '-c', '3:ROOT', '-n', '4:8192:10239', '-c', '4:OEM', path]);
    const t = await readGptFromFile(path);
    expect(codeOf(() => locatePartition(t, 'ROOT'))).toBe('label-duplicate');
    expect(() => locatePartition(t, 'ROOT')).toThrow(/2 partitions are labelled ROOT \(numbers 1, 3\)/);
    expect(locatePartition(t, 'OEM').number).toBe(4);
  });
});
