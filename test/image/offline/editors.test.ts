/**
 * The offline editors on a synthetic Flatcar image, checked with other tools:
 * the kernel (read-only loop mounts, as root, in the test only), e2fsck and
 * btrfs check. The same edits are made once as root in this process and once
 * as `nobody` in a child process, which must give the same filesystems
 * without any loop device.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSyntheticRelease } from '../../../src/demo/synthetic-release.js';
import { DiskFormatError, InputError } from '../../../src/errors.js';
import { readGptFromFile } from '../../../src/gpt/file.js';
import { locateFlatcarPartition } from '../../../src/gpt/locate.js';
import { openBtrfsEditor } from '../../../src/image/offline/btrfs.js';
import { PartitionFullError, type PartitionEditor, type PartitionRange } from '../../../src/backend/editor.js';
import { assertStepsOk, runDebugfs } from '../../../src/image/offline/debugfs.js';
import { openExt4Editor } from '../../../src/image/offline/ext4.js';
import { REPO } from '../../helpers/cli.js';
import { rangesEqual, withReadOnlyPartition } from '../../helpers/disk.js';

const isRoot = process.getuid?.() === 0;
/** The cases that switch to nobody or loop-mount need root; the rest run as any user. */
const NEEDS_ROOT = isRoot ? '' : ' (SKIPPED: needs root to switch to nobody and to loop-mount)';
const NOBODY = 65534;
const MTIME = 1_700_000_000;

type Op =
  | { op: 'mkdirp'; path: string; mode?: number }
  | { op: 'writeFile'; path: string; host: string; mode?: number; mtime?: number }
  | { op: 'symlink'; path: string; target: string }
  | { op: 'commit' };

interface PartitionCase {
  name: 'ROOT' | 'OEM';
  number: number;
  fsType: 'ext4' | 'btrfs';
  range: PartitionRange;
  dir: string;
  link: string;
  linkTarget: string;
}

async function applyOps(editor: PartitionEditor, ops: readonly Op[]): Promise<void> {
  for (const op of ops) {
    if (op.op === 'mkdirp') await editor.mkdirp(op.path, op.mode);
    else if (op.op === 'writeFile') await editor.writeFile(op.path, op.host, { mode: op.mode, mtime: op.mtime });
    else if (op.op === 'symlink') await editor.symlink(op.path, op.target);
    else await editor.commit();
  }
}

/** The same edits in plain JavaScript, for the child process that runs as nobody (it imports the build in dist/). */
const CHILD = `
const job = JSON.parse(process.env.FLATBAKE_OFFLINE_JOB);
const m = await import(job.module);
const out = {};
for (const p of job.partitions) {
  let e;
  try {
    e = p.name === 'ROOT' ? await m.openExt4Editor(job.image, p.range) : await m.openBtrfsEditor(job.image, p.range, { ownership: job.ownership });
    for (const op of p.ops) {
      if (op.op === 'mkdirp') await e.mkdirp(op.path, op.mode);
      else if (op.op === 'writeFile') await e.writeFile(op.path, op.host, { mode: op.mode, mtime: op.mtime });
      else if (op.op === 'symlink') await e.symlink(op.path, op.target);
      else await e.commit();
    }
    out[p.name] = { ok: true, list: await e.list(p.dir), hello: (await e.readFile(p.dir + '/hello.raw')).toString('base64'), lstat: await e.lstat(p.dir + '/hello.raw') };
  } catch (err) {
    out[p.name] = { ok: false, name: err.name, message: err.message, hint: err.hint };
  } finally {
    if (e) await e.close();
  }
}
process.stdout.write(JSON.stringify(out));
`;

interface ChildResult {
  ok: boolean;
  name?: string;
  message?: string;
  hint?: string;
  list?: string[];
  hello?: string;
  lstat?: { uid: number; gid: number; mode: number; type: string };
}

