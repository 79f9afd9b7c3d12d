/**
 * A synthetic Flatcar release, built locally with the real tools, laid out the
 * way the release servers, releases.json and the sysext bakery publish theirs.
 * Tests, `flatbake demo` and the benchmark serve it on 127.0.0.1 instead of
 * downloading hundreds of megabytes from the Internet.
 */
import { boardFor } from '../flatcar-release/arch.js';
import { channelOfVersion, compareVersions } from '../flatcar-release/resolve.js';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.js';
import { run, which } from '../util/exec.js';
import { ownedTempDir } from '../util/owner.js';
import { buildDisk, computeLayout, usrPayloadLimit, type PartitionLayoutEntry, type SyntheticScale } from './synthetic-disk.js';
import { DEFAULT_SOURCE_DATE_EPOCH, makeSyntheticSysext, NOOP_TRANSFER, sha256File, sysupdateTransfer } from './synthetic-sysext.js';
import { createThrowawaySigner } from './signing.js';
import { prepareBootParts } from './bootable/index.js';

export { makeSyntheticSysext, sysupdateTransfer, type MakeSyntheticSysextOptions, type SyntheticSysext } from './synthetic-sysext.js';
export { computeLayout, writePartitionTable, type DiskLayout, type PartitionLayoutEntry, type SyntheticScale } from './synthetic-disk.js';

export type { Channel } from '../flatcar-release/resolve.js';
import type { Channel } from '../flatcar-release/resolve.js';
import type { Arch } from '../arch.js';

export interface SyntheticSysextSpec {
  name: string;
  version: string;
  arch?: Arch;
}

export interface BuildSyntheticReleaseOptions {
  /** Directory to fill (created if missing); serve it with serveStatic(). */
  root: string;
  version?: string;
  /** Default: from the version's middle number. */
  channel?: Channel;
  arch?: Arch;
  scale?: SyntheticScale;
  /** Random, incompressible bytes in a file on USR-A (default 8 MiB small, 450 MB full). */
  usrPayloadBytes?: number;
  /** Bakery sysexts published under `<root>/extensions/`. */
  sysexts?: SyntheticSysextSpec[];
  /** OEM ids whose `oem-<id>.raw` sysexts are published beside the image. */
  oemIds?: string[];
  /** More versions listed in releases.json (no files are published for them). */
  extraVersions?: string[];
  /** URL written into the bakery's sysupdate transfers (`[Source] Path=`). */
  bakeryUrl?: string;
  /** One timestamp for files, filesystems and the release date. */
  sourceDateEpoch?: number;
  /**
   * Make the disk bootable (x86-64 only): a Debian kernel, initramfs, GRUB and a
   * systemd /usr, fetched with apt once and cached under this directory.
   */
  bootable?: { cacheDir: string };
  /** Progress lines ("building disk", ...). */
  onProgress?: (message: string) => void;
}

export interface SyntheticBakerySysext {
  name: string;
  version: string;
  arch: Arch;
  /** The `.raw` under `<root>/extensions/`. */
  file: string;
  /** Its sysupdate transfer `NAME.conf`. */
  conf: string;
  sha256: string;
  size: number;
}

export interface SyntheticOemSysext {
  id: string;
  name: string;
  file: string;
  signature: string;
  sha256: string;
  size: number;
}

export interface SyntheticRelease {
  root: string;
  version: string;
  channel: Channel;
  board: string;
  arch: Arch;
  scale: SyntheticScale;
  /** The uncompressed disk image (outside the release directory), kept for comparisons. */
  imagePath: string;
  imageSha256: string;
  /** `<root>/<channel>/<board>/<version>` */
  releaseDir: string;
  files: {
    imageBz2: string;
    imageBz2Signature: string;
    versionTxt: string;
    versionTxtSignature: string;
    releasesJson: string;
    extensionsDir: string;
    sha256sums: string;
    noopConf: string;
    /** `<root>/<channel>/<board>/current`, a symlink to the version directory. */
    currentAlias: string;
  };
  keyFile: string;
  wrongKeyFile: string;
  fingerprint: string;
  wrongFingerprint: string;
  sysexts: SyntheticBakerySysext[];
  oemSysexts: SyntheticOemSysext[];
  diskBytes: number;
  layout: PartitionLayoutEntry[];
  /** Wall time of each step in milliseconds. */
  timings: Record<string, number>;
}

