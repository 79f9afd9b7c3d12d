import { stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { computeLayout, writePartitionTable } from '../../src/demo/synthetic-release.js';
import { ok, parseSgdiskInfo, parseSgdiskPrint, tool, withTempDir } from './tools.js';

vi.setConfig({ testTimeout: 60_000 });

/** The real generic image, from Flatcar's disk_layout.json: number, label, sectors. */
const REAL = [
  [1, 'EFI-SYSTEM', 2097152],
  [2, 'BIOS-BOOT', 4096],
  [3, 'USR-A', 4194304],
  [4, 'USR-B', 4194304],
  [6, 'OEM', 2097152],
  [7, 'OEM-CONFIG', 131072],
  [9, 'ROOT', 3653632],
] as const;

describe("the 'full' partition table", () => {
  it('has the real sector counts and an ~8 GiB sparse disk, and sgdisk finds no problems', async () => {
    await withTempDir('demo-full-', async (dir) => {
      const image = path.join(dir, 'full.bin');
      const layout = computeLayout('full', 'test');
      await writePartitionTable(image, layout);

      expect((await tool('sgdisk', ['-v', image])).stdout).toContain('No problems found');
      const print = await ok('sgdisk', ['-p', image]);
      const rows = parseSgdiskPrint(print);
      expect(rows.map((r) => [r.number, r.name, r.last - r.first + 1])).toEqual(REAL.map((r) => [...r]));
      // Each partition starts at the next 4096-sector boundary after the previous one.
      let cursor = 34;
      for (const r of rows) {
        const aligned = Math.ceil(cursor / 4096) * 4096;
        expect(r.first).toBe(aligned);
        cursor = r.last + 1;
      }
      // Disk end: last partition + backup GPT, rounded up to 258048 sectors.
      const expectedSectors = Math.ceil((rows.at(-1)!.last + 1 + 34) / 258048) * 258048;
      expect(expectedSectors).toBe(16515072);
      expect(print).toContain(`${expectedSectors} sectors`);
      const st = await stat(image);
      expect(st.size).toBe(expectedSectors * 512);
      expect(st.blocks * 512).toBeLessThan(1024 * 1024);
      expect(parseSgdiskInfo(await ok('sgdisk', ['-i', '4', image]))['Partition unique GUID']).toBe('E03DD35C-7C2D-4A47-B3FE-27F15780A57C');
      expect(layout.partitions.find((p) => p.label === 'USR-A')!.fsBytes).toBe(260094 * 4096);
    });
  });

  it('repeats exactly for the same seed', async () => {
    await withTempDir('demo-repeat-', async (dir) => {
      const a = path.join(dir, 'a.bin');
      const b = path.join(dir, 'b.bin');
      await writePartitionTable(a, computeLayout('small', 'seed'));
      await writePartitionTable(b, computeLayout('small', 'seed'));
      // sgdisk's backup holds the MBR and both GPT headers and tables: all the table bytes.
      const sum = async (f: string) => {
        await ok('sgdisk', [`--backup=${f}.gpt`, f]);
        return (await ok('sha256sum', [`${f}.gpt`])).split(' ')[0];
      };
      expect(await sum(a)).toBe(await sum(b));
      const other = computeLayout('small', 'other seed');
      expect(other.partitions.find((p) => p.number === 9)!.uniqueGuid).not.toBe(computeLayout('small', 'seed').partitions.find((p) => p.number === 9)!.uniqueGuid);
    });
  });
});
