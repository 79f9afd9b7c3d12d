/**
 * Step 6, grow + inject (src/bake/inject-stage.ts) with the offline backend, read back with
 * e2fsprogs (dd the ROOT partition out, then debugfs and e2fsck on it).
 */
import { execa } from 'execa';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateFlatcarPartition } from '../../src/gpt/locate.js';
import { inject } from '../../src/bake/inject-stage.js';
import { stagedRun, stepFixture, type StepFixture } from './steps.js';

/** Twice the synthetic release's 64 MiB ROOT. */
const GROWN_ROOT = 128 * 1024 * 1024;

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

/** ROOT's bytes as a file of their own, for e2fsprogs. */
async function extractRoot(image: string, startByte: number, sizeBytes: number, dest: string): Promise<void> {
  await execa('dd', [`if=${image}`, `of=${dest}`, 'bs=1M', `skip=${startByte}`, `count=${sizeBytes}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none']);
}

describe('grow + inject', () => {
  it("reads the release from the image's os-release and writes hello, its link and its transfer into ROOT", async () => {
    const run = await stagedRun(fx);
    try {
      const injected = await inject(run.ctx, run.plan, run.fetched, run.staged);
      expect(injected.release).toMatchObject({ version: fx.served.release.version, channel: 'stable', board: 'amd64-usr' });
      expect(injected.sysexts).toEqual([
        expect.objectContaining({
          name: 'hello',
          installedTo: 'root:/opt/extensions/hello/hello-1.0.0-x86-64.raw',
          symlink: '/etc/extensions/hello.raw',
          bootedPath: '/opt/extensions/hello/hello-1.0.0-x86-64.raw',
          sysupdateConf: '/etc/sysupdate.hello.d/hello.conf',
        }),
      ]);
      const root = locateFlatcarPartition(injected.table, 'ROOT');
      const file = path.join(fx.scratch, 'root.ext4');
      await extractRoot(run.staged.image, root.startByte, root.sizeBytes, file);
      await execa('e2fsck', ['-fn', file]);
      const link = await execa('debugfs', ['-R', 'stat /etc/extensions/hello.raw', file]);
      expect(link.stdout).toMatch(/Type: symlink/);
      expect(link.stdout).toContain('Fast link dest: "/opt/extensions/hello/hello-1.0.0-x86-64.raw"');
      const raw = await execa('debugfs', ['-R', 'stat /opt/extensions/hello/hello-1.0.0-x86-64.raw', file]);
      expect(raw.stdout).toMatch(new RegExp(`User:\\s+0\\s+Group:\\s+0\\s+Project:\\s+\\d+\\s+Size: ${fx.served.release.sysexts[0]!.size}\\b`));
    } finally {
      await run.release();
    }
  });

  it('--root-size grows ROOT before the sysexts go in, and the GPT says so', async () => {
    const run = await stagedRun(fx, { rootSize: GROWN_ROOT });
    try {
      const injected = await inject(run.ctx, run.plan, run.fetched, run.staged);
      const root = locateFlatcarPartition(injected.table, 'ROOT');
      expect(root.sizeBytes).toBe(GROWN_ROOT);
      const sgdisk = await execa('sgdisk', ['-i', '9', run.staged.image]);
      expect(sgdisk.stdout).toMatch(new RegExp(`Partition size: ${GROWN_ROOT / 512} sectors`));
      // resize2fs filled the partition, and e2fsck finds the grown filesystem clean.
      const file = path.join(fx.scratch, 'grown-root.ext4');
      await extractRoot(run.staged.image, root.startByte, root.sizeBytes, file);
      await execa('e2fsck', ['-fn', file]);
      const sb = (await execa('dumpe2fs', ['-h', file])).stdout;
      const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(sb)![1]);
      expect(field('Block count') * field('Block size')).toBe(GROWN_ROOT);
    } finally {
      await run.release();
    }
  });
});

