import { mkdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openUsableCache } from '../cache/cache.js';
import { IMAGE_FILE } from '../defaults.js';
import { FlatbakeError, InputError } from '../errors.js';
import { readGptFromFile } from '../gpt/file.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { mountPartition } from '../image/loop.js';
import { readUsrOsRelease, readUsrOsReleaseOffline } from '../image/os-release.js';
import { acquirePrivileges } from '../privileged/privileged.js';
import { boardFor } from '../flatcar-release/arch.js';
import { channelOfVersion, isVersion, parseReleaseSpec, resolvedRelease, type ResolvedRelease, type VersionInfo } from '../flatcar-release/resolve.js';
import { sha256File, sha256SparseFile } from '../util/hash.js';
import type { Reporter } from '../util/report.js';
import { interruptSignal, ResourceScope, throwIfInterrupted } from '../util/scope.js';
import { lockDirectory, ownedTempDir, reapDeadRuns, SCRATCH_PREFIXES } from '../util/leftovers.js';
import { loadVendorRegistry, type VendorRecord } from '../platforms/index.js';
import { majorOf, refuseUnsupportedVendors } from '../platforms/releases.js';
import { oemSysextsByName, writeVendors } from './vendor-stage.js';
import { decompressBase, rememberBaseChunks, stageImage, verifyRelease, type BaseImage } from './base-image.js';
import type { BakeContext, BakeOptions } from './context.js';
import { fetchBakerySysexts, fetchReleaseFiles, fetchSigningKey } from './fetch-stage.js';
import { injectSysexts, type InjectedSysext, type PartitionEditors, type SysextToInject } from './inject.js';
import { checkSysupdateInputs, placeSysexts, writeUpdateWiring, type SysupdateWiring } from './sysupdate-stage.js';
import { chooseBackend } from './backend.js';
import { MountedEditor } from '../image/mounted-editor.js';
import { openBtrfsEditor, openExt4Editor } from '../image/offline/index.js';
import type { Privileged } from '../privileged/privileged.js';
import { parseInstallTarget, parseSysextArgs, type InstallTarget } from './inputs.js';
import { checkSysextImage, planLocalSysexts, type LocalSysext, type RecipeSysext } from './local-sysexts.js';
import { buildRecipe } from '../recipes/index.js';
import { buildManifest, PartialBakeError, type Manifest, type ManifestOutput, type ManifestSysext } from './manifest.js';
import { describeImage, publish, untouchedBasePieces } from './publish.js';
import { resolveRelease } from './resolve-stage.js';
import { checkSysextCompat, flatcarReleaseHost, hostFromOsRelease } from './compat-stage.js';
import { checkRootSize, genericTooSmall, growRoot, injectWithRoom, vendorsThatHold } from './root-stage.js';

interface Sysexts {
  toInject: Array<Omit<SysextToInject, 'place'>>;
  describe: Map<string, { source: string; sha256: string; size: number; confSha256?: string }>;
}

/**
 * The bake, top to bottom: validate -> resolve -> fetch -> verify + decompress
 * -> locate -> stage -> inject -> publish. Every loop device, mount, temp dir
 * and partial file is owned by one scope, released on success, error and signals.
 */
