/**
 * The vendor data files checked field by field: every value a converter
 * reads is typed, within its allowed set, and free of what would escape a
 * file name or a qemu-img option. A check names the file and JSON path it
 * failed at. Pure; registry.ts merges the records and builds the registry.
 */
import { InputError } from '../errors.js';
import {
  BUNDLE_KINDS,
  CONFIG_KINDS,
  DISK_FORMATS,
  LAUNCH_BOOTS,
  LAYOUT_NAMES,
  OEM_FORMS,
  type ArchSettings,
  type BundleSpec,
  type ConfigSpec,
  type DiskAlias,
  type DiskSpec,
  type GrubSettings,
  type ImageKind,
  type LayoutName,
  type NameTemplates,
  type QemuImgOptionValue,
  type ReleaseEra,
  type RetiredVendor,
  type SecureVariantSpec,
  type VendorRecord,
  type VendorSettings,
} from './types.js';
import { ARCHES, type Arch } from '../arch.js';

export const VENDOR_ID = /^[a-z0-9][a-z0-9_]*$/;
export const OEM_ID = /^[a-z0-9][a-z0-9_-]*$/;
/** Extensions and file-name pieces must stay plain names: they become output file names. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;
/** OVF VirtualSystemTypes flatbake writes a descriptor for: VMware's template (vmx-N) and VirtualBox's (virtualbox-N.N). */
export const OVF_SYSTEM = /^(vmx-\d+|virtualbox-\d+\.\d+)$/;
export const QEMU_OPTION_KEY = /^[a-z][a-z0-9_]*$/;
export const GUID_TEXT = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
/** qemu-img -o values must not smuggle in another option (`,`) or a second assignment. */
export const QEMU_OPTION_VALUE = /^[A-Za-z0-9_.+-]+$/;

export type Json = unknown;
export type JsonObject = Record<string, Json>;

export function isObject(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Objects whose keys only make sense together: a vendor that states them replaces them whole (a VHDX must not inherit a VHD's force_size). */
export const ATOMIC_KEYS: ReadonlySet<string> = new Set(['options']);

/** Objects merge key by key; anything else in `override` (arrays, strings, null) replaces, as do ATOMIC_KEYS. `$comment` keys are dropped. */
export function mergeRecords(base: Json, override: Json): Json {
  if (!isObject(base) || !isObject(override)) return override === undefined ? base : override;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('$')) out[k] = v;
  for (const [k, v] of Object.entries(override)) {
    if (k.startsWith('$')) continue;
    out[k] = k in out && !ATOMIC_KEYS.has(k) ? mergeRecords(out[k], v) : v;
  }
  return out;
}

/** `{vendor}` style placeholders; an unknown placeholder is an error so typos do not end up in file names. */
export function renderTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new InputError(`unknown placeholder ${whole} in vendor template '${template}'`);
    return value;
  });
}

/** Collects validation problems with the JSON path they belong to. */
export class Checker {
  constructor(readonly file: string) {}
  fail(where: string, what: string): never {
    throw new InputError(`vendors/${this.file}: ${where}: ${what}`, 'fix the vendor data (see vendors/defaults.json for the fields)');
  }
  object(value: Json, where: string): JsonObject {
    if (!isObject(value)) this.fail(where, 'must be an object');
    return value;
  }
  string(value: Json, where: string, pattern?: RegExp): string {
    if (typeof value !== 'string') this.fail(where, 'must be a string');
    if (pattern && !pattern.test(value)) this.fail(where, `'${value}' does not match ${pattern}`);
    return value;
  }
  optionalString(value: Json, where: string): string | undefined {
    return value === undefined ? undefined : this.string(value, where);
  }
  oneOf<T extends string>(value: Json, where: string, allowed: readonly T[]): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(where, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
    }
    return value as T;
  }
  positiveInt(value: Json, where: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) this.fail(where, 'must be a positive integer');
    return value;
  }
  boolean(value: Json, where: string): boolean {
    if (typeof value !== 'boolean') this.fail(where, 'must be true or false');
    return value;
  }
  noExtraKeys(value: JsonObject, where: string, allowed: readonly string[]): void {
    for (const key of Object.keys(value)) {
      if (!key.startsWith('$') && !allowed.includes(key)) this.fail(where, `unknown field '${key}' (known: ${allowed.join(', ')})`);
    }
  }
}