async function runAsNobody(image: string, partitions: Array<PartitionCase & { ops: Op[] }>, ownership?: string, cwd?: string): Promise<Record<string, ChildResult>> {
  const job = { module: path.join(REPO, 'dist/image/offline/index.js'), image, ownership, partitions };
  const r = await execa('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, '--input-type=module', '-e', CHILD], {
    cwd,
    env: { FLATBAKE_OFFLINE_JOB: JSON.stringify(job), HOME: cwd, TMPDIR: cwd, PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`child failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, ChildResult>;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function sha256File(file: string): Promise<string> {
  const { stdout } = await execa('sha256sum', [file]);
  return stdout.split(' ')[0]!;
}

interface Observed {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  mtime?: number;
}

/** What the kernel sees: mount the partition read-only through a loop device and lstat each path. */
async function observe(image: string, part: PartitionCase, paths: readonly string[]): Promise<Record<string, Observed | null>> {
  return withReadOnlyPartition(image, part.number, part.fsType, async (mnt) => {
    const out: Record<string, Observed | null> = {};
    for (const p of paths) {
      const full = path.join(mnt, p);
      let s;
      try {
        s = await lstat(full);
      } catch {
        out[p] = null;
        continue;
      }
      const o: Observed = { type: s.isFile() ? 'file' : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : 'other', mode: s.mode & 0o7777, uid: s.uid, gid: s.gid };
      if (s.isFile()) {
        o.size = s.size;
        o.sha256 = sha256(await readFile(full));
        o.mtime = Math.floor(s.mtimeMs / 1000);
      }
      if (s.isSymbolicLink()) o.target = await readlink(full);
      out[p] = o;
    }
    return out;
  });
}

/** Loop devices backed by files under `dir` (other test files attach their own meanwhile). */
async function loopDevices(dir: string): Promise<string> {
  const { stdout } = await execa('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']);
  return stdout.split('\n').filter((line) => line.includes(dir)).join('\n');
}

async function e2fsckClean(image: string, range: PartitionRange): Promise<{ exitCode: number; output: string }> {
  const r = await execa('e2fsck', ['-fn', `${image}?offset=${range.offset}`], { reject: false });
  return { exitCode: r.exitCode ?? -1, output: r.stdout + r.stderr };
}

/** btrfs check on a copy of the partition's bytes, and its label and UUID. */
async function btrfsFacts(image: string, range: PartitionRange, scratch: string): Promise<{ checkExit: number; checkOutput: string; label: string; fsid: string }> {
  const copy = path.join(scratch, `oem-${randomBytes(4).toString('hex')}.img`);
  await execa('dd', [`if=${image}`, `of=${copy}`, 'bs=1M', `skip=${range.offset}`, `count=${range.size}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
  try {
    const check = await execa('btrfs', ['check', '--readonly', copy], { reject: false });
    const { stdout } = await execa('btrfs', ['inspect-internal', 'dump-super', copy]);
    return {
      checkExit: check.exitCode ?? -1,
      checkOutput: check.stdout + check.stderr,
      label: /^label\s+(.*)$/m.exec(stdout)?.[1] ?? '',
      fsid: /^fsid\s+(\S+)/m.exec(stdout)?.[1] ?? '',
    };
  } finally {
    await rm(copy, { force: true });
  }
}

async function flatbakeTempDirs(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('flatbake-ext4-') || n.startsWith('flatbake-btrfs-')).sort();
}

/** A file owned by someone else on OEM (through a loop mount, as root): rebuilding must keep its owner. */
async function addVendorFile(image: string, range: PartitionRange): Promise<void> {
  const { stdout } = await execa('losetup', ['--find', '--show', '--offset', String(range.offset), '--sizelimit', String(range.size), image]);
  const device = stdout.trim();
  const mnt = await mkdtemp(path.join(os.tmpdir(), 'flatbake-offline-mnt-'));
  await chmod(mnt, 0o755); // btrfs-progs of unprivileged tests stat every mount point
  try {
    await execa('mount', ['-t', 'btrfs', device, mnt]);
    try {
      await mkdir(path.join(mnt, 'vendor'));
      await writeFile(path.join(mnt, 'vendor/owned-by-1000'), 'vendor data\n');
      await chown(path.join(mnt, 'vendor/owned-by-1000'), 1000, 1000);
      await chmod(path.join(mnt, 'vendor/owned-by-1000'), 0o640);
    } finally {
      await execa('umount', [mnt]);
    }
  } finally {
    await execa('losetup', ['--detach', device]);
    await rm(mnt, { recursive: true, force: true });
  }
}

describe('offline partition editors (as root, also: mounts verify, nobody edits)', () => {
  let work: string;
  let baseImage: string;
  let root: PartitionCase;
  let oem: PartitionCase;
  let payloadA: string;
  let payloadB: string;
  let conf: string;
  let oemOriginal: { label: string; fsid: string };
  let savedTmpdir: string | undefined;
  let privateTmp: string;

  const opsFor = (p: PartitionCase): Op[] => [
    { op: 'mkdirp', path: `${p.dir}/nested/deeper`, mode: 0o750 },
    { op: 'mkdirp', path: p.dir },
    { op: 'mkdirp', path: path.posix.dirname(p.link) },
    { op: 'writeFile', path: `${p.dir}/hello.raw`, host: payloadA, mode: 0o644, mtime: MTIME },
    // Replacing: the second write must win.
    { op: 'writeFile', path: `${p.dir}/hello.raw`, host: payloadB, mode: 0o644, mtime: MTIME },
    { op: 'writeFile', path: `${p.dir}/nested/secret.conf`, host: conf, mode: 0o600 },
    { op: 'symlink', path: p.link, target: '/somewhere/old.raw' },
    { op: 'symlink', path: p.link, target: p.linkTarget },
    // Longer than the 60 bytes ext4 keeps in the inode: a "slow" symlink with a data block.
    { op: 'symlink', path: `${p.dir}/long-link`, target: `/${'x'.repeat(100)}` },
    { op: 'commit' },
    { op: 'commit' },
  ];
  const observedPaths = (p: PartitionCase) => ['/', p.dir, `${p.dir}/nested`, `${p.dir}/nested/deeper`, `${p.dir}/hello.raw`, `${p.dir}/nested/secret.conf`, p.link, `${p.dir}/long-link`, '/vendor/owned-by-1000'];

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-offline-test-'));
    // nobody must reach the payloads and its own directory below this one
    await chmod(work, 0o755);
    // A temp dir of our own (this file runs in its own process), so the leftover check
    // at the end cannot be confused by other test files running at the same time.
    privateTmp = path.join(work, 'tmp');
    await mkdir(privateTmp);
    savedTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    const release = await buildSyntheticRelease({ root: path.join(work, 'www'), usrPayloadBytes: 0 });
    baseImage = path.join(work, 'base.bin');
    await execa('cp', ['--sparse=always', release.imagePath, baseImage]);
    await rm(path.join(work, 'www'), { recursive: true, force: true });
    const table = await readGptFromFile(baseImage);
    const r = locateFlatcarPartition(table, 'ROOT');
    const o = locateFlatcarPartition(table, 'OEM');
    root = { name: 'ROOT', number: r.number, fsType: 'ext4', range: { offset: r.startByte, size: r.sizeBytes }, dir: '/opt/extensions', link: '/etc/extensions/hello.raw', linkTarget: '/opt/extensions/hello.raw' };
    oem = { name: 'OEM', number: o.number, fsType: 'btrfs', range: { offset: o.startByte, size: o.sizeBytes }, dir: '/sysext', link: '/sysext/active.raw', linkTarget: '/oem/sysext/hello.raw' };

    if (isRoot) await addVendorFile(baseImage, oem.range);
    oemOriginal = await btrfsFacts(baseImage, oem.range, work);

    const payloads = path.join(work, 'payloads');
    await mkdir(payloads, { mode: 0o755 });
    payloadA = path.join(payloads, 'a.raw');
    payloadB = path.join(payloads, 'b.raw');
    conf = path.join(payloads, 'hello.conf');
    await writeFile(payloadA, randomBytes(300 * 1024));
    await writeFile(payloadB, randomBytes(200 * 1024 + 123));
    await writeFile(conf, '[Transfer]\nVerify=false\n');
    for (const f of [payloadA, payloadB, conf]) await chmod(f, 0o644);
  });

  afterAll(async () => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function freshCopy(name: string, owner?: number): Promise<string> {
    const dir = path.join(work, name);
    await mkdir(dir, { recursive: true });
    const image = path.join(dir, 'image.bin');
    await execa('cp', ['--sparse=always', baseImage, image]);
    if (owner !== undefined) {
      await chown(dir, owner, owner);
      await chown(image, owner, owner);
    }
    return image;
  }

  it.skipIf(!isRoot)(`edits ROOT and OEM as root and as nobody alike: same files, modes, owners, links; clean fsck; no loop device for nobody${NEEDS_ROOT}`, async () => {
    // As root, in this process.
    const rootImage = await freshCopy('as-root');
    const ext4 = await openExt4Editor(rootImage, root.range);
    try {
      await applyOps(ext4, opsFor(root));
      expect((await ext4.readFile('/opt/extensions/hello.raw')).equals(await readFile(payloadB))).toBe(true);
      expect(await ext4.lstat('/etc/extensions/hello.raw')).toMatchObject({ type: 'symlink', uid: 0, gid: 0, target: '/opt/extensions/hello.raw' });
      expect(await ext4.lstat('/opt/extensions/long-link')).toMatchObject({ type: 'symlink', target: `/${'x'.repeat(100)}` });
      expect(await ext4.lstat('/opt/extensions/hello.raw')).toMatchObject({ type: 'file', size: 200 * 1024 + 123, mode: 0o644, uid: 0, gid: 0 });
      expect(await ext4.lstat('/opt/extensions/missing')).toBeUndefined();
      expect(await ext4.list('/opt/extensions')).toEqual(['hello.raw', 'long-link', 'nested']);
    } finally {
      await ext4.close();
    }
    const btrfs = await openBtrfsEditor(rootImage, oem.range);
    try {
      await applyOps(btrfs, opsFor(oem));
      expect((await btrfs.readFile('/sysext/hello.raw')).equals(await readFile(payloadB))).toBe(true);
      expect(await btrfs.lstat('/sysext/active.raw')).toMatchObject({ type: 'symlink', uid: 0, gid: 0, target: '/oem/sysext/hello.raw' });
      expect(await btrfs.lstat('/vendor/owned-by-1000')).toMatchObject({ type: 'file', uid: 1000, gid: 1000, mode: 0o640 });
      expect(await btrfs.list('/sysext')).toEqual(['active.raw', 'hello.raw', 'long-link', 'nested']);
    } finally {
      await btrfs.close();
    }

    // As nobody, in a child process, on an image file nobody owns.
    const nobodyImage = await freshCopy('as-nobody', NOBODY);
    const loopsBefore = await loopDevices(path.dirname(nobodyImage));
    const child = await runAsNobody(nobodyImage, [{ ...root, ops: opsFor(root) }, { ...oem, ops: opsFor(oem) }], undefined, path.dirname(nobodyImage));
    expect(await loopDevices(path.dirname(nobodyImage))).toBe(loopsBefore);
    for (const name of ['ROOT', 'OEM']) {
      expect(child[name], JSON.stringify(child[name])).toMatchObject({ ok: true, lstat: { type: 'file', uid: 0, gid: 0, mode: 0o644 } });
      expect(Buffer.from(child[name]!.hello!, 'base64').equals(await readFile(payloadB))).toBe(true);
    }
    // nobody's editors cleaned up after themselves
    expect(await flatbakeTempDirs(path.dirname(nobodyImage))).toEqual([]);

    for (const part of [root, oem]) {
      const asRoot = await observe(rootImage, part, observedPaths(part));
      const asNobody = await observe(nobodyImage, part, observedPaths(part));
      // mkfs.btrfs makes a new top directory: it must still be root's, as before.
      expect(asRoot['/']).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0 });
      const hello = asRoot[`${part.dir}/hello.raw`];
      expect(hello).toMatchObject({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 200 * 1024 + 123, sha256: sha256(await readFile(payloadB)), mtime: MTIME });
      expect(asRoot[`${part.dir}/nested/secret.conf`]).toMatchObject({ type: 'file', mode: 0o600, uid: 0, gid: 0, sha256: sha256(await readFile(conf)) });
      expect(asRoot[`${part.dir}/nested/deeper`]).toMatchObject({ type: 'dir', mode: 0o750, uid: 0, gid: 0 });
      expect(asRoot[part.link]).toMatchObject({ type: 'symlink', uid: 0, gid: 0, target: part.linkTarget });
      expect(asRoot[`${part.dir}/long-link`]).toMatchObject({ type: 'symlink', target: `/${'x'.repeat(100)}` });
      if (part.name === 'OEM') expect(asRoot['/vendor/owned-by-1000']).toMatchObject({ type: 'file', uid: 1000, gid: 1000, mode: 0o640 });
      else expect(asRoot['/vendor/owned-by-1000']).toBeNull();
      // Same filesystem contents whoever edited (timestamps of "now" differ, so compare without them).
      const strip = (o: Record<string, Observed | null>) => JSON.parse(JSON.stringify(o, (k, v) => (k === 'mtime' && v !== MTIME ? undefined : v))) as unknown;
      expect(strip(asNobody)).toEqual(strip(asRoot));
    }

    for (const image of [rootImage, nobodyImage]) {
      const fsck = await e2fsckClean(image, root.range);
      expect(fsck.exitCode, fsck.output).toBe(0);
      const facts = await btrfsFacts(image, oem.range, work);
      expect(facts.checkExit, facts.checkOutput).toBe(0);
      expect({ label: facts.label, fsid: facts.fsid }).toEqual({ label: oemOriginal.label, fsid: oemOriginal.fsid });
    }
    expect(oemOriginal.label).toBe('OEM');
    // The other partitions were not touched: outside ROOT's and OEM's ranges the bytes are the base image's.
    const size = (await stat(baseImage)).size;
    const edited = [root.range, oem.range].sort((a, b) => a.offset - b.offset);
    const gaps = [
      { from: 0, to: edited[0]!.offset },
      { from: edited[0]!.offset + edited[0]!.size, to: edited[1]!.offset },
      { from: edited[1]!.offset + edited[1]!.size, to: size },
    ];
    for (const image of [rootImage, nobodyImage]) {
      expect((await stat(image)).size).toBe(size);
      for (const gap of gaps) expect(await rangesEqual(baseImage, image, gap.from, gap.to - gap.from), `${image} ${gap.from}..${gap.to}`).toBe(true);
      expect(await rangesEqual(baseImage, image, oem.range.offset, oem.range.size)).toBe(false);
    }
  });

  it.skipIf(!isRoot)(`a user namespace stages root-owned files for nobody, and refuses clearly when the tree has other owners${NEEDS_ROOT}`, async (ctx) => {
    const probe = await execa('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'unshare', '--map-root-user', 'true'], { reject: false });
    if (probe.exitCode !== 0) ctx.skip('unprivileged user namespaces are not available here');
    const image = await freshCopy('as-nobody-userns', NOBODY);
    const child = await runAsNobody(image, [{ ...oem, ops: opsFor(oem) }], 'userns', path.dirname(image));
    // /vendor/owned-by-1000 cannot be restored inside the namespace: the editor must say so, not silently re-own it.
    expect(child.OEM).toMatchObject({ ok: false, name: 'CommandError' });
    expect(child.OEM!.hint).toMatch(/fakeroot/);
    expect(await flatbakeTempDirs(path.dirname(image))).toEqual([]);
  });

  it('refuses path traversal and writing through a symlink component', async () => {
    const image = await freshCopy('refusals');
    const editors = [await openExt4Editor(image, root.range), await openBtrfsEditor(image, oem.range)];
    try {
      for (const e of editors) {
        await expect(e.writeFile('/opt/../etc/passwd', conf)).rejects.toThrow(InputError);
        await expect(e.mkdirp('/../escape')).rejects.toThrow(InputError);
        await expect(e.lstat('relative')).rejects.toThrow(InputError);
        await e.mkdirp('/real');
        // An absolute link to a directory that exists: following it would write somewhere else.
        await e.symlink('/hop', '/real');
        await expect(e.writeFile('/hop/x.raw', conf)).rejects.toThrow(/through the symlink \/hop/);
        await expect(e.mkdirp('/hop/sub')).rejects.toThrow(/through the symlink \/hop/);
        await expect(e.symlink('/hop/l', '/x')).rejects.toThrow(DiskFormatError);
        // Replacing a directory with a file or link is refused, and mkdirp over a file is too.
        await expect(e.writeFile('/real', conf)).rejects.toThrow(/is a directory/);
        await expect(e.symlink('/real', '/x')).rejects.toThrow(/is a directory/);
        await e.writeFile('/real/f', conf);
        await expect(e.mkdirp('/real/f/sub')).rejects.toThrow(/not a directory/);
        // writeFile does not create parents
        await expect(e.writeFile('/no/such/dir/f', conf)).rejects.toThrow(/does not exist/);
        expect(await e.list('/real')).toEqual(['f']);
        await e.commit();
      }
    } finally {
      for (const e of editors) await e.close();
    }
    const fsck = await e2fsckClean(image, root.range);
    expect(fsck.exitCode, fsck.output).toBe(0);
    const facts = await btrfsFacts(image, oem.range, work);
    expect(facts.checkExit, facts.checkOutput).toBe(0);
  });

  it('turns failed debugfs commands into errors naming the command, even though debugfs exits 0', async () => {
    const image = await freshCopy('debugfs-errors');
    const scratch = await mkdtemp(path.join(work, 'debugfs-'));
    const target = { device: `${image}?offset=${root.range.offset}`, label: 'ROOT in test', workDir: scratch };
    // /opt exists on the synthetic ROOT: the first mkdir fails, the others work.
    const steps = await runDebugfs(target, ['mkdir "/opt"', 'stat "/"', 'mkdir "/brand-new"'], { write: true });
    expect(steps[0]!.errors.join('\n')).toMatch(/already exists/);
    expect(steps[1]!.errors).toEqual([]);
    expect(steps[1]!.stdout).toMatch(/Type: directory/);
    expect(steps[2]!.errors).toEqual([]);
    expect(() => assertStepsOk(steps, 'ROOT in test')).toThrow(/debugfs `mkdir "\/opt"` failed on ROOT in test: .*already exists/);
    const fsck = await e2fsckClean(image, root.range);
    expect(fsck.exitCode, fsck.output).toBe(0);
    // Each editor refuses the other's filesystem.
    await expect(openExt4Editor(image, oem.range)).rejects.toThrow(/no ext4 filesystem found for ROOT/);
    await expect(openBtrfsEditor(image, root.range)).rejects.toThrow(/no btrfs filesystem found for OEM/);
    await expect(openExt4Editor(image, { offset: root.range.offset, size: root.range.size * 100 })).rejects.toThrow(/beyond the end/);
  });

  it('refuses a file too large for the partition and leaves the image unchanged', async () => {
    const image = await freshCopy('too-large');
    const huge = path.join(work, 'huge.raw');
    // Sparse on the host: only its size matters to the check.
    await writeFile(huge, '');
    await truncate(huge, oem.range.size + root.range.size);
    const before = await sha256File(image);
    const ext4 = await openExt4Editor(image, root.range);
    try {
      const free = await ext4.freeBytes();
      expect(free).toBeGreaterThan(0);
      expect(free).toBeLessThan(root.range.size);
      await ext4.mkdirp('/opt/extensions');
      const before2 = await sha256File(image);
      const err = await ext4.writeFile('/opt/extensions/huge.raw', huge).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartitionFullError);
      expect((err as Error).message).toMatch(/not enough space on ROOT for \/opt\/extensions\/huge\.raw/);
      expect(await sha256File(image)).toBe(before2);
      expect(await ext4.lstat('/opt/extensions/huge.raw')).toBeUndefined();
    } finally {
      await ext4.close();
    }
    const btrfs = await openBtrfsEditor(await freshCopy('too-large-oem'), oem.range);
    const oemImage = path.join(work, 'too-large-oem', 'image.bin');
    try {
      const err = await btrfs.writeFile('/huge.raw', huge).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartitionFullError);
      expect((err as Error).message).toMatch(/not enough space on OEM/);
      await btrfs.commit();
      expect(await sha256File(oemImage)).toBe(before);
    } finally {
      await btrfs.close();
    }
    await rm(huge);
  });

  it('OEM: freeBytes is exactly what mkfs.btrfs accepts; a rebuild that outgrows the partition is refused at commit, image unchanged', async () => {
    const image = await freshCopy('oem-full');
    const editor = await openBtrfsEditor(image, oem.range);
    const big = path.join(work, 'big.raw');
    try {
      const free = await editor.freeBytes();
      expect(free).toBeGreaterThan(oem.range.size / 2);
      // One sector more than free is refused up front.
      await writeFile(big, '');
      await truncate(big, free + 4096);
      await expect(editor.writeFile('/big.raw', big)).rejects.toThrow(PartitionFullError);
      // Exactly free fits, and mkfs.btrfs agrees.
      await truncate(big, free);
      await editor.writeFile('/big.raw', big);
      expect(await editor.freeBytes()).toBe(0);
      await editor.commit();
      const facts = await btrfsFacts(image, oem.range, work);
      expect(facts.checkExit, facts.checkOutput).toBe(0);
      const committed = await sha256File(image);
      // Links do not check space (they are tiny), but each adds an inode to mkfs' estimate;
      // enough of them cross a metadata block group: the rebuild must be refused, not grown.
      for (let i = 0; i < 600; i++) await editor.symlink(`/l${i}`, '/big.raw');
      const err = await editor.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PartitionFullError);
      expect((err as Error).message).toMatch(/do not fit/);
      expect(await sha256File(image)).toBe(committed);
    } finally {
      await editor.close();
      await rm(big, { force: true });
    }
  });

  it('left no temp dirs of its own behind', async () => {
    expect(os.tmpdir()).toBe(privateTmp);
    expect(await flatbakeTempDirs(privateTmp)).toEqual([]);
  });
});
