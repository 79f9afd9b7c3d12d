/**
 * Step 1, validate: everything the user typed, checked before any download or mount, and
 * turned into a typed plan that the later steps read instead of parsing the options again.
 */
import { mkdir, stat } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { parseReleaseSpec, type ReleaseSpec } from '../flatcar-release/resolve.js';
import type { Reporter } from '../util/report.js';
import { loadVendorRegistry, type VendorRegistry, type VendorSelection } from '../platforms/index.js';
import type { Backend, BackendName } from '../backend/index.js';
import { chooseBackend, createBackend } from '../backend/open.js';
import { MOUNT_TOOLS } from '../backend/tools.js';
import { assertNothingMissing, missingHostNeeds, vendorHostNeeds, type HostNeeds } from '../platforms/needs.js';
import type { Arch } from '../arch.js';
import type { BakeOptions } from './context.js';
import { oemSysextsByName, parseInstallTarget, parseSysextArgs, type InstallTarget, type SysextArg } from './inputs.js';
import { planLocalSysexts, type LocalSysext, type RecipeSysext } from './local-sysexts.js';


/** What a bake will do, computed once from its options. */
export interface BakePlan {
  options: BakeOptions;
  /** The `NAME:FILE` arguments, in the order given. */
  sysexts: SysextArg[];
  /** Without --fetch: the local files (checked) and the recipe builds (planned). Empty with --fetch. */
  local: { files: LocalSysext[]; recipes: RecipeSysext[] };
  /** --install-to. */
  target: InstallTarget;
  /** --release; unused with --image (the image's own os-release names it). */
  release: ReleaseSpec;
  registry: VendorRegistry;
  selection: VendorSelection;
  /** Every --vendor, `generic` first when asked for: the manifest's list. */
  vendors: string[];
  /** --oem-sysext files by OEM id. */
  oemSysexts: Map<string, string>;
  /** How partitions are read and written (offline or mount); the mount backend has root already. */
  backend: Backend;
}

export async function validate(options: BakeOptions, report: Reporter): Promise<BakePlan> {
  const sysexts = parseSysextArgs(options.sysexts, { fetch: options.fetch });
  const target = parseInstallTarget(options.installTo);
  // A --release version is checked against each vendor's SDK history now; a channel once it
  // resolves (before the image is downloaded); a local --image once its os-release is read.
  const release = parseReleaseSpec(options.release);
  const registry = await loadVendorRegistry();
  const selection = registry.select(options.vendors, options.arch, options.image || release.kind !== 'version' ? undefined : release.version);
  const vendors = [...(selection.generic ? ['generic'] : []), ...selection.vendors.map((v) => v.id)];
  const oemSysexts = oemSysextsByName(options.oemSysexts ?? []);
  const rebuild = new Set((options.replayed?.sysexts ?? []).filter((s) => s.recipe).map((s) => s.name));
  const local = options.fetch ? { files: [], recipes: [] } : await planLocalSysexts(sysexts, options.arch, rebuild);
  if (options.image) await checkLocalImage(options.image);
  if (target.partition === 'oem') {
    report.warn(
      'oem: installs keep the sysext on OEM, but its /etc/extensions symlink lives on ROOT: `flatcar-reset` wipes /etc unless you keep /etc/extensions (and /etc/sysupdate.*.d) in its keep list',
    );
  }
  // The offline backend needs no root; the mount backend asks for it now, not after a long download.
  const needs = { btrfs: target.partition === 'oem' || selection.vendors.length > 0 || Boolean(options.image) };
  const name = await chooseBackend(options.backend ?? 'auto', needs);
  await checkHostTools(selection, options.arch, registry, name);
  const backend = await createBackend(name, 'baking sysexts into the image (--backend mount)');
  await prepareOutput(options.output);
  return { options, sysexts, local, target, release, registry, selection, vendors, oemSysexts, backend };
}

/**
 * The tools and files the chosen vendors and the mount backend run, checked now: a missing
 * qemu-img must not surface after a long download and bake, as the writer's own error would.
 */
async function checkHostTools(selection: VendorSelection, arch: Arch, registry: VendorRegistry, backend: BackendName): Promise<void> {
  const lacking: string[] = [];
  const missing: HostNeeds = { tools: [], files: [] };
  for (const record of selection.vendors) {
    const m = await missingHostNeeds([vendorHostNeeds(record, arch, registry.settings)]);
    if (m.tools.length + m.files.length === 0) continue;
    lacking.push(record.id);
    missing.tools.push(...m.tools.filter((t) => !missing.tools.some((x) => x.command === t.command)));
    missing.files.push(...m.files.filter((f) => !missing.files.some((x) => x.path === f.path)));
  }
  const who = lacking.length ? [`--vendor ${lacking.join(',')}`] : [];
  if (backend === 'mount') {
    const m = await missingHostNeeds([{ tools: MOUNT_TOOLS.filter((t) => t.required), files: [] }]);
    if (m.tools.length) who.push('the mount backend');
    missing.tools.push(...m.tools.filter((t) => !missing.tools.some((x) => x.command === t.command)));
  }
  assertNothingMissing(missing, who.join(' and '));
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