export function parseSettings(c: Checker, d: JsonObject): { settings: VendorSettings; layouts: Record<LayoutName, number | null> } {
  const layoutsIn = c.object(d.layouts, 'layouts');
  const layouts = {} as Record<LayoutName, number | null>;
  for (const name of LAYOUT_NAMES) {
    const v = layoutsIn[name];
    layouts[name] = v === null ? null : c.positiveInt(v, `layouts.${name}`);
  }
  c.noExtraKeys(layoutsIn, 'layouts', LAYOUT_NAMES);
  const namesIn = c.object(d.names, 'names');
  const names: NameTemplates = {
    machine: c.string(namesIn.machine, 'names.machine'),
    vm: c.string(namesIn.vm, 'names.vm'),
    image: c.string(namesIn.image, 'names.image'),
    companion: c.string(namesIn.companion, 'names.companion'),
    firmware: c.string(namesIn.firmware, 'names.firmware'),
  };
  const netIn = c.object(d.netboot, 'netboot');
  const archIn = c.object(d.architectures, 'architectures');
  const architectures = {} as Record<Arch, ArchSettings>;
  for (const arch of ARCHES) {
    const where = `architectures.${arch}`;
    const a = c.object(archIn[arch], where);
    const fw = c.object(a.uefiFirmware, `${where}.uefiFirmware`);
    const sb = c.object(a.secureBootFirmware, `${where}.secureBootFirmware`);
    let isolinux: ArchSettings['isolinux'] = null;
    if (a.isolinux !== null) {
      const i = c.object(a.isolinux, `${where}.isolinux`);
      if (!Array.isArray(i.modules)) c.fail(`${where}.isolinux.modules`, 'must be a list of paths');
      isolinux = {
        loader: c.string(i.loader, `${where}.isolinux.loader`),
        hybridMbr: c.string(i.hybridMbr, `${where}.isolinux.hybridMbr`),
        modules: i.modules.map((m, n) => c.string(m, `${where}.isolinux.modules[${n}]`)),
        packages: c.string(i.packages, `${where}.isolinux.packages`),
      };
    }
    architectures[arch] = {
      qemu: c.string(a.qemu, `${where}.qemu`, SAFE_NAME),
      machine: c.string(a.machine, `${where}.machine`, SAFE_NAME),
      kvmCpu: c.string(a.kvmCpu, `${where}.kvmCpu`, SAFE_NAME),
      fallbackCpu: c.string(a.fallbackCpu, `${where}.fallbackCpu`, SAFE_NAME),
      console: c.string(a.console, `${where}.console`, SAFE_NAME),
      vagrantArchitecture: c.string(a.vagrantArchitecture, `${where}.vagrantArchitecture`, SAFE_NAME),
      uefiFirmware: {
        code: c.string(fw.code, `${where}.uefiFirmware.code`),
        vars: c.string(fw.vars, `${where}.uefiFirmware.vars`),
        package: c.string(fw.package, `${where}.uefiFirmware.package`),
      },
      secureBootFirmware: {
        code: c.string(sb.code, `${where}.secureBootFirmware.code`),
        vars: c.string(sb.vars, `${where}.secureBootFirmware.vars`),
        package: c.string(sb.package, `${where}.secureBootFirmware.package`),
        smm: c.boolean(sb.smm, `${where}.secureBootFirmware.smm`),
      },
      isolinux,
    };
  }
  return {
    layouts,
    settings: {
      diskAlignmentSectors: c.positiveInt(d.diskAlignmentSectors, 'diskAlignmentSectors'),
      names,
      netboot: {
        kernel: c.string(netIn.kernel, 'netboot.kernel', /^\/[A-Za-z0-9_./-]+$/),
        squashfs: c.string(netIn.squashfs, 'netboot.squashfs', SAFE_NAME),
        grubEfi: parseGrubEfi(c, netIn.grubEfi),
      },
      architectures,
    },
  };
}

/** netboot.grubEfi: eras in rising order, an EFI-SYSTEM path per architecture. */
export function parseGrubEfi(c: Checker, value: Json): VendorSettings['netboot']['grubEfi'] {
  if (!Array.isArray(value) || value.length === 0) c.fail('netboot.grubEfi', 'must list the eras of the GRUB path');
  let previous = 0;
  return value.map((raw, n) => {
    const w = `netboot.grubEfi[${n}]`;
    const e = c.object(raw, w);
    c.noExtraKeys(e, w, ['from', 'path']);
    const from = c.positiveInt(e.from, `${w}.from`);
    if (from <= previous) c.fail(`${w}.from`, `eras must rise (${from} after ${previous})`);
    previous = from;
    const pathIn = c.object(e.path, `${w}.path`);
    const paths = {} as Record<Arch, string>;
    for (const arch of ARCHES) paths[arch] = c.string(pathIn[arch], `${w}.path.${arch}`, /^\/[A-Za-z0-9_./-]+$/);
    return { from, path: paths };
  });
}

