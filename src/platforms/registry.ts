/**
 * The vendor registry: every vendor is data in `vendors/` (defaults.json,
 * oems.json, vendors.json). A record starts from the defaults (or from the
 * vendor it `extends`), overrides what differs, and is checked field by
 * field (vendor-data.ts) so the converters can trust it. Building the
 * registry is pure; only loadVendorRegistry() reads files.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, UsageError } from '../errors.js';
import { majorOf, refuseUnsupportedVendors, supportedReleases } from './releases.js';
import {
  IMAGE_KINDS,
  LAYOUT_NAMES,
  type DiskSpec,
  type LayoutName,
  type OemSpec,
  type RetiredVendor,
  type VendorRecord,
  type VendorSettings,
} from './types.js';
import { ARCHES, type Arch } from '../arch.js';
import {
  Checker,
  checkCombination,
  mergeRecords,
  OEM_ID,
  parseBundle,
  parseConfig,
  parseDisk,
  parseGrub,
  parseReleases,
  parseRetired,
  parseSettings,
  renderTemplate,
  SAFE_NAME,
  VENDOR_ID,
  type JsonObject,
} from './vendor-data.js';

export { mergeRecords, renderTemplate };

export const GENERIC_VENDOR = 'generic';

/** The data files, as parsed JSON. */
export interface VendorDataFiles {
  defaults: unknown;
  oems: unknown;
  vendors: unknown;
  /** retired.json: image types the SDK once wrote (absent: none). */
  retired?: unknown;
}

export interface VendorSelection {
  /** `generic` (the plain baked image) was asked for. */
  generic: boolean;
  vendors: VendorRecord[];
}

export interface VendorRegistry {
  /** Vendor ids in the order of vendors.json. */
  readonly ids: readonly string[];
  readonly settings: VendorSettings;
  /** Layout name -> ROOT sectors (null: unchanged). */
  readonly layouts: Readonly<Record<LayoutName, number | null>>;
  /** Image types Flatcar's SDK once wrote that flatbake does not, in the order of retired.json. */
  readonly retired: readonly RetiredVendor[];
  /** The record of `id`; a retired id is a UsageError naming its releases and successor, other unknown ids one listing the known ones. */
  get(id: string): VendorRecord;
  /**
   * Parses `--vendor` lists (comma-separated, repeated, deduplicated); empty means generic only.
   * With `arch`, refuses a vendor no Flatcar release has for it; with `version` too, one that
   * release's SDK would not write with an OEM sysext (see releases.ts).
   */
  select(list: readonly string[], arch?: Arch, version?: string): VendorSelection;
}


/** The SDK's alias names of a vendor's disk for a release and architecture (a version without a major: all). */
export function diskAliases(settings: VendorSettings, disk: DiskSpec, version: string, arch: Arch): string[] {
  const major = majorOf(version);
  return (disk.aliases ?? [])
    .filter((a) => (major === undefined || a.from <= major) && (!a.architectures || a.architectures.includes(arch)))
    .map((a) => diskFileName(outputNames(settings, a.vendor, version), disk));
}