const VERSION_PATTERN = /^(\d+)\.(\d+)\.(\d+)$/;
const OEM_ID_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

/** The release server's board directory for an architecture. */
export function boardOfArch(arch: Arch): string {
  return boardFor(arch);
}

/** Release dates in releases.json look like `2025-01-01 00:00:00 +0000`. */
function releaseDate(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000');
}

/** version.txt as published beside the image (shell-style assignments). */
export function versionTxt(version: string, buildId: string): string {
  const [build, branch, patch] = version.split('.');
  return [
    `FLATCAR_BUILD=${build}`,
    `FLATCAR_BRANCH=${branch}`,
    `FLATCAR_PATCH=${patch}`,
    `FLATCAR_VERSION=${version}`,
    `FLATCAR_VERSION_ID=${version}`,
    `FLATCAR_BUILD_ID="${buildId}"`,
    `FLATCAR_SDK_VERSION=${build}.0.0`,
    '',
  ].join('\n');
}

/** releases.json: an object keyed by version plus the non-version `current` pointer (latest stable wins). */
export function releasesIndex(versions: string[], epochSeconds: number, channelOverrides: Record<string, Channel> = {}): Record<string, unknown> {
  const unique = [...new Set(versions)].sort(compareVersions);
  const channelOf = (v: string) => channelOverrides[v] ?? channelOfVersion(v);
  const index: Record<string, unknown> = {};
  unique.forEach((v, i) => {
    const major = v.split('.')[0];
    index[v] = {
      channel: channelOf(v),
      architectures: ['amd64', 'arm64'],
      // Older versions get earlier dates so the index reads like a history.
      release_date: releaseDate(epochSeconds - (unique.length - 1 - i) * 86400),
      major_software: { kernel: ['6.6.60'], systemd: ['256'], docker: ['27.2.1'], ignition: ['2.20.0'] },
      release_notes: `Synthetic release ${v} (SDK ${major}.0.0)`,
    };
  });
  const stable = unique.filter((v) => channelOf(v) === 'stable');
  const current = stable.at(-1) ?? unique.at(-1);
  if (current) index.current = { ...(index[current] as object) };
  return index;
}

/** Keys of a real OEM sysext's extension-release: the OS match plus the SYSEXT_* metadata /oem/oem-release is made from. */
function oemExtensionRelease(id: string, version: string, arch: Arch): Record<string, string> {
  return {
    ID: 'flatcar',
    VERSION_ID: version,
    SYSEXT_LEVEL: '1.0',
    ARCHITECTURE: arch,
    SYSEXT_SCOPE: 'system',
    SYSEXT_ID: `oem-${id}`,
    SYSEXT_NAME: `Synthetic ${id} OEM`,
    SYSEXT_VERSION_ID: version,
    SYSEXT_HOME_URL: 'https://flatcar.org/',
    SYSEXT_BUG_REPORT_URL: 'https://issues.flatcar.org',
  };
}

async function compressBzip2(file: string): Promise<string> {
  // lbzip2 uses every core and writes the same .bz2 format bzip2 reads.
  const tool = (await which('lbzip2')) ? 'lbzip2' : 'bzip2';
  await run(tool, ['-k', '-f', '-9', file], { purpose: 'compress the synthetic image' });
  return `${file}.bz2`;
}

export { channelOfVersion };