export function parseGrub(c: Checker, value: Json, where: string): GrubSettings {
  const g = c.object(value, where);
  c.noExtraKeys(g, where, ['oemId', 'linuxAppend', 'linuxConsole', 'serial', 'consolePlatform', 'linuxConsoleArm64']);
  const grub: GrubSettings = { oemId: c.string(g.oemId, `${where}.oemId`, OEM_ID) };
  const append = c.optionalString(g.linuxAppend, `${where}.linuxAppend`);
  if (append !== undefined) grub.linuxAppend = append;
  const console = c.optionalString(g.linuxConsole, `${where}.linuxConsole`);
  if (console !== undefined) grub.linuxConsole = console;
  if (g.serial !== undefined) {
    const s = c.object(g.serial, `${where}.serial`);
    const unit = s.unit;
    if (typeof unit !== 'number' || !Number.isSafeInteger(unit) || unit < 0) c.fail(`${where}.serial.unit`, 'must be a serial port number (0 = com0)');
    grub.serial = { unit, speed: c.positiveInt(s.speed, `${where}.serial.speed`) };
  }
  const arm64Console = c.optionalString(g.linuxConsoleArm64, `${where}.linuxConsoleArm64`);
  if (arm64Console !== undefined) grub.linuxConsoleArm64 = arm64Console;
  const platform = c.optionalString(g.consolePlatform, `${where}.consolePlatform`);
  if (platform !== undefined) grub.consolePlatform = c.string(platform, `${where}.consolePlatform`, /^[a-z0-9-]+$/);
  return grub;
}

export function parseDisk(c: Checker, value: Json, where: string): DiskSpec {
  const d = c.object(value, where);
  c.noExtraKeys(d, where, ['format', 'options', 'compressed', 'extension', 'virtualSizeBytes', 'archive', 'name', 'aliases']);
  const format = c.oneOf(d.format, `${where}.format`, DISK_FORMATS);
  const optionsIn = c.object(d.options ?? {}, `${where}.options`);
  const options: Record<string, QemuImgOptionValue> = {};
  for (const [k, v] of Object.entries(optionsIn)) {
    if (!QEMU_OPTION_KEY.test(k)) c.fail(`${where}.options`, `bad qemu-img option name '${k}'`);
    if (typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) options[k] = v;
    else options[k] = c.string(v, `${where}.options.${k}`, QEMU_OPTION_VALUE);
  }
  const disk: DiskSpec = {
    format,
    options,
    compressed: c.boolean(d.compressed, `${where}.compressed`),
    extension: c.string(d.extension, `${where}.extension`, SAFE_NAME),
  };
  if (disk.compressed && format !== 'qcow2') c.fail(`${where}.compressed`, `only qcow2 can be written compressed, not ${format}`);
  if (d.name !== undefined) disk.name = c.oneOf(d.name, `${where}.name`, ['image', 'companion'] as const);
  if (d.virtualSizeBytes !== undefined) {
    disk.virtualSizeBytes = c.positiveInt(d.virtualSizeBytes, `${where}.virtualSizeBytes`);
    if (disk.virtualSizeBytes % 512 !== 0) c.fail(`${where}.virtualSizeBytes`, 'must be a multiple of 512');
  }
  if (d.archive !== undefined) {
    const a = c.object(d.archive, `${where}.archive`);
    c.noExtraKeys(a, `${where}.archive`, ['format', 'member']);
    if (format !== 'raw') c.fail(`${where}.archive`, 'only raw disks are archived');
    disk.archive = { format: c.oneOf(a.format, `${where}.archive.format`, ['tar.gz'] as const), member: c.string(a.member, `${where}.archive.member`, SAFE_NAME) };
  }
  if (d.aliases !== undefined) {
    if (!Array.isArray(d.aliases)) c.fail(`${where}.aliases`, 'must be a list of { vendor, from, architectures? }');
    disk.aliases = d.aliases.map((v, i) => {
      const w = `${where}.aliases[${i}]`;
      const a = c.object(v, w);
      c.noExtraKeys(a, w, ['vendor', 'from', 'architectures']);
      const alias: DiskAlias = { vendor: c.string(a.vendor, `${w}.vendor`, VENDOR_ID), from: c.positiveInt(a.from, `${w}.from`) };
      if (a.architectures !== undefined) {
        if (!Array.isArray(a.architectures)) c.fail(`${w}.architectures`, `must be a list of ${ARCHES.join(', ')}`);
        alias.architectures = a.architectures.map((x, n) => c.oneOf(x, `${w}.architectures[${n}]`, ARCHES));
      }
      return alias;
    });
  }
  return disk;
}

