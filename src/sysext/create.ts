/**
 * `flatbake sysext create`: turn a directory tree into a sysext image, reproducibly.
 *
 * Pipeline: validate -> stage (copy, never touching the source) -> write extension-release
 * -> normalise owners and times -> build under a temp name in the output dir -> check -> publish.
 *
 * Time: every timestamp is SOURCE_DATE_EPOCH when set, else 0 (1970-01-01), so that images are
 * reproducible by default; a sysext's file times carry no meaning once merged.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lchown, lstat, lutimes, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CommandError, InputError } from '../errors.js';
import { run } from '../util/exec.js';
import { checkSysext, formatFindings, USR_SBIN_HINT, USR_SBIN_PROBLEM, type Finding } from './check.js';
import { renderExtensionRelease, validateSysextName } from './extension-release.js';
import { listExt4 } from './image-reader.js';
import { commitFile, tempNameFor } from '../util/atomic-write.js';
import { makeTempDir } from '../util/tempdir.js';

import { SYSEXT_FORMATS, type SysextFormat } from './formats.js';

export { SYSEXT_FORMATS, type SysextFormat };

/** Formats whose images are byte-identical for the same inputs. btrfs-progs 6.x has no way to fix
 * its device UUID, chunk-tree UUID and generation-time fields, so btrfs images differ run to run. */
export const REPRODUCIBLE_FORMATS: readonly SysextFormat[] = ['squashfs', 'erofs', 'ext4'];

export interface CreateSysextOptions {
  sourceDir: string;
  name: string;
  outputDir: string;
  /** `_any` (default) or an os-release ID such as `flatcar`. */
  os?: string;
  arch?: string;
  /** Set EXTENSION_RELOAD_MANAGER=1 (the image ships units). */
  reload?: boolean;
  format?: SysextFormat;
  /** Default: $SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number;
  /** Replace an existing output file. */
  force?: boolean;
  /** Extra extension-release fields. */
  extra?: Record<string, string>;
}

export interface CreateSysextResult {
  path: string;
  sha256: string;
  size: number;
  format: SysextFormat;
  /** Warnings and notes of the post-build check (errors make create fail). */
  findings: Finding[];
}

const ALLOWED_TOP_LEVEL = ['usr', 'opt'];

/** SOURCE_DATE_EPOCH from the environment, else 0. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw)) throw new InputError(`SOURCE_DATE_EPOCH="${raw}" is not a number of seconds since 1970`);
  return Number(raw);
}

/** A UUID derived from its inputs (version 8, "custom"), so reproducible builds get the same one. */
export function deterministicUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\0')).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export interface MksquashfsFeatures {
  /** -xattrs-exclude exists from squashfs-tools 4.6 on. */
  xattrsExclude: boolean;
  /** -reproducible exists from 4.4 on (and is the default from 4.5). */
  reproducible: boolean;
}

let mksquashfsFeaturesCache: Promise<MksquashfsFeatures> | undefined;

export function mksquashfsFeatures(): Promise<MksquashfsFeatures> {
  mksquashfsFeaturesCache ??= run('mksquashfs', ['-help'], { okExitCodes: [0, 1], purpose: 'build squashfs images' }).then(({ stdout, stderr }) => {
    const help = stdout + stderr;
    return { xattrsExclude: /-xattrs-exclude\b/.test(help), reproducible: /-reproducible\b/.test(help) };
  });
  return mksquashfsFeaturesCache;
}

/** btrfs properties (btrfs.compression, ...) are stored as xattrs; they mean nothing in an image. */
const BTRFS_XATTRS = 'btrfs.*';

export function squashfsArgs(staging: string, out: string, epoch: number, features: MksquashfsFeatures): string[] {
  return [
    staging, out, '-noappend', '-all-root',
    // gzip: every Flatcar kernel reads it, and a fixed compressor keeps the bytes stable.
    '-comp', 'gzip',
    '-mkfs-time', String(epoch), '-all-time', String(epoch),
    ...(features.reproducible ? ['-reproducible'] : []),
    // Older mksquashfs lacks it; the staging copy already dropped btrfs.* xattrs.
    ...(features.xattrsExclude ? ['-xattrs-exclude', '^btrfs\\.'] : []),
    '-quiet', '-no-progress',
  ];
}

export function erofsArgs(staging: string, out: string, epoch: number, uuid: string): string[] {
  return ['--quiet', '-zlz4hc', '-T', String(epoch), '-U', uuid, '--all-root', out, staging];
}