/** Build a complete synthetic release under options.root (see the module comment). */
export async function buildSyntheticRelease(options: BuildSyntheticReleaseOptions): Promise<SyntheticRelease> {
  const version = options.version ?? '4459.2.1';
  const versionOk = (v: string) => {
    if (!VERSION_PATTERN.test(v)) throw new InputError(`not a Flatcar version: ${JSON.stringify(v)}`, 'use MAJOR.MINOR.PATCH, e.g. 4459.2.1');
  };
  versionOk(version);
  (options.extraVersions ?? []).forEach(versionOk);
  const channel = options.channel ?? channelOfVersion(version);
  if (!['alpha', 'beta', 'stable', 'lts'].includes(channel)) throw new InputError(`unknown channel ${JSON.stringify(channel)}`);
  const arch: Arch = options.arch ?? 'x86-64';
  if (arch !== 'x86-64' && arch !== 'arm64') throw new InputError(`unknown architecture ${JSON.stringify(arch)}`, 'use x86-64 or arm64');
  const board = boardOfArch(arch);
  const scale: SyntheticScale = options.scale ?? 'small';
  if (scale !== 'small' && scale !== 'full') throw new InputError(`unknown scale ${JSON.stringify(scale)}`, 'use small or full');
  const usrPayloadBytes = options.usrPayloadBytes ?? (scale === 'full' ? 450_000_000 : 8 * 1024 * 1024);
  if (!Number.isSafeInteger(usrPayloadBytes) || usrPayloadBytes < 0) throw new InputError(`invalid usrPayloadBytes ${usrPayloadBytes}`);
  const extraVersions = options.extraVersions ?? [];
  extraVersions.forEach((v) => channelOfVersion(v));
  const oemIds = options.oemIds ?? [];
  for (const id of oemIds) if (!OEM_ID_PATTERN.test(id)) throw new InputError(`invalid OEM id ${JSON.stringify(id)}`);
  const epoch = options.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH;
  const bakeryUrl = options.bakeryUrl ?? 'https://extensions.flatcar.org/extensions';
  const progress = options.onProgress ?? (() => {});
  const timings: Record<string, number> = {};
  const timed = async <T>(step: string, fn: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    progress(step);
    try {
      return await fn();
    } finally {
      timings[step] = Math.round(performance.now() - start);
    }
  };

  const root = path.resolve(options.root);
  const releaseDir = path.join(root, channel, board, version);
  const localDir = path.join(root, 'local');
  const extensionsDir = path.join(root, 'extensions');

  const seed = `flatbake-synthetic:${version}:${board}:${scale}`;
  const buildId = `${releaseDate(epoch).slice(0, 10)}-0000`;
  const layout = computeLayout(scale, seed);
  const usrA = layout.partitions.find((p) => p.label === 'USR-A');
  if (usrA && usrPayloadBytes > usrPayloadLimit(usrA)) {
    throw new InputError(`usrPayloadBytes ${usrPayloadBytes} does not fit the '${scale}' USR-A filesystem`, `use at most ${usrPayloadLimit(usrA)} bytes`);
  }
  if (options.bootable && arch !== 'x86-64') throw new InputError(`a bootable synthetic release is x86-64 only, not ${arch}`, 'build the arm64 release without bootable');
  const boot = options.bootable ? await timed('bootable parts', () => prepareBootParts(options.bootable!.cacheDir, progress)) : undefined;
  const imagePath = path.join(localDir, 'flatcar_production_image.bin');
  await mkdir(releaseDir, { recursive: true });
  await mkdir(localDir, { recursive: true });
  await mkdir(extensionsDir, { recursive: true });
  // Named for its owner: if we are killed, the next bake removes it (util/owner.ts).
  const work = await ownedTempDir(os.tmpdir(), 'flatbake-synth-');
  const signerPromise = createThrowawaySigner();
  try {
    const diskJob = timed('disk image', () =>
      buildDisk(imagePath, layout, work, { version, arch, board, seed, sourceDateEpoch: epoch, usrPayloadBytes, buildId, boot, group: channel }),
    );
    const bakeryJob = timed('bakery sysexts', async () => {
      const out: SyntheticBakerySysext[] = [];
      for (const spec of options.sysexts ?? []) {
        const made = await makeSyntheticSysext({ dir: extensionsDir, name: spec.name, version: spec.version, arch: spec.arch ?? arch, sourceDateEpoch: epoch });
        const conf = path.join(extensionsDir, `${spec.name}.conf`);
        await writeFile(conf, sysupdateTransfer(spec.name, bakeryUrl));
        out.push({ name: made.name, version: made.version, arch: made.arch, file: made.file, conf, sha256: made.sha256, size: made.size });
      }
      const sums = [...out].sort((a, b) => path.basename(a.file).localeCompare(path.basename(b.file)));
      await writeFile(path.join(extensionsDir, 'SHA256SUMS'), sums.map((s) => `${s.sha256}  ${path.basename(s.file)}\n`).join(''));
      await writeFile(path.join(extensionsDir, 'noop.conf'), NOOP_TRANSFER);
      return out;
    });
    const oemJob = timed('OEM sysexts', async () => {
      const out: Array<{ id: string; made: Awaited<ReturnType<typeof makeSyntheticSysext>> }> = [];
      for (const id of oemIds) {
        const made = await makeSyntheticSysext({
          dir: releaseDir,
          name: `oem-${id}`,
          version,
          arch,
          fileName: `oem-${id}.raw`,
          sourceDateEpoch: epoch,
          files: { [`usr/share/oem/${id}/README`]: `Synthetic OEM payload for ${id}, Flatcar ${version}\n` },
          extensionRelease: oemExtensionRelease(id, version, arch),
        });
        out.push({ id, made });
      }
      return out;
    });
    // Let every job finish before failing, so nothing still writes into the scratch dir being removed.
    const [disk, bakery, oems, signer] = await Promise.allSettled([diskJob, bakeryJob, oemJob, signerPromise]);
    if (signer.status === 'fulfilled' && [disk, bakery, oems].some((r) => r.status === 'rejected')) await signer.value.dispose();
    for (const r of [disk, bakery, oems, signer]) if (r.status === 'rejected') throw r.reason;
    const sign = (signer as PromiseFulfilledResult<Awaited<typeof signerPromise>>).value;
    try {
      // Both only read the image; the digest is cheap next to bzip2, so overlap them.
      const [digest, compressed] = await Promise.all([
        timed('image digest', () => sha256File(imagePath)),
        timed('compress image', () => compressBzip2(imagePath)),
      ]);
      const imageSha256 = digest.sha256;
      const imageBz2 = path.join(releaseDir, 'flatcar_production_image.bin.bz2');
      await rename(compressed, imageBz2);
      const versionFile = path.join(releaseDir, 'version.txt');
      await writeFile(versionFile, versionTxt(version, buildId));

      const keyFile = path.join(root, 'key.asc');
      const wrongKeyFile = path.join(root, 'wrong-key.asc');
      const oemSysexts: SyntheticOemSysext[] = [];
      await timed('sign', async () => {
        await sign.exportPublicKey(keyFile);
        await sign.exportWrongPublicKey(wrongKeyFile);
        await sign.sign(imageBz2);
        await sign.sign(versionFile);
        for (const { id, made } of (oems as PromiseFulfilledResult<Awaited<typeof oemJob>>).value) {
          const signature = await sign.sign(made.file);
          oemSysexts.push({ id, name: made.name, file: made.file, signature, sha256: made.sha256, size: made.size });
        }
      });

      const currentAlias = path.join(root, channel, board, 'current');
      await rm(currentAlias, { force: true });
      await symlink(version, currentAlias);
      const releasesJson = path.join(root, 'releases.json');
      await writeFile(releasesJson, JSON.stringify(releasesIndex([version, ...extraVersions], epoch, { [version]: channel }), null, 2) + '\n');

      return {
        root,
        version,
        channel,
        board,
        arch,
        scale,
        imagePath,
        imageSha256,
        releaseDir,
        files: {
          imageBz2,
          imageBz2Signature: `${imageBz2}.sig`,
          versionTxt: versionFile,
          versionTxtSignature: `${versionFile}.sig`,
          releasesJson,
          extensionsDir,
          sha256sums: path.join(extensionsDir, 'SHA256SUMS'),
          noopConf: path.join(extensionsDir, 'noop.conf'),
          currentAlias,
        },
        keyFile,
        wrongKeyFile,
        fingerprint: sign.fingerprint,
        wrongFingerprint: sign.wrongFingerprint,
        sysexts: (bakery as PromiseFulfilledResult<SyntheticBakerySysext[]>).value,
        oemSysexts,
        diskBytes: layout.diskBytes,
        layout: layout.partitions,
        timings,
      };
    } finally {
      await sign.dispose();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
