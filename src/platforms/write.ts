/**
 * Writing vendor images from a baked image, one vendor per task, several at
 * once. Each vendor reads as its pipeline: copy -> grow -> OEM -> convert ->
 * configs -> bundle -> hash. A vendor that fails leaves nothing behind and
 * does not stop the others; its result carries the error.
 */
import { renderGrubCfg } from './oem-files.js';
import os from 'node:os';
import { mkdir, mkdtemp, readdir, rm, rmdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { InputError } from '../errors.js';
import { readGptFromFile } from '../gpt/file.js';
import type { Backend } from '../backend/index.js';
import { run } from '../util/exec.js';
import { sha256SparseFile } from '../util/hash.js';
import type { Reporter } from '../util/report.js';
import { formatDuration } from '../util/duration.js';
import type { ResourceScope } from '../util/scope.js';
import { writeOva, writeUefiFirmware, ovfText } from './bundles.js';
import { readUpdateGroup } from './update-group.js';
import { shareVagrantCatalogue, writeVagrantBox } from './vagrant.js';
import { renderOvfReadme, renderVmx, renderXenConfigs, renderXenReadme } from './descriptors.js';
import { convertDisk } from './formats.js';
import { renderPvs, writeParallelsDisk } from './parallels.js';
import type { LaunchFiles } from './launch-script.js';
import { growImageToLayout, sparseCopy } from './layout.js';
import { secureVariantDb, writeSecureBootVars } from './secure-variant.js';
import { secureNames, writeLaunch, writeReadme, type VendorContext } from './vendor-context.js';
import { writeNetbootVendor } from './write-netboot.js';
import { installOem, prepareOemContent } from './oem.js';
import { diskAliases, diskFileName, loadVendorRegistry, outputNames, type VendorRegistry } from './registry.js';
import { allocatedBytes, estimateVendorBytes, SpaceLedger } from './space.js';
import type { UefiFirmware, VendorRecord } from './types.js';
import type { Arch } from '../arch.js';

/** OEM sysexts by OEM id (`azure` -> path of oem-azure.raw), or a function that finds (e.g. downloads) one. */
export type OemSysextSource = ReadonlyMap<string, string> | ((oemId: string) => Promise<string | undefined> | string | undefined);

export interface WriteVendorImagesOptions {
  /** The baked raw image; only read (each disk vendor works on its own sparse copy). */
  bakedImage: string;
  /** Vendor ids (`generic` is ignored: it is the baked image itself). */
  vendors: readonly string[];
  /** Each vendor writes under `<workDir>/<vendor>/` (created; must be empty if it exists). */
  workDir: string;
  /** Flatcar version, part of the OEM sysext's name on OEM. */
  version: string;
  arch: Arch;
  oemSysexts: OemSysextSource;
  /** --no-oem-sysext: a vendor whose OEM sysext cannot be had gets only its grub.cfg on OEM. */
  skipMissingOemSysext?: boolean;
  /** ROOT sectors no vendor goes below: a baked image grown past a layout (--root-size) keeps its ROOT. */
  minRootSectors?: number;
  /** How ROOT grows and OEM and USR-A are written and read. */
  backend: Backend;
  /** Scratch directories are registered here too, so a signal removes them. */
  scope: ResourceScope;
  report: Reporter;
  /** Vendors written at once (default: the number of cores, at least 1). */
  concurrency?: number;
  /** Names of the sysexts baked into the image: pxe and iso, which boot only /usr, warn that they lack them. */
  bakedSysexts?: readonly string[];
  /** Defaults to the registry loaded from vendors/. */
  registry?: VendorRegistry;
}

export interface VendorOutput {
  /** Final file name (flatcar/scripts vm_image_util.sh naming: flatcar_production_<vendor>_image.<ext>). */
  file: string;
  /** Where it is now, inside workDir. */
  workFile: string;
  sha256: string;
  size: number;
  /** Bytes of the ROOT partition in the disk this file is or carries (absent: no disk in it). */
  rootSize?: number;
  /** The SDK's other names of this file: relative symlinks to it, beside it in workDir (e.g. flatcar_production_qemu_image.img). */
  aliases?: string[];
}

export interface VendorResult {
  vendor: string;
  ok: boolean;
  outputs: VendorOutput[];
  error?: Error;
}

export async function writeVendorImages(options: WriteVendorImagesOptions): Promise<VendorResult[]> {
  const registry = options.registry ?? (await loadVendorRegistry());
  // Unknown ids, unsupported architectures and vendors the release's SDK would not write are usage errors: nothing starts.
  const { vendors } = registry.select(options.vendors, options.arch, options.version);
  const st = await stat(options.bakedImage).catch(() => undefined);
  if (!st?.isFile()) throw new InputError(`the baked image ${options.bakedImage} does not exist`);
  await mkdir(options.workDir, { recursive: true });
  const imageAllocated = await allocatedBytes(options.bakedImage);
  const ledger = new SpaceLedger();
  const limit = pLimit(Math.max(1, Math.min(options.concurrency ?? os.availableParallelism(), vendors.length || 1)));
  const results = await Promise.all(vendors.map((vendor) => limit(() => writeOneVendor(options, registry, vendor, ledger, imageAllocated))));
  await shareVagrantCatalogue(results, outputNames(registry.settings, 'vagrant').companion('json'));
  return results;
}

async function writeOneVendor(
  options: WriteVendorImagesOptions,
  registry: VendorRegistry,
  vendor: VendorRecord,
  ledger: SpaceLedger,
  imageAllocated: number,
): Promise<VendorResult> {
  const { report } = options;
  const dir = path.join(options.workDir, vendor.id);
  const started = Date.now();
  let createdDir = false;
  /** Set once the directory is known to be ours to clean: never empty a directory that held someone else's files. */
  let owned = false;
  let releaseSpace: (() => void) | undefined;
  let removeScratch: (() => Promise<void>) | undefined;
  try {
    createdDir = await ensureEmptyDir(dir);
    owned = true;
    const sysext = vendor.oem ? await resolveOemSysext(options.oemSysexts, vendor, options.skipMissingOemSysext === true) : undefined;
    if (vendor.oem && !sysext) report.warn(`vendor ${vendor.id}: --no-oem-sysext: OEM gets only grub.cfg; the image lacks the ${vendor.oem.sysext} agents and settings`);
    const sysextBytes = sysext ? (await stat(sysext)).size : 0;
    releaseSpace = await ledger.reserve(vendor.id, dir, estimateVendorBytes(vendor, imageAllocated, sysextBytes));
    const scratch = await mkdtemp(path.join(dir, '.scratch-'));
    removeScratch = options.scope.defer(`remove ${scratch}`, () => rm(scratch, { recursive: true, force: true }));
    const ctx: VendorContext = { options, registry, vendor, names: outputNames(registry.settings, vendor.id, options.version), dir, scratch, files: [], rootBytes: new Map(), aliases: new Map() };
    // A disk vendor says what it is with its layout (one line less per vendor).
    if (vendor.kind !== 'disk') report.step('vendor', `${vendor.id}: ${vendor.description}`);
    if (vendor.kind === 'disk') await writeDiskVendor(ctx, sysext);
    else await writeNetbootVendor(ctx);
    await removeScratch();
    const outputs: VendorOutput[] = [];
    for (const workFile of ctx.files) {
      const rootSize = ctx.rootBytes.get(workFile);
      const size = (await stat(workFile)).size;
      // Gigabytes of a fixed VHD or raw disk take a while to hash: a progress task of their own.
      const task = report.progress.start(`sha256 ${path.basename(workFile)}`, size, { brief: true });
      const sha256 = await sha256SparseFile(workFile, (bytes) => task.advance(bytes)).catch((error: unknown) => {
        task.fail();
        throw error;
      });
      task.succeed();
      const aliases = ctx.aliases.get(workFile);
      outputs.push({ file: path.basename(workFile), workFile, sha256, size, ...(rootSize ? { rootSize } : {}), ...(aliases ? { aliases } : {}) });
    }
    report.step('vendor', `${vendor.id}: ${outputs.length} file(s) in ${formatDuration((Date.now() - started) / 1000).text}`);
    return { vendor: vendor.id, ok: true, outputs };
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    await removeScratch?.().catch(() => undefined);
    // Nothing of a failed vendor stays: not its partial outputs, not the directory made for it.
    if (owned) await emptyDir(dir, createdDir).catch(() => undefined);
    report.warn(`vendor ${vendor.id} failed: ${err.message}`);
    return { vendor: vendor.id, ok: false, outputs: [], error: err };
  } finally {
    releaseSpace?.();
  }
}

/** copy -> grow -> OEM -> convert -> configs -> bundle. */
async function writeDiskVendor(ctx: VendorContext, sysext: string | undefined): Promise<void> {
  const { vendor, options, names, scratch } = ctx;
  const disk = vendor.disk!;

  const raw = path.join(scratch, 'disk.raw');
  await sparseCopy(options.bakedImage, raw);
  const exactSectors = disk.virtualSizeBytes === undefined ? undefined : disk.virtualSizeBytes / 512;
  const layoutRoot = vendor.layout!.rootSectors;
  const min = options.minRootSectors;
  const rootSectors = min !== undefined && (layoutRoot ?? 0) < min ? min : layoutRoot;
  const plan = await growImageToLayout(options.backend, raw, rootSectors, ctx.registry.settings.diskAlignmentSectors, exactSectors);
  ctx.options.report.step('vendor', `${vendor.id}: ${vendor.description}; layout ${vendor.layout!.name}, ROOT ${plan.rootSectors} sectors, disk ${plan.diskSectors} sectors`);
  const rootBytes = plan.rootSectors * (await readGptFromFile(raw)).sectorSize;

  if (vendor.oem) {
    const content = sysext ? await prepareOemContent(vendor.oem, sysext, options.arch) : { grubCfg: renderGrubCfg(vendor.oem.grub) };
    await installOem(options.backend, raw, vendor.oem, content, { sysextFile: sysext, version: options.version, scratchDir: scratch });
  }

  const capacityBytes = (await stat(raw)).size;
  const diskName = diskFileName(names, disk);
  // An OVA leaves its VMDK (and OVF) beside it, as the SDK publishes them (vm_image_util.sh _write_ova_bundle, V:1038); box and pvm bundles take the disk in.
  const bundled = vendor.bundle !== null && vendor.bundle.kind !== 'ova';
  // A Parallels disk is written straight into the pvm directory the SDK bundles (`tmp.pvm`, V:983-988, V:1041-1047).
  const converted = disk.format === 'parallels' ? path.join(scratch, 'tmp.pvm', diskName) : bundled ? path.join(scratch, diskName) : path.join(ctx.dir, diskName);
  if (disk.format === 'parallels') await mkdir(path.dirname(converted));
  const task = ctx.options.report.progress.start(`${vendor.id}: convert to ${disk.format}${disk.compressed ? ' (compressed)' : ''}`, capacityBytes);
  let written = converted;
  try {
    let read = 0;
    // A Parallels disk is a directory (write_hdd.sh, V:515-520); it always goes into a pvm or box bundle.
    if (disk.format === 'parallels') {
      written = await writeParallelsDisk(raw, converted);
      task.advance(capacityBytes);
    } else {
      await convertDisk(raw, disk, converted, scratch, (fraction) => {
        const now = Math.round(fraction * capacityBytes);
        if (now > read) task.advance(now - read);
        read = Math.max(read, now);
      });
    }
  } catch (error) {
    task.fail();
    throw error;
  }
  // The end line reports what was written, not the raw bytes read (a Parallels disk: its snapshot).
  task.succeed({ bytes: (await stat(written)).size });
  if (!bundled) {
    ctx.files.push(converted);
    ctx.rootBytes.set(converted, rootBytes);
    // The SDK's other names of this disk, as relative symlinks beside it (write_vm_disk, V:451-464 at HEAD).
    const aliases = diskAliases(ctx.registry.settings, disk, options.version, options.arch);
    for (const alias of aliases) await symlink(diskName, path.join(ctx.dir, alias));
    if (aliases.length) ctx.aliases.set(converted, aliases);
  }

  if (vendor.config) {
    const configFile = path.join(ctx.dir, names.companion(vendor.config.extension));
    const vm = { name: names.vm, memoryMiB: vendor.vm.memoryMiB, cpus: vendor.vm.cpus };
    switch (vendor.config.kind) {
      case 'vmx':
        await writeFile(configFile, renderVmx({ name: vm.name, diskFile: diskName, memoryMiB: vm.memoryMiB }));
        ctx.files.push(configFile);
        break;
      case 'ovf':
        await writeFile(configFile, await ovfText({ vendor, names, system: vendor.config.system!, vmdk: converted, vmdkName: diskName, capacityBytes }));
        ctx.files.push(configFile);
        if (!vendor.bundle) await writeReadme(ctx, renderOvfReadme(diskName, path.basename(configFile)));
        break;
      case 'xl': {
        const xen = renderXenConfigs({ ...vm, diskFile: diskName, diskFormat: disk.format });
        // flatcar_production_xen_pygrub.cfg and _pvgrub.cfg (V:826-827).
        const [pygrub, pvgrub] = (['pygrub', 'pvgrub'] as const).map((loader) => `${names.machine}_${loader}.${vendor.config!.extension}`) as [string, string];
        await writeFile(path.join(ctx.dir, pygrub), xen.pygrub);
        await writeFile(path.join(ctx.dir, pvgrub), xen.pvgrub);
        ctx.files.push(path.join(ctx.dir, pygrub), path.join(ctx.dir, pvgrub));
        await writeReadme(ctx, renderXenReadme(vm.name, pygrub, pvgrub));
        break;
      }
      case 'qemu-launch': {
        const arch = ctx.registry.settings.architectures[options.arch];
        const image = { file: diskName, format: disk.format };
        const firmwareFor = async (n: ReturnType<typeof outputNames>, firmware: UefiFirmware, varsIn?: string): Promise<LaunchFiles> => {
          const files = { image, efiCode: n.firmware('code'), efiVars: n.firmware('vars') };
          await writeUefiFirmware(firmware, path.join(ctx.dir, files.efiCode), path.join(ctx.dir, files.efiVars), varsIn);
          ctx.files.push(path.join(ctx.dir, files.efiCode), path.join(ctx.dir, files.efiVars));
          return files;
        };
        const main = await firmwareFor(names, arch.uefiFirmware);
        // The SDK's qemu_uefi_secure: the same disk, its own script and Secure Boot firmware (V:689-735 at alpha-4790.0.0),
        // its db holding the certificates that release's SDK adds (V:723-733).
        const variant = vendor.config.secureVariant;
        const era = variant ? secureVariantDb(variant, options.version) : undefined;
        let secure: LaunchFiles | undefined;
        if (variant && era?.db) {
          const vars = path.join(scratch, 'secure-vars.fd');
          await writeSecureBootVars(variant, era.db, arch.secureBootFirmware.vars, vars);
          secure = await firmwareFor(secureNames(ctx), arch.secureBootFirmware, vars);
        } else if (variant) {
          options.report.warn(`vendor ${vendor.id}: no ${vendor.id}_secure variant: Flatcar ${options.version}'s SDK enrolled its own PK, KEK and db with efitools' flash-var, which flatbake does not write`);
        }
        await writeLaunch(ctx, main, secure, era?.db ?? undefined);
        break;
      }
      case 'pvs':
        // _write_pvs_conf (V:922-931): config.pvs goes into the pvm bundle beside the disk, not beside the bundle.
        await writeFile(path.join(path.dirname(converted), 'config.pvs'), await renderPvs({ name: vm.name, hddDir: converted, memoryMiB: vm.memoryMiB, template: false }));
        break;
    }
  }

  if (vendor.bundle) {
    const bundleFile = path.join(ctx.dir, names.companion(vendor.bundle.extension));
    const info = { vendor, names, system: vendor.bundle.system ?? '', vmdk: converted, vmdkName: diskName, capacityBytes };
    const arch = ctx.registry.settings.architectures[options.arch];
    if (vendor.bundle.kind === 'ova') await writeOva({ dir: ctx.dir, ovf: names.companion(vendor.config!.extension), vmdk: diskName }, bundleFile, scratch);
    else if (vendor.bundle.kind === 'pvm') {
      // _write_pvm_tgz_bundle (V:1041-1052): the disk directory and config.pvs, at the top of a tar.gz.
      await run('tar', ['-czf', bundleFile, '-C', path.dirname(converted), '.'], { purpose: 'write the pvm bundle' });
    } else {
      // The SDK names the catalogue after the source image, one for every provider (V:976-977).
      const catalogue = path.join(ctx.dir, outputNames(ctx.registry.settings, 'vagrant').companion('json'));
      const group = await readUpdateGroup(options.backend, options.bakedImage, await readGptFromFile(options.bakedImage), scratch);
      const box = { architecture: arch.vagrantArchitecture, group, version: options.version, box: bundleFile, catalogue, scratchDir: scratch };
      if (vendor.bundle.provider === 'parallels') await writeVagrantBox({ ...box, provider: 'parallels', hddDir: converted, vmName: names.vm, memoryMiB: vendor.vm.memoryMiB });
      else await writeVagrantBox({ ...box, provider: 'virtualbox', disk: info });
      ctx.files.push(catalogue);
    }
    ctx.files.push(bundleFile);
    ctx.rootBytes.set(bundleFile, rootBytes);
  }
}

async function resolveOemSysext(source: OemSysextSource, vendor: VendorRecord, skipMissing: boolean): Promise<string | undefined> {
  const oem = vendor.oem!;
  const found = typeof source === 'function' ? await source(oem.id) : source.get(oem.id);
  if (!found && skipMissing) return undefined;
  const missing = (why: string) =>
    new InputError(
      `vendor ${vendor.id} needs the OEM sysext ${oem.sysext}.raw (OEM id ${oem.id}): ${why}`,
      `it is published beside the Flatcar image as ${oem.sysext}.raw`,
    );
  if (!found) throw missing('none was given');
  const st = await stat(found).catch(() => undefined);
  if (!st?.isFile()) throw missing(`${found} does not exist`);
  return found;
}

/** Creates `dir` (true) or accepts an existing empty one (false: e.g. a mount point the caller prepared). */
async function ensureEmptyDir(dir: string): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const entries = await readdir(dir);
  if (entries.length > 0) throw new InputError(`the vendor work directory ${dir} is not empty`, 'use a fresh work directory');
  return false;
}

async function emptyDir(dir: string, removeDir: boolean): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) await rm(path.join(dir, name), { recursive: true, force: true });
  if (removeDir) await rmdir(dir);
}