export async function bake(options: BakeOptions, report: Reporter): Promise<{ manifest: Manifest; files: string[] }> {
  // validate: everything the user typed, before any download or mount
  const args = parseSysextArgs(options.sysexts, { fetch: options.fetch });
  const target = parseInstallTarget(options.installTo);
  // A --release version is checked against each vendor's SDK history now; a channel once it
  // resolves (before the image is downloaded); a local --image once its os-release is read.
  const releaseSpec = parseReleaseSpec(options.release);
  const registry = await loadVendorRegistry();
  const selection = registry.select(options.vendors, options.arch, options.image || releaseSpec.kind !== 'version' ? undefined : releaseSpec.version);
  const vendors = [...(selection.generic ? ['generic'] : []), ...selection.vendors.map((v) => v.id)];
  oemSysextsByName(options.oemSysexts ?? []);
  const localSysexts = options.fetch ? { files: [], recipes: [] } : await planLocalSysexts(args, options.arch);
  if (options.image) await checkLocalImage(options.image);
  if (target.partition === 'oem') {
    report.warn(
      'oem: installs keep the sysext on OEM, but its /etc/extensions symlink lives on ROOT: `flatcar-reset` wipes /etc unless you keep /etc/extensions (and /etc/sysupdate.*.d) in its keep list',
    );
  }

  // The offline backend needs no root; the mount backend asks for it now, not after a long download.
  const backend = await chooseBackend(options.backend ?? 'auto', { btrfs: target.partition === 'oem' || selection.vendors.length > 0 || Boolean(options.image) });
  const priv = backend === 'mount' ? await acquirePrivileges('baking sysexts into the image (--backend mount)') : undefined;
  await prepareOutput(options.output);
  const cache = await openUsableCache({ cacheDir: options.cacheDir, cache: options.cache }, (message) => report.warn(message));
  await using scope = new ResourceScope((what, error) => report.warn(`could not ${what}: ${(error as Error).message}`));
  // One bake per --output at a time; then every work dir there is a dead run's (util/leftovers).
  scope.defer(`unlock ${options.output}`, await lockDirectory(options.output, '--output'));
  const reaped = await reapDeadRuns({ output: options.output, cacheDir: cache.dir, tmpDir: os.tmpdir() });
  if (reaped.length) report.step('clean', `removed what killed runs left: ${reaped.join(', ')}`);
  const workDir = await ownedTempDir(options.output, SCRATCH_PREFIXES.output);
  scope.defer(`remove ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
  const signal = interruptSignal();
  const ctx: BakeContext = {
    options,
    cache,
    report,
    scope,
    workDir,
    signal,
    net: {
      mirror: options.mirror,
      retries: options.retries,
      signal,
      progress: report.progress,
      onRetry: (info) => report.warn(`${info.label}: ${info.reason}; retry ${info.attempt}/${info.maxAttempts - 1} in ${Math.round(info.delayMs / 1000)}s`),
    },
  };

  // resolve (releases.json only), then refuse the vendors this release's SDK would not write,
  // before any image or sysext is downloaded
  const wanted = options.image ? undefined : await resolveRelease(ctx);
  if (wanted) refuseUnsupportedVendors(selection.vendors, wanted.version, wanted.arch);

  // fetch + verify + decompress
  // The base image and the bakery's sysexts are independent: fetch them side by side. Both
  // settle before a failure is thrown, so nothing still writes into the work dir afterwards.
  const [baseResult, sysextResult] = await Promise.allSettled([
    wanted ? releaseBase(ctx, wanted) : localBase(ctx, options.image!),
    gatherSysexts(ctx, args, localSysexts),
  ]);
  if (baseResult.status === 'rejected') throw baseResult.reason;
  const { base, release, resolved, signature, baseSource, baseSha256, baseSize } = baseResult.value;
  // A verified base is worth keeping for the next attempt even when this one fails (not when
  // it is interrupted: then leaving fast matters more).
  scope.defer('keep the base image in the cache', () => (signal.aborted ? undefined : keepBase(ctx, base)));
  if (sysextResult.status === 'rejected') throw sysextResult.reason;
  const sysexts = sysextResult.value;
  if (options.sysupdate) checkSysupdateInputs(sysexts.toInject, options.fetch);
  const placed = await placeSysexts(sysexts.toInject, target, options.arch, report);
  throwIfInterrupted();

  // locate, on the base (the staged copy is the same bytes), so that hashing the pieces the bake
  // cannot change runs alongside the copy.
  const table = await readGptFromFile(base.path);
  const root = locateFlatcarPartition(table, 'ROOT');
  const oem = locateFlatcarPartition(table, 'OEM');
  report.step('locate', `ROOT is partition ${root.number} at byte ${root.startByte} (${root.sizeBytes} bytes), OEM is partition ${oem.number}; ${backend} backend`);
  // The bake writes only these partitions; the digest of every other piece of the image is the
  // base's, hashed while the copy is made and edited (or known from the cache).
  checkRootSize(table, options.rootSize);
  // A ROOT that grows takes the disk's new end with it, and the GPT headers change.
  const rootChanged = options.rootSize !== undefined && options.rootSize > root.sizeBytes ? [{ startByte: 0, sizeBytes: table.firstUsableLba * table.sectorSize }, { startByte: root.startByte, sizeBytes: Infinity }] : [root];
  const changed = placed.some((s) => s.place.partition === 'oem') ? [...rootChanged, oem] : rootChanged;
  const basePieces = selection.generic ? untouchedBasePieces(base, changed) : undefined;
  basePieces?.catch(() => undefined);

  // stage: a private copy; the base (perhaps the cache's) is never written
  const image = path.join(workDir, IMAGE_FILE);
  await stageImage(ctx, base, image);
  // A fresh base goes into the cache after the generic image is digested (which yields the
  // base's piece digests); it is flushed to disk meanwhile.
  base.flush?.().catch(() => undefined);

  // grow (--root-size) + inject; a run with disk vendors grows ROOT itself when the sysexts need it
  const fromImage = release ? undefined : await releaseFromImage(ctx, priv, image, table);
  const releaseInfo = release ?? fromImage!.info;
  if (!release && selection.vendors.length) checkLocalImageVendors(ctx, selection.vendors, releaseInfo.version);
  await checkSysextCompat(ctx, sysexts.toInject, fromImage ? hostFromOsRelease(fromImage.osRelease, options.arch) : flatcarReleaseHost(releaseInfo.version, options.arch));
  const grownTable = options.rootSize === undefined ? table : await growRoot(ctx, priv, registry, image, options.rootSize);
  // Disk vendors grow ROOT by their layouts anyway: a set too big for the generic image still bakes for them.
  const autoGrow = placed.some((s) => s.place.partition === 'root') && selection.vendors.some((v) => v.kind === 'disk');
  const {
    injected: { injected, sysupdate },
    table: bakedTable,
    tooSmall,
  } = await injectWithRoom(ctx, priv, registry, image, grownTable, (t) => injectStage(ctx, priv, image, t, placed), autoGrow);
  throwIfInterrupted();
  const generic = selection.generic && tooSmall ? genericTooSmall(tooSmall) : undefined;
  if (generic) report.warn(`generic image failed: ${generic.error!.message}`);

  // convert: vendor images from the baked image, in parallel; a failed vendor spoils no other
  const bakedRoot = locateFlatcarPartition(bakedTable, 'ROOT');
  const held = options.rootSize === undefined ? vendorsThatHold(selection, root.sizeSectors, bakedRoot.sizeSectors, table.sectorSize) : { selection, failed: [] };
  for (const f of held.failed) report.warn(`vendor ${f.vendor} failed: ${f.error!.message}`);
  const vendorResults = [
    ...(generic ? [generic] : []),
    ...held.failed,
    ...(held.selection.vendors.length
      ? await writeVendors(ctx, priv, image, held.selection, resolved ?? resolvedRelease(options.releaseServer, releaseInfo.version, options.arch), bakedRoot.sizeSectors, placed.map((s) => s.name))
      : []),
  ];
  throwIfInterrupted();

  // publish
  const outputs: Array<ManifestOutput & { workFile: string }> = [];
  if (basePieces && !generic) outputs.push({ ...(await describeImage(ctx, image, IMAGE_FILE, await basePieces)), rootSize: bakedRoot.sizeBytes });
  await keepBase(ctx, base, await basePieces, baseSha256);
  for (const result of vendorResults) {
    for (const o of result.outputs) outputs.push({ vendor: result.vendor, file: o.file, sha256: o.sha256, size: o.size, ...(o.rootSize ? { rootSize: o.rootSize } : {}), workFile: o.workFile });
  }
  const failed = vendorResults.filter((r) => !r.ok).map((r) => ({ vendor: r.vendor, error: r.error?.message.split('\n')[0] ?? 'failed' }));
  const manifest = buildManifest({
    release: releaseInfo,
    base: { source: baseSource, sha256: baseSha256, size: baseSize, signature },
    installTo: `${target.partition}:${target.dir}`,
    ...(sysupdate ? { sysupdate } : {}),
    sysexts: injected.map((s) => {
      const d = sysexts.describe.get(s.name)!;
      return { ...s, source: d.source, sha256: d.sha256, size: d.size, sysupdateConfSha256: d.confSha256 } satisfies ManifestSysext;
    }),
    vendors,
    ...(failed.length ? { failedVendors: failed } : {}),
    backend,
    outputs: outputs.map(({ workFile: _workFile, ...output }) => output),
  });
  const files = outputs.length ? await publish(ctx, outputs, manifest) : [];
  if (failed.length) {
    throw new PartialBakeError(
      `${failed.length} of ${vendors.length} vendor image(s) failed: ${failed.map((f) => `${f.vendor} (${f.error})`).join('; ')}`,
      [generic ? `generic: ${tooSmall!.hint}` : undefined, files.length ? `the others were written: ${files.map((f) => path.basename(f)).join(', ')}` : undefined].filter(Boolean).join('; ') || undefined,
      manifest,
    );
  }
  report.step('done', `${files.join(', ')}`);
  return { manifest, files };
}

/**
 * Puts a freshly decompressed base into the cache (with its piece digests when known), or adds
 * the piece digests to a cached one that lacks them. A cache that cannot be written costs the
 * next bake time, not this one its result: it warns.
 */
async function keepBase(ctx: BakeContext, base: BaseImage, chunks?: Map<number, string>, compressedSha256?: string): Promise<void> {
  try {
    if (base.keep) await base.keep(chunks);
    else if (chunks && compressedSha256) await rememberBaseChunks(ctx, base, compressedSha256, chunks);
  } catch (error) {
    ctx.report.warn(`could not keep the base image in the cache: ${(error as Error).message}`);
  }
}

/** --output must be a directory we can create files in; anything else fails before any download. */
async function prepareOutput(output: string): Promise<void> {
  const info = await stat(output).catch(() => undefined);
  if (info && !info.isDirectory()) {
    throw new InputError(`--output ${output} is not a directory`, 'give --output a directory (it is created when missing)');
  }
  try {
    await mkdir(output, { recursive: true });
  } catch (error) {
    throw new InputError(`cannot create --output ${output}: ${(error as Error).message}`, 'give --output a directory you can write to');
  }
}

async function checkLocalImage(file: string): Promise<void> {
  if (!/\.bin(\.bz2)?$/.test(file)) {
    throw new InputError(`--image ${file} must be a .bin or .bin.bz2 file`);
  }
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new InputError(`--image ${file} not found`, 'give the path of a flatcar_production_image.bin or .bin.bz2');
}

type ReleaseInfo = Manifest['release'];

/**
 * Marks a derived promise as handled where it is made: its failure is the failure of the promise
 * it derives from, which is awaited. Without this, a download that fails before the consumer of
 * the derived promise attaches to it would end the process with Node's unhandled-rejection dump.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** A local image's vendors are checked against the version in its os-release, or not at all (with a warning) when it has none. */
function checkLocalImageVendors(ctx: BakeContext, vendors: readonly VendorRecord[], version: string): void {
  if (majorOf(version) === undefined) {
    ctx.report.warn(`the image's os-release names no Flatcar version ('${version}'): the vendors are not checked against the release's SDK`);
    return;
  }
  refuseUnsupportedVendors(vendors, version, ctx.options.arch);
}

async function releaseBase(ctx: BakeContext, release: ResolvedRelease) {
  let imageDownload: ((part: string | undefined) => void) | undefined;
  const imageDownloadStarted = new Promise<string | undefined>((resolve) => (imageDownload = resolve));
  const filesPromise = fetchReleaseFiles(ctx, release, (part) => imageDownload!(part));
  filesPromise.then(() => imageDownload!(undefined), () => imageDownload!(undefined));
  const keyPromise = ctx.options.insecureSkipVerify ? Promise.resolve(undefined) : fetchSigningKey(ctx);
  // Nothing is cached, staged or published before the signatures pass; decompression overlaps
  // the download (when there is one) and the signature check.
  const verification = Promise.all([filesPromise, keyPromise]).then(([files, keyFile]) => verifyRelease(ctx, files, keyFile, release.version));
  verification.catch(() => undefined);
  // A failed download or signature stops the decompression at once instead of after it.
  const stop = new AbortController();
  filesPromise.catch(() => stop.abort());
  verification.catch(() => stop.abort());
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const part = await imageDownloadStarted;
  const decompressing = part
    ? decompressBase(ctx, { following: part, downloaded: handled(filesPromise.then((f) => f.image)) }, verification, signal)
    : filesPromise.then((files) => decompressBase(ctx, files.image, verification, signal));
  // Everything settles before an error is thrown (nothing may still write into the work dir);
  // a download failure explains a bad image best, then a signature failure, then bzip2's error.
  const settled = await Promise.allSettled([filesPromise, verification, decompressing]);
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
  const [files, verified, base] = await Promise.all([filesPromise, verification, decompressing]);
  const info: ReleaseInfo = {
    version: release.version,
    channel: release.channel,
    board: release.board,
    arch: release.arch,
    build: (verified as { version: VersionInfo }).version.build,
    sdkVersion: (verified as { version: VersionInfo }).version.sdkVersion,
  };
  return {
    base: base as BaseImage,
    release: info,
    resolved: release as ResolvedRelease | undefined,
    signature: { verified: verified.verified, fingerprint: verified.fingerprint },
    baseSource: files.image.url,
    baseSha256: files.image.sha256,
    baseSize: files.image.size,
  };
}

/** --image: a local .bin (used as is) or .bin.bz2 (decompressed, cached by digest). Not signature-checked. */
async function localBase(ctx: BakeContext, file: string) {
  ctx.report.warn(`using the local image ${file}: it is not signature-checked`);
  // A local .bin is 8 GiB of mostly holes: hash them from memory, not through the kernel.
  const sha256 = await sha256SparseFile(file);
  const size = (await stat(file)).size;
  const base: BaseImage = file.endsWith('.bz2')
    ? await decompressBase(ctx, { path: file, sha256 }, Promise.resolve())
    : { path: path.resolve(file), size, fromCache: false };
  return { base, release: undefined, resolved: undefined as ResolvedRelease | undefined, signature: { verified: false }, baseSource: path.resolve(file), baseSha256: sha256, baseSize: size };
}

async function releaseFromImage(ctx: BakeContext, priv: Privileged | undefined, image: string, table: GptTable): Promise<{ info: ReleaseInfo; osRelease: Record<string, string> }> {
  const inner = new ResourceScope();
  try {
    const osRelease = priv ? await readUsrOsRelease(priv, inner, image, table) : await readUsrOsReleaseOffline(image, table, ctx.workDir);
    const version = osRelease.VERSION_ID ?? osRelease.VERSION ?? 'unknown';
    // os-release's BUILD_ID is a build date; the release's build (version.txt's FLATCAR_BUILD)
    // is the version's first number, and the middle one names the channel (FLATCAR.md).
    const known = isVersion(version);
    const info: ReleaseInfo = {
      version,
      ...(known ? { channel: channelOfVersion(version), build: version.split('.')[0] } : {}),
      board: boardFor(ctx.options.arch),
      arch: ctx.options.arch,
    };
    return { info, osRelease };
  } finally {
    await inner.release();
  }
}

async function gatherSysexts(ctx: BakeContext, args: ReturnType<typeof parseSysextArgs>, local: { files: LocalSysext[]; recipes: RecipeSysext[] }): Promise<Sysexts> {
  const describe: Sysexts['describe'] = new Map();
  if (!ctx.options.fetch) {
    const files = [...local.files, ...(await buildRecipeSysexts(ctx, local.recipes))];
    // Keep the order the user gave.
    const order = new Map(args.map((a, i) => [a.name, i]));
    files.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    for (const s of files) {
      describe.set(s.name, { source: s.path, sha256: s.sha256, size: s.size, confSha256: s.conf ? await sha256File(s.conf) : undefined });
    }
    return {
      toInject: files.map((s) => ({ name: s.name, source: s.path, fileName: s.fileName, size: s.size, sysupdateConf: s.conf })),
      describe,
    };
  }
  const fetched = await fetchBakerySysexts(ctx, args);
  const toInject: Sysexts['toInject'] = [];
  for (const s of fetched) {
    // Fetched files are digest-checked; they must still be filesystem images.
    await checkSysextImage(s.file.path, s.name);
    toInject.push({ name: s.name, source: s.file.path, fileName: s.fileName, size: s.file.size, sysupdateConf: s.conf?.path });
    describe.set(s.name, { source: s.file.url, sha256: s.file.sha256, size: s.file.size, confSha256: s.conf?.sha256 });
    if (!s.file.fromCache) {
      await ctx.cache.store('sysext', s.file.sha256, s.file.path, { sha256: s.file.sha256, size: s.file.size, meta: { url: s.file.url } });
    }
  }
  return { toInject, describe };
}

/** Builds the recipe sysexts a bake names (cached by recipe, version, arch and recipe content). */
async function buildRecipeSysexts(ctx: BakeContext, recipes: RecipeSysext[]): Promise<LocalSysext[]> {
  const built: LocalSysext[] = [];
  for (const r of recipes) {
    ctx.report.step('build', `${r.fileName} does not exist: building it from the ${r.recipe} recipe`);
    const result = await buildRecipe({
      recipe: r.recipe,
      version: r.version,
      arch: r.arch,
      outputDir: path.join(ctx.workDir, 'recipes'),
      mirror: ctx.options.mirror,
      cache: ctx.cache,
      report: ctx.report,
      signal: ctx.signal,
      retries: ctx.options.retries,
    });
    ctx.report.step('build', `${r.fileName}: ${result.cached ? 'from the cache' : 'built'} (sha256 ${result.sha256})`);
    built.push({ name: r.name, path: result.path, fileName: r.fileName, size: result.size, sha256: result.sha256, kind: 'squashfs' });
  }
  return built;
}

async function injectStage(
  ctx: BakeContext,
  priv: Privileged | undefined,
  image: string,
  table: GptTable,
  sysexts: SysextToInject[],
): Promise<{ injected: InjectedSysext[]; sysupdate?: SysupdateWiring }> {
  // Mounts and editors get their own scope so they are gone before the output is hashed and published.
  const mounts = new ResourceScope();
  try {
    const root = locateFlatcarPartition(table, 'ROOT');
    const oem = locateFlatcarPartition(table, 'OEM');
    const onOem = sysexts.some((s) => s.place.partition === 'oem');
    let editors: PartitionEditors;
    if (priv) {
      const rootDir = await mountPartition(priv, mounts, image, { offset: root.startByte, size: root.sizeBytes }, { fsType: 'ext4', label: 'ROOT' });
      editors = { root: new MountedEditor('ROOT', priv, rootDir) };
      if (onOem) {
        const oemDir = await mountPartition(priv, mounts, image, { offset: oem.startByte, size: oem.sizeBytes }, { fsType: 'btrfs', label: 'OEM' });
        editors.oem = new MountedEditor('OEM', priv, oemDir);
      }
      // Lets tests interrupt a run while partitions are mounted (nothing else reads it).
      const hold = Number(process.env.FLATBAKE_TEST_HOLD_MOUNTED_MS ?? 0);
      if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
    } else {
      const rootEditor = await openExt4Editor(image, { offset: root.startByte, size: root.sizeBytes }, { partition: 'ROOT' });
      mounts.defer('close the ROOT editor', () => rootEditor.close());
      editors = { root: rootEditor };
      if (onOem) {
        const oemEditor = await openBtrfsEditor(image, { offset: oem.startByte, size: oem.sizeBytes }, { partition: 'OEM' });
        mounts.defer('close the OEM editor', () => oemEditor.close());
        editors.oem = oemEditor;
      }
    }
    throwIfInterrupted();
    const injected = await injectSysexts(editors, sysexts);
    for (const s of injected) {
      ctx.report.step('inject', `${s.name}: ${s.installedTo}, ${s.symlink} -> ${s.bootedPath}${s.sysupdateConf ? `, ${s.sysupdateConf}` : ''}${s.replaced ? ' (replaced)' : ''}`);
    }
    const sysupdate = ctx.options.sysupdate ? await writeUpdateWiring(editors.root, injected.map((s) => s.name), ctx.workDir) : undefined;
    if (sysupdate) ctx.report.step('sysupdate', `${sysupdate.timer}; ${sysupdate.files.join(', ')}`);
    if (editors.oem) await editors.oem.commit();
    await editors.root.commit();
    return { injected, sysupdate };
  } finally {
    await mounts.release();
    if (mounts.errors.length > 0) {
      throw new InputError(`could not release ${mounts.errors.map((e) => e.what).join(', ')}: ${String((mounts.errors[0]!.error as Error).message)}`);
    }
  }
}