export function parseSecureVariant(c: Checker, value: Json, where: string): SecureVariantSpec {
  const d = c.object(value, where);
  c.noExtraKeys(d, where, ['owner', 'eras']);
  if (!Array.isArray(d.eras) || d.eras.length === 0) c.fail(`${where}.eras`, 'must be a non-empty list of { from, db }');
  let last = 0;
  const eras = d.eras.map((e, i) => {
    const era = c.object(e, `${where}.eras[${i}]`);
    c.noExtraKeys(era, `${where}.eras[${i}]`, ['from', 'db']);
    const from = c.positiveInt(era.from, `${where}.eras[${i}].from`);
    if (from <= last) c.fail(`${where}.eras[${i}].from`, 'eras must be in ascending order of their major');
    last = from;
    if (era.db === null) return { from, db: null };
    if (!Array.isArray(era.db) || era.db.length === 0) c.fail(`${where}.eras[${i}].db`, 'must be null or a non-empty list of certificate files in vendors/secure-boot/');
    return { from, db: era.db.map((f, n) => c.string(f, `${where}.eras[${i}].db[${n}]`, SAFE_NAME)) };
  });
  return { owner: c.string(d.owner, `${where}.owner`, GUID_TEXT), eras };
}

export function parseConfig(c: Checker, value: Json, where: string): ConfigSpec {
  const d = c.object(value, where);
  c.noExtraKeys(d, where, ['kind', 'extension', 'boot', 'system', 'secureVariant']);
  const config: ConfigSpec = { kind: c.oneOf(d.kind, `${where}.kind`, CONFIG_KINDS), extension: c.string(d.extension, `${where}.extension`, SAFE_NAME) };
  if (config.kind === 'qemu-launch') config.boot = c.oneOf(d.boot, `${where}.boot`, LAUNCH_BOOTS);
  else if (d.boot !== undefined) c.fail(`${where}.boot`, 'only qemu-launch configs have a boot mode');
  if (d.secureVariant !== undefined) {
    config.secureVariant = parseSecureVariant(c, d.secureVariant, `${where}.secureVariant`);
    if (config.boot !== 'uefi-disk') c.fail(`${where}.secureVariant`, 'only a qemu-launch config booting a disk through UEFI has a Secure Boot variant');
  }
  if (config.kind === 'ovf') config.system = c.string(d.system, `${where}.system`, OVF_SYSTEM);
  else if (d.system !== undefined) c.fail(`${where}.system`, 'only ovf configs name a virtual system type');
  return config;
}

export function parseBundle(c: Checker, value: Json, where: string): BundleSpec {
  const d = c.object(value, where);
  c.noExtraKeys(d, where, ['kind', 'extension', 'provider', 'system']);
  const bundle: BundleSpec = { kind: c.oneOf(d.kind, `${where}.kind`, BUNDLE_KINDS), extension: c.string(d.extension, `${where}.extension`, SAFE_NAME) };
  if (bundle.kind === 'box') bundle.provider = c.oneOf(d.provider, `${where}.provider`, ['virtualbox', 'parallels'] as const);
  else if (d.provider !== undefined) c.fail(`${where}.provider`, 'only box bundles have a provider');
  const system = c.optionalString(d.system, `${where}.system`);
  if (system !== undefined) bundle.system = c.string(system, `${where}.system`, OVF_SYSTEM);
  return bundle;
}

/** `releases`: eras in rising order; each era's architectures default to the vendor's and may only narrow them. */
export function parseReleases(c: Checker, value: Json, where: string, architectures: Arch[], hasOem: boolean): ReleaseEra[] {
  if (!Array.isArray(value) || value.length === 0) c.fail(where, 'must list the eras of Flatcar releases (see vendors.json $comment)');
  let previous = 0;
  return value.map((raw, n) => {
    const w = `${where}[${n}]`;
    const e = c.object(raw, w);
    c.noExtraKeys(e, w, ['from', 'oem', 'architectures']);
    const from = c.positiveInt(e.from, `${w}.from`);
    if (from <= previous) c.fail(`${w}.from`, `eras must rise (${from} after ${previous})`);
    previous = from;
    const oem = c.oneOf(e.oem, `${w}.oem`, OEM_FORMS);
    if ((oem === 'none') === hasOem && oem !== 'absent') c.fail(`${w}.oem`, hasOem ? "a vendor with an OEM has no 'none' era" : "a vendor without an OEM has only 'none' or 'absent' eras");
    let arches = architectures;
    if (e.architectures !== undefined) {
      if (!Array.isArray(e.architectures) || e.architectures.length === 0) c.fail(`${w}.architectures`, 'must list at least one architecture');
      arches = e.architectures.map((a, i) => c.oneOf(a, `${w}.architectures[${i}]`, ARCHES));
      for (const a of arches) if (!architectures.includes(a)) c.fail(`${w}.architectures`, `${a} is not one of the vendor's architectures (${architectures.join(', ')})`);
    }
    return { from, oem, architectures: arches };
  });
}

