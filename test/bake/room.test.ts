/**
 * The space check before injection against real ext4 filesystems: a batch it lets through at
 * its very limit is written whole (no ENOSPC half-way, with either backend's editor), and one
 * block more is refused with nothing written.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectSysexts, type SysextToInject } from '../../src/bake/inject.js';
import { parseInstallTarget } from '../../src/bake/inputs.js';
import { NoRoomError, spaceNeeded } from '../../src/bake/room.js';
import { mountPartition } from '../../src/image/loop.js';
import { MountedEditor } from '../../src/backend/mounted-editor.js';
import type { PartitionEditor } from '../../src/backend/editor.js';
import { openExt4Editor } from '../../src/image/offline/ext4.js';
import { acquirePrivileges } from '../../src/privileged/privileged.js';
import { ResourceScope } from '../../src/util/scope.js';
import { isRoot, ROOT_SKIP_REASON } from '../helpers/cli.js';

const MiB = 1024 * 1024;
const target = parseInstallTarget('root:/opt/extensions/');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-room-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A 48 MiB ext4 made as Flatcar makes ROOT (flatcar/scripts build_library/disk_util FormatExt: -b 4096 -i 4096 -I 256), some files already on it. */
async function makeRoot(name: string): Promise<string> {
  const tree = path.join(scratch, `${name}-tree`);
  await execa('mkdir', ['-p', `${tree}/etc`, `${tree}/var/lib`]);
  for (let i = 0; i < 5; i++) await writeFile(path.join(tree, 'var/lib', `f${i}`), randomBytes(3 * MiB + i * 4096 + 17));
  const img = path.join(scratch, `${name}.img`);
  await execa('mkfs.ext4', ['-q', '-F', '-b', '4096', '-i', '4096', '-I', '256', '-L', 'ROOT', '-d', tree, img, '48M']);
  return img;
}

/** Two sysexts of `total` bytes together, as the check sees them on `editor`. */
async function largestThatFits(editor: PartitionEditor): Promise<number> {
  const space = await editor.space();
  const need = (total: number) => spaceNeeded([{ size: Math.floor(total / 2) }, { size: Math.ceil(total / 2) }], { blockSize: space.blockSize, longestTarget: 40, newDirs: 4 }).bytes;
  let low = 0;
  let high = space.freeBytes;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (need(mid) <= space.freeBytes) low = mid;
    else high = mid - 1;
  }
  return low;
}

async function sysexts(total: number, tag: string): Promise<SysextToInject[]> {
  const out: SysextToInject[] = [];
  for (const [i, size] of [Math.floor(total / 2), Math.ceil(total / 2)].entries()) {
    const source = path.join(scratch, `${tag}-${i}.raw`);
    await writeFile(source, randomBytes(size));
    out.push({ name: `s${i}`, source, fileName: `s${i}.raw`, size, place: target });
  }
  return out;
}

async function fsckClean(img: string): Promise<void> {
  const r = await execa('e2fsck', ['-fn', img], { reject: false });
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
}

async function dumpedSha(img: string, file: string): Promise<string> {
  const out = path.join(scratch, 'dumped');
  await execa('debugfs', ['-R', `dump ${file} ${out}`, img]);
  const digest = createHash('sha256').update(await readFile(out)).digest('hex');
  await rm(out);
  return digest;
}

describe('the space check before injection, on real ext4', () => {
  it('offline editor: the largest batch the check allows is written whole; one block more is refused and nothing is written', async () => {
    const img = await makeRoot('offline');
    const size = (await execa('stat', ['-c', '%s', img])).stdout;
    const editor = await openExt4Editor(img, { offset: 0, size: Number(size) }, { partition: 'ROOT' });
    try {
      const total = await largestThatFits(editor);
      expect(total).toBeGreaterThan(20 * MiB);
      const tooMany = await sysexts(total + 8192, 'over');
      await expect(injectSysexts({ root: editor }, tooMany)).rejects.toThrow(NoRoomError);
      expect((await execa('debugfs', ['-R', 'ls -l /opt', img], { reject: false })).stderr).toMatch(/File not found/);

      const batch = await sysexts(total, 'fit');
      const injected = await injectSysexts({ root: editor }, batch);
      expect(injected.map((s) => s.installedTo)).toEqual(['root:/opt/extensions/s0.raw', 'root:/opt/extensions/s1.raw']);
    } finally {
      await editor.close();
    }
    await fsckClean(img);
    expect(await dumpedSha(img, '/opt/extensions/s1.raw')).toBe(createHash('sha256').update(await readFile(path.join(scratch, 'fit-1.raw'))).digest('hex'));
  });

  it.skipIf(!isRoot)(`mount editor: the largest batch the check allows is written whole through the mount${ROOT_SKIP_REASON}`, async () => {
    const img = await makeRoot('mounted');
    const size = Number((await execa('stat', ['-c', '%s', img])).stdout);
    const priv = await acquirePrivileges('test');
    const scope = new ResourceScope();
    try {
      const dir = await mountPartition(priv, scope, img, { offset: 0, size }, { fsType: 'ext4', label: 'ROOT' });
      const editor = new MountedEditor('ROOT', priv, dir);
      const total = await largestThatFits(editor);
      expect(total).toBeGreaterThan(20 * MiB);
      await injectSysexts({ root: editor }, await sysexts(total, 'mfit'));
    } finally {
      await scope.release();
    }
    expect(scope.errors).toEqual([]);
    await fsckClean(img);
    expect(await dumpedSha(img, '/opt/extensions/s0.raw')).toBe(createHash('sha256').update(await readFile(path.join(scratch, 'mfit-0.raw'))).digest('hex'));
  });
});
