/** Step 5, locate + stage (src/bake/locate-stage.ts): checked against sgdisk and cmp. */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sgdiskPartition } from '../helpers/disk.js';
import { stagedRun, stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

describe('locate + stage', () => {
  it('finds ROOT where sgdisk sees it, places hello where its transfer looks, and stages a byte-identical copy', async () => {
    const run = await stagedRun(fx);
    try {
      const { staged } = run;
      const root = await sgdiskPartition(fx.served.release.imagePath, 9);
      expect(root.name).toBe('ROOT');
      expect(staged.root.number).toBe(9);
      expect(staged.root.startByte).toBe(root.startByte);
      expect(staged.root.sizeBytes).toBe(root.sizeBytes);
      // hello.conf's [Target] looks in /opt/extensions/hello (the bakery's transfer).
      expect(staged.placed.map((s) => [s.name, s.place])).toEqual([['hello', { partition: 'root', dir: '/opt/extensions/hello', bootedDir: '/opt/extensions/hello' }]]);
      expect(staged.image).not.toBe(fx.served.release.imagePath);
      await execa('cmp', [staged.image, fx.served.release.imagePath]);
      // The generic image is published: the base's untouched pieces are being hashed.
      expect((await staged.basePieces)!.size).toBeGreaterThan(0);
    } finally {
      await run.release();
    }
  });

  it('a vendor-only run hashes no base pieces', async () => {
    const run = await stagedRun(fx, { vendors: ['qemu_uefi'] });
    try {
      expect(run.staged.basePieces).toBeUndefined();
    } finally {
      await run.release();
    }
  });
});