/** The checks that tie fields together, so a converter never meets an impossible combination. */
export function checkCombination(c: Checker, v: VendorRecord): void {
  const where = v.id;
  if (v.kind === 'disk') {
    if (!v.layout) c.fail(where, 'a disk vendor needs a layout');
    if (!v.disk) c.fail(where, 'a disk vendor needs a disk');
  } else {
    if (v.layout || v.disk) c.fail(where, `a ${v.kind} vendor has no disk: set layout and disk to null`);
    if (v.oem) c.fail(where, `a ${v.kind} vendor has no OEM partition: set oem to null`);
    if (v.bundle) c.fail(where, `a ${v.kind} vendor has no bundle`);
  }
  const format = v.disk?.format;
  const bootFor: Record<string, ImageKind> = { 'uefi-disk': 'disk', kernel: 'pxe', cdrom: 'iso' };
  if (v.config?.kind === 'qemu-launch' && bootFor[v.config.boot!] !== v.kind) c.fail(`${where}.config.boot`, `${v.config.boot} does not fit a ${v.kind} vendor`);
  if ((v.config?.kind === 'vmx' || v.config?.kind === 'ovf') && format !== 'vmdk') c.fail(`${where}.config`, `${v.config.kind} describes a VMDK disk, not ${format}`);
  if (v.config?.kind === 'pvs' && format !== 'parallels') c.fail(`${where}.config`, 'pvs describes a Parallels disk');
  if (v.config?.kind === 'xl' && format !== 'raw') c.fail(`${where}.config`, 'the xl config boots a raw disk');
  if (v.bundle?.kind === 'ova' && format !== 'vmdk') c.fail(`${where}.bundle`, 'an OVA carries a VMDK disk');
  if (v.bundle?.kind === 'pvm' && format !== 'parallels') c.fail(`${where}.bundle`, 'a pvm bundle carries a Parallels disk');
  if (v.bundle?.kind === 'box') {
    const wants = v.bundle.provider === 'parallels' ? 'parallels' : 'vmdk';
    if (format !== wants) c.fail(`${where}.bundle`, `a ${v.bundle.provider} box carries a ${wants} disk, not ${format}`);
  }
  if (v.bundle?.kind === 'ova' && v.config?.kind !== 'ovf') c.fail(`${where}.bundle`, 'an OVA bundles the vendor\'s OVF: set config to an ovf config');
  if (v.bundle?.kind === 'box' && v.bundle.provider === 'virtualbox' && !v.bundle.system) {
    c.fail(`${where}.bundle.system`, 'the bundled OVF needs a virtual system type');
  }
  if (v.disk?.archive && v.bundle) c.fail(where, 'a disk is either archived or bundled, not both');
}

/** retired.json: each record names a span of majors and, if any, a successor that is a vendor flatbake writes. */
export function parseRetired(c: Checker, value: Json, records: ReadonlyMap<string, VendorRecord>): RetiredVendor[] {
  const out: RetiredVendor[] = [];
  for (const [id, raw] of Object.entries(c.object(value, '(top)'))) {
    if (id.startsWith('$')) continue;
    c.string(id, id, VENDOR_ID);
    if (records.has(id)) c.fail(id, 'is a vendor in vendors.json, not a retired one');
    const r = c.object(raw, id);
    c.noExtraKeys(r, id, ['from', 'until', 'why', 'instead']);
    const from = c.positiveInt(r.from, `${id}.from`);
    const until = c.positiveInt(r.until, `${id}.until`);
    if (until < from) c.fail(`${id}.until`, `ends (${until}) before it starts (${from})`);
    const instead = r.instead === null ? null : c.string(r.instead, `${id}.instead`, VENDOR_ID);
    if (instead !== null && !records.has(instead)) c.fail(`${id}.instead`, `'${instead}' is not a vendor in vendors.json`);
    out.push({ id, from, until, why: c.string(r.why, `${id}.why`), instead });
  }
  return out;
}