export function ext4Args(staging: string, out: string, sizeBytes: number, inodes: number, uuid: string, hashSeed: string): string[] {
  return [
    '-q', '-F', '-t', 'ext4', '-b', '4096', '-I', '256', '-m', '0', '-N', String(inodes),
    // Read-only image: no journal, no room to grow.
    '-O', '^has_journal,^resize_inode',
    '-U', uuid, '-E', `root_owner=0:0,hash_seed=${hashSeed}`,
    '-d', staging, out, `${Math.ceil(sizeBytes / 1024)}k`,
  ];
}

export function btrfsArgs(staging: string, out: string, uuid: string): string[] {
  return ['-q', '-m', 'single', '-d', 'single', '-U', uuid, '--rootdir', staging, '--shrink', out];
}

/** tar options for the staging copy: keep xattrs (file capabilities!) except btrfs.*, stable order. */
export function stagingTarArgs(mode: 'create' | 'extract', dir: string, tarFile: string): string[] {
  const xattrs = ['--xattrs', '--xattrs-include=*', `--xattrs-exclude=${BTRFS_XATTRS}`];
  return mode === 'create'
    ? ['--create', '--file', tarFile, '--directory', dir, '--sort=name', '--numeric-owner', ...xattrs, '.']
    : ['--extract', '--file', tarFile, '--directory', dir, '--same-permissions', '--no-same-owner', ...xattrs];
}

async function refuseStrayTopLevel(sourceDir: string): Promise<void> {
  const stray = (await readdir(sourceDir)).filter((n) => !ALLOWED_TOP_LEVEL.includes(n)).sort();
  if (stray.length > 0) {
    throw new InputError(
      `${sourceDir} has top-level entries a sysext cannot hold: ${stray.join(', ')}`,
      'a sysext contains only usr/ and opt/; move the files under usr/ (e.g. usr/lib/NAME) or opt/',
    );
  }
}

interface TreeStats {
  dataBytes: number;
  inodes: number;
}