/** Validates the data files and resolves every vendor record. Pure. */
export function buildVendorRegistry(files: VendorDataFiles): VendorRegistry {
  const cd: Checker = new Checker('defaults.json');
  const defaults = cd.object(files.defaults, '(top)');
  const { settings, layouts } = parseSettings(cd, defaults);
  const vendorDefaults = cd.object(defaults.vendor, 'vendor');
  const oemDefaults = cd.object(defaults.oem, 'oem');

  const co: Checker = new Checker('oems.json');
  const oemsIn = co.object(files.oems, '(top)');
  const oems = new Map<string, OemSpec>();
  for (const [id, raw] of Object.entries(oemsIn)) {
    if (id.startsWith('$')) continue;
    co.string(id, id, OEM_ID);
    const merged = co.object(mergeRecords(oemDefaults, co.object(raw, id)), id);
    co.noExtraKeys(merged, id, ['sysext', 'grub']);
    const vars = { oem: id };
    const grubIn = co.object(merged.grub, `${id}.grub`);
    const grubRendered: JsonObject = { ...grubIn, oemId: renderTemplate(co.string(grubIn.oemId, `${id}.grub.oemId`), vars) };
    oems.set(id, {
      id,
      sysext: co.string(renderTemplate(co.string(merged.sysext, `${id}.sysext`), vars), `${id}.sysext`, SAFE_NAME),
      grub: parseGrub(co, grubRendered, `${id}.grub`),
    });
  }

  const cv: Checker = new Checker('vendors.json');
  const vendorsIn = cv.object(files.vendors, '(top)');
  const rawById = new Map<string, JsonObject>();
  for (const [id, raw] of Object.entries(vendorsIn)) {
    if (id.startsWith('$')) continue;
    if (id === GENERIC_VENDOR) cv.fail(id, `'${GENERIC_VENDOR}' is the plain image, not a vendor record`);
    cv.string(id, id, VENDOR_ID);
    rawById.set(id, cv.object(raw, id));
  }

  /** defaults <- the extends chain (root first) <- the record itself. */
  const flatten = (id: string, seen: string[]): JsonObject => {
    if (seen.includes(id)) cv.fail(id, `extends cycle: ${[...seen, id].join(' -> ')}`);
    const raw = rawById.get(id);
    if (!raw) cv.fail(seen.at(-1) ?? id, `extends unknown vendor '${id}'`);
    const parent = raw.extends === undefined ? vendorDefaults : flatten(cv.string(raw.extends, `${id}.extends`), [...seen, id]);
    const { extends: _ignored, ...own } = raw;
    return cv.object(mergeRecords(parent, own), id);
  };

  const records = new Map<string, VendorRecord>();
  for (const id of rawById.keys()) {
    const r = flatten(id, []);
    cv.noExtraKeys(r, id, ['description', 'architectures', 'kind', 'layout', 'oem', 'disk', 'config', 'bundle', 'kernelCommandLine', 'vm', 'releases']);
    if (!Array.isArray(r.architectures) || r.architectures.length === 0) cv.fail(`${id}.architectures`, 'must list at least one architecture');
    const layoutName = r.layout === null ? null : cv.oneOf(r.layout, `${id}.layout`, LAYOUT_NAMES);
    let oem: OemSpec | null = null;
    if (r.oem !== null) {
      const oemId = renderTemplate(cv.string(r.oem, `${id}.oem`), { vendor: id });
      const found = oems.get(oemId);
      if (!found) cv.fail(`${id}.oem`, `OEM '${oemId}' is not in oems.json`);
      oem = found;
    }
    const vm = cv.object(r.vm, `${id}.vm`);
    const architectures = r.architectures.map((a, n) => cv.oneOf(a, `${id}.architectures[${n}]`, ARCHES));
    const record: VendorRecord = {
      id,
      description: cv.string(r.description ?? id, `${id}.description`),
      architectures,
      kind: cv.oneOf(r.kind, `${id}.kind`, IMAGE_KINDS),
      layout: layoutName === null ? null : { name: layoutName, rootSectors: layouts[layoutName] },
      oem,
      disk: r.disk === null ? null : parseDisk(cv, r.disk, `${id}.disk`),
      config: r.config === null ? null : parseConfig(cv, r.config, `${id}.config`),
      bundle: r.bundle === null ? null : parseBundle(cv, r.bundle, `${id}.bundle`),
      kernelCommandLine: cv.string(r.kernelCommandLine, `${id}.kernelCommandLine`, /^[^\n"'\\$`]*$/),
      vm: { memoryMiB: cv.positiveInt(vm.memoryMiB, `${id}.vm.memoryMiB`), cpus: cv.positiveInt(vm.cpus, `${id}.vm.cpus`) },
      releases: [],
    };
    checkCombination(cv, record);
    record.releases = parseReleases(cv, r.releases, `${id}.releases`, architectures, oem !== null);
    records.set(id, Object.freeze(record));
  }

  const ids = [...records.keys()];
  const retired = parseRetired(new Checker('retired.json'), files.retired ?? {}, records);
  const unknown = (id: string) => {
    const old = retired.find((r) => r.id === id);
    if (old) {
      return new UsageError(
        `vendor '${id}' is not a flatbake vendor: Flatcar's SDK had it as an image type of its own for Flatcar ${old.from} to ${old.until}; ${old.why}`,
        old.instead ? `use --vendor ${old.instead} (\`flatbake vendors\` describes it)` : `nothing replaced it; \`flatbake vendors\` lists the vendors flatbake writes`,
      );
    }
    return new UsageError(`unknown vendor '${id}'`, `known vendors: ${GENERIC_VENDOR}, ${ids.join(', ')} (\`flatbake vendors\` describes them)`);
  };
  return {
    ids,
    settings,
    layouts,
    retired,
    get(id) {
      const record = records.get(id);
      if (!record) throw unknown(id);
      return record;
    },
    select(list, arch, version) {
      const wanted = [...new Set(list.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))];
      if (wanted.length === 0) return { generic: true, vendors: [] };
      const vendors: VendorRecord[] = [];
      for (const id of wanted) {
        if (id === GENERIC_VENDOR) continue;
        const record = records.get(id);
        if (!record) throw unknown(id);
        if (arch && !record.architectures.includes(arch)) {
          throw new UsageError(`vendor '${id}' has no ${arch} image`, `${id} is built for ${record.architectures.join(', ')} only`);
        }
        if (arch && supportedReleases(record, arch) === 'none') {
          const oemArches = [...new Set(record.releases.filter((e) => e.oem === 'sysext').flatMap((e) => e.architectures))];
          throw new UsageError(
            `vendor '${id}' has no ${arch} image: its OEM (${record.oem?.sysext ?? 'none'}) is built for ${oemArches.join(', ') || 'no architecture'} only`,
            `${id} is written for ${record.architectures.filter((a) => supportedReleases(record, a) !== 'none').join(', ')}`,
          );
        }
        vendors.push(record);
      }
      if (arch && version !== undefined) refuseUnsupportedVendors(vendors, version, arch);
      return { generic: wanted.includes(GENERIC_VENDOR), vendors };
    },
  };
}

/** `vendors/` at the package root: two levels above this module both in src/platforms and dist/platforms. */
export function vendorsDir(): string {
  return fileURLToPath(new URL('../../vendors/', import.meta.url));
}

/** Reads and validates vendors/{defaults,oems,vendors,retired}.json. */
export async function loadVendorRegistry(dir: string = vendorsDir()): Promise<VendorRegistry> {
  const read = async (name: string): Promise<unknown> => {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read the vendor data ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'reinstall flatbake: vendors/ ships with it');
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new InputError(`vendors/${name} is not valid JSON: ${(err as Error).message}`);
    }
  };
  const [defaults, oems, vendors, retired] = await Promise.all([read('defaults.json'), read('oems.json'), read('vendors.json'), read('retired.json')]);
  return buildVendorRegistry({ defaults, oems, vendors, retired });
}

/** The published name of a vendor's disk (its template per `disk.name`). */
export function diskFileName(names: ReturnType<typeof outputNames>, disk: DiskSpec): string {
  return disk.name === 'companion' ? names.companion(disk.extension) : names.image(disk.extension);
}

/** Output names from the templates in defaults.json; `version` is the Flatcar version the VM name carries. */
export function outputNames(settings: VendorSettings, vendor: string, version = '') {
  const n = settings.names;
  return {
    machine: renderTemplate(n.machine, { vendor }),
    // vm_image_util.sh set_vm_paths (V:301-303): "Make VM_NAME safe for use as a hostname".
    vm: renderTemplate(n.vm, { vendor, version }).replace(/[.+]/g, '-'),
    image: (ext: string) => renderTemplate(n.image, { vendor, ext }),
    companion: (ext: string) => renderTemplate(n.companion, { vendor, ext }),
    firmware: (part: 'code' | 'vars') => renderTemplate(n.firmware, { vendor, part }),
  };
}
