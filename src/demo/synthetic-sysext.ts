/**
 * Small but real systemd-sysext images (squashfs), as the sysext bakery and
 * Flatcar's OEM sysexts publish them.
 */
import { sysupdateTransfer as releaseTransfer } from '../bakery-release/sysupdate.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.js';
import { run } from '../util/exec.js';
import { ownedTempDir } from '../util/owner.js';
import { stampTree } from './synthetic-disk.js';
import type { Arch } from '../arch.js';
import { SYSEXT_NAME_PATTERN } from '../sysext/extension-release.js';

/** A file to put in the sysext: text/bytes, or with an explicit mode. */
export type SysextFile = string | Buffer | { content: string | Buffer; mode?: number };

export interface MakeSyntheticSysextOptions {
  /** Directory the .raw is written to (created if missing). */
  dir: string;
  name: string;
  version: string;
  arch?: Arch;
  /** Paths relative to the sysext root (e.g. `usr/bin/foo`); default: an executable `usr/bin/NAME`. */
  files?: Record<string, SysextFile>;
  /** Keys merged over the default extension-release (ID, SYSEXT_LEVEL, ARCHITECTURE); null removes a key. */
  extensionRelease?: Record<string, string | null>;
  /** Output file name; default `NAME-VERSION-ARCH.raw` as the bakery names them. */
  fileName?: string;
  /** Timestamp for every file and the squashfs superblock. */
  sourceDateEpoch?: number;
}

export interface SyntheticSysext {
  name: string;
  version: string;
  arch: Arch;
  file: string;
  sha256: string;
  size: number;
}

export const DEFAULT_SOURCE_DATE_EPOCH = 1735689600; // 2025-01-01T00:00:00Z

export async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  // Large reads: an 8 GiB image is hashed in seconds, not tens of seconds of 64 KiB chunks.
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

function formatRelease(entries: Record<string, string | null>): string {
  return (
    Object.entries(entries)
      .filter((e): e is [string, string] => e[1] !== null)
      .map(([k, v]) => (/^[\w.+:\/-]*$/.test(v) ? `${k}=${v}` : `${k}="${v.replace(/(["\\$`])/g, '\\$1')}"`))
      .join('\n') + '\n'
  );
}

/** Build `NAME-VERSION-ARCH.raw` with mksquashfs from a staged tree; returns its path and digest. */
export async function makeSyntheticSysext(options: MakeSyntheticSysextOptions): Promise<SyntheticSysext> {
  const { name, version } = options;
  const arch = options.arch ?? 'x86-64';
  if (!SYSEXT_NAME_PATTERN.test(name)) throw new InputError(`invalid sysext name ${JSON.stringify(name)}`, 'use letters, digits and _ . + -');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+~-]*$/.test(version)) throw new InputError(`invalid sysext version ${JSON.stringify(version)}`);
  const epoch = options.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH;
  const fileName = options.fileName ?? `${name}-${version}-${arch}.raw`;
  if (fileName.includes('/')) throw new InputError(`sysext file name must not contain '/': ${fileName}`);
  await mkdir(options.dir, { recursive: true });
  const out = path.join(path.resolve(options.dir), fileName);

  const files: Record<string, SysextFile> = options.files ?? {
    [`usr/bin/${name}`]: { content: `#!/bin/sh\necho "${name} ${version} (synthetic sysext)"\n`, mode: 0o755 },
  };
  const release = formatRelease({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: arch, ...options.extensionRelease });

  const staging = await ownedTempDir(os.tmpdir(), 'flatbake-sysext-');
  try {
    const tree = path.join(staging, 'tree');
    const all: Record<string, SysextFile> = { ...files, [`usr/lib/extension-release.d/extension-release.${name}`]: release };
    for (const [rel, spec] of Object.entries(all)) {
      const normalised = path.posix.normalize(rel);
      if (normalised.startsWith('..') || path.posix.isAbsolute(normalised)) throw new InputError(`sysext file path escapes the image: ${rel}`);
      const target = path.join(tree, normalised);
      await mkdir(path.dirname(target), { recursive: true });
      const content = typeof spec === 'string' || Buffer.isBuffer(spec) ? spec : spec.content;
      await writeFile(target, content);
      const mode = typeof spec === 'object' && !Buffer.isBuffer(spec) ? spec.mode : undefined;
      await chmod(target, mode ?? (String(content).startsWith('#!') ? 0o755 : 0o644));
    }
    await stampTree(tree, epoch);
    await run(
      'mksquashfs',
      // The staged tree carries no xattrs worth keeping (and none of btrfs' own), so store none.
      [tree, out, '-noappend', '-all-root', '-no-xattrs', '-mkfs-time', String(epoch), '-all-time', String(epoch), '-quiet', '-no-progress'],
      // mksquashfs refuses SOURCE_DATE_EPOCH together with explicit times; drop an inherited one.
      { env: { SOURCE_DATE_EPOCH: undefined }, purpose: `build the synthetic sysext ${fileName}` },
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const { sha256, size } = await sha256File(out);
  return { name, version, arch, file: out, sha256, size };
}

/** A systemd-sysupdate transfer for one bakery stream, as the bakery publishes `NAME.conf`. */
export function sysupdateTransfer(name: string, bakeryUrl: string): string {
  return releaseTransfer({ recipe: name, matchPattern: `${name}-@v-%a.raw`, baseUrl: bakeryUrl.endsWith('/') ? bakeryUrl : `${bakeryUrl}/` });
}

/** The bakery's `noop.conf`: keeps systemd-sysupdate happy when no other transfer is installed. */
export const NOOP_TRANSFER = ['[Source]', 'Type=regular-file', 'Path=/', 'MatchPattern=invalid@v.raw', '', '[Target]', 'Type=regular-file', 'Path=/', ''].join('\n');