/** Set every owner to root and every time to EPOCH; returns what ext4 sizing needs. */
async function normaliseTree(root: string, epoch: number, chownRequired: boolean): Promise<TreeStats> {
  const isRoot = process.getuid?.() === 0;
  if (chownRequired && !isRoot) {
    throw new InputError('building ext4 and btrfs sysexts needs root: their mkfs copies file owners as they are on disk');
  }
  const stats: TreeStats = { dataBytes: 0, inodes: 0 };
  const block = 4096;
  async function visit(p: string): Promise<void> {
    const st = await lstat(p);
    stats.inodes++;
    if (st.isDirectory()) {
      const names = await readdir(p);
      stats.dataBytes += block * Math.max(1, Math.ceil(names.reduce((n, s) => n + Buffer.byteLength(s) + 16, 24) / block));
      for (const name of names) await visit(path.join(p, name));
    } else if (st.isFile()) {
      stats.dataBytes += Math.ceil(st.size / block) * block;
    } else if (st.isSymbolicLink()) {
      if (st.size > 59) stats.dataBytes += block;
    }
    if (isRoot) await lchown(p, 0, 0);
    await lutimes(p, epoch, epoch);
  }
  await visit(root);
  return stats;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function buildExt4(staging: string, out: string, name: string, epoch: number, tree: TreeStats): Promise<void> {
  // e2fsprogs treats a fake time of 0 as "unset" and would use the clock; 1 keeps it fixed.
  const env = { E2FSPROGS_FAKE_TIME: String(Math.max(epoch, 1)) };
  const inodes = tree.inodes + 16;
  let size = Math.max(4 << 20, Math.ceil(((tree.dataBytes + inodes * 256) * 1.25 + (2 << 20)) / (1 << 20)) * (1 << 20));
  const uuid = deterministicUuid('flatbake-sysext-ext4', name, String(epoch));
  const hashSeed = deterministicUuid('flatbake-sysext-ext4-hash-seed', name, String(epoch));
  for (let attempt = 0; ; attempt++) {
    await rm(out, { force: true });
    try {
      await run('mkfs.ext4', ext4Args(staging, out, size, inodes, uuid, hashSeed), { env, purpose: 'build the ext4 sysext' });
      break;
    } catch (err) {
      // The size is an estimate from the tree; one retry with twice the room covers its error.
      if (attempt > 0 || !(err instanceof CommandError)) throw err;
      size *= 2;
    }
  }
  // mkfs copies each inode's ctime from the staging tree, which no one can set; fix them here.
  const entries = await listExt4(out);
  const inos = [2, ...entries.map((e) => e.ino)];
  const lostFound = await run('debugfs', ['-R', 'ls -p /', out]);
  const lf = /^\/(\d+)\/\d+\/\d+\/\d+\/lost\+found\//m.exec(lostFound.stdout);
  if (lf) inos.push(Number(lf[1]));
  const commands = inos.flatMap((ino) => [`sif <${ino}> ctime @${epoch}`, `sif <${ino}> crtime @${epoch}`]);
  await run('debugfs', ['-w', '-f', '-', out], { input: commands.join('\n') + '\n', env, purpose: 'fix ext4 inode times' });
}

export async function createSysext(options: CreateSysextOptions): Promise<CreateSysextResult> {
  const { sourceDir, name, outputDir } = options;
  const format = options.format ?? 'squashfs';
  const epoch = options.sourceDateEpoch ?? sourceDateEpoch();
  validateSysextName(name);
  if (!SYSEXT_FORMATS.includes(format)) throw new InputError(`unknown sysext format "${format}"`, `use one of: ${SYSEXT_FORMATS.join(', ')}`);
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new InputError(`invalid SOURCE_DATE_EPOCH ${epoch}`);
  const release = renderExtensionRelease({ os: options.os ?? '_any', arch: options.arch, reload: options.reload, extra: options.extra });

  const sourceStat = await stat(sourceDir).catch(() => undefined);
  if (!sourceStat?.isDirectory()) throw new InputError(`${sourceDir} is not a directory`);
  await refuseStrayTopLevel(sourceDir);
  // Before any work: the check of the built image would refuse it too, less directly.
  const sbin = await lstat(path.join(sourceDir, 'usr/sbin')).catch(() => undefined);
  if (sbin && !sbin.isSymbolicLink()) throw new InputError(`${sourceDir} has ${USR_SBIN_PROBLEM}`, USR_SBIN_HINT);

  await mkdir(outputDir, { recursive: true });
  const finalPath = path.join(outputDir, `${name}.raw`);
  if (!options.force && (await lstat(finalPath).catch(() => undefined))) {
    throw new InputError(`${finalPath} exists`, 'pass --force to replace it');
  }

  const temp = await makeTempDir('flatbake-sysext-');
  const tmpOut = tempNameFor(finalPath);
  try {
    const staging = path.join(temp.path, 'root');
    const tarFile = path.join(temp.path, 'tree.tar');
    await mkdir(staging);
    await run('tar', stagingTarArgs('create', sourceDir, tarFile), { purpose: 'copy the source tree' });
    await run('tar', stagingTarArgs('extract', staging, tarFile), { purpose: 'copy the source tree' });
    await rm(tarFile);
    await chmod(staging, 0o755);

    const releaseDir = path.join(staging, 'usr/lib/extension-release.d');
    await mkdir(releaseDir, { recursive: true, mode: 0o755 });
    await writeFile(path.join(releaseDir, `extension-release.${name}`), release, { mode: 0o644 });

    const tree = await normaliseTree(staging, epoch, format === 'ext4' || format === 'btrfs');
    switch (format) {
      case 'squashfs':
        await run('mksquashfs', squashfsArgs(staging, tmpOut, epoch, await mksquashfsFeatures()), { purpose: 'build the squashfs sysext' });
        break;
      case 'erofs':
        await run('mkfs.erofs', erofsArgs(staging, tmpOut, epoch, deterministicUuid('flatbake-sysext-erofs', name, String(epoch))), { purpose: 'build the erofs sysext' });
        break;
      case 'ext4':
        await buildExt4(staging, tmpOut, name, epoch, tree);
        break;
      case 'btrfs':
        await writeFile(tmpOut, ''); // mkfs.btrfs wants an existing file to write into
        await run('mkfs.btrfs', btrfsArgs(staging, tmpOut, deterministicUuid('flatbake-sysext-btrfs', name, String(epoch))), { purpose: 'build the btrfs sysext' });
        break;
    }
    await temp.remove();

    const check = await checkSysext(tmpOut, { expectName: name });
    if (!check.ok) {
      const errors = check.findings.filter((f) => f.severity === 'error');
      throw new InputError(`the built sysext ${name} fails its checks, so it was not written:\n${formatFindings({ findings: errors })}`, 'fix the source tree, or run `flatbake sysext check` on an image for details');
    }
    // Without --force, a name that appeared meanwhile is kept (commitFile links instead of renaming).
    await commitFile(tmpOut, finalPath, { noReplace: !options.force }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') throw new InputError(`${finalPath} exists`, 'pass --force to replace it');
      throw err;
    });
    const { size } = await stat(finalPath);
    return { path: finalPath, sha256: await sha256File(finalPath), size, format, findings: check.findings };
  } finally {
    await rm(tmpOut, { force: true });
    await temp.remove();
  }
}
