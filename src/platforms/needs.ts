/**
 * What writing a vendor image runs on the host, derived from its record (disk format,
 * archive, bundle, launch config, kind), so the bake can refuse a missing tool before
 * it downloads or writes anything, and `flatbake doctor --vendor` checks exactly that.
 * The writers that run them: formats.ts, bundles.ts, vagrant.ts, layout.ts, netboot.ts.
 */
import { access, constants } from 'node:fs/promises';
import type { Arch } from '../arch.js';
import { MissingToolError } from '../errors.js';
import { which } from '../util/exec.js';
import type { HostFile, HostTool } from '../doctor/tools.js';
import { VENDOR_HOST_FILES, VENDOR_HOST_TOOLS } from './tools.js';
import type { VendorRecord, VendorSettings } from './types.js';

export interface HostNeeds {
  tools: HostTool[];
  files: HostFile[];
}

function tool(command: string): HostTool {
  const known = VENDOR_HOST_TOOLS.find((t) => t.command === command);
  if (!known) throw new Error(`${command} is not in VENDOR_HOST_TOOLS`);
  return { ...known, required: true };
}

/** A file with the package doctor's list names for it (vendors.json names the packages of a set of files only). */
function file(filePath: string, fallbackPackage: string, purpose: string): HostFile {
  return { path: filePath, package: VENDOR_HOST_FILES.find((f) => f.path === filePath)?.package ?? fallbackPackage, purpose };
}

/** The commands and files writing `record` for `arch` runs or reads (each once). */
export function vendorHostNeeds(record: VendorRecord, arch: Arch, settings: VendorSettings): HostNeeds {
  const commands = new Set<string>();
  const files: HostFile[] = [];
  // A layout other than the base image's grows ROOT (layout.ts).
  if (record.layout && record.layout.rootSectors !== null) commands.add('e2fsck').add('resize2fs');
  const disk = record.disk;
  // Every format but raw goes through qemu-img, parallels too (its snapshot: parallels.ts).
  if (disk && disk.format !== 'raw') commands.add('qemu-img');
  if (disk?.archive) commands.add('tar').add('gzip');
  if (record.bundle?.kind === 'ova') commands.add('tar');
  if (record.bundle?.kind === 'box' || record.bundle?.kind === 'pvm') commands.add('tar').add('gzip');
  if (record.config?.kind === 'qemu-launch' && record.config.boot === 'uefi-disk') {
    // qemu_uefi ships qcow2 copies of the firmware (bundles.ts).
    commands.add('qemu-img');
    const fw = settings.architectures[arch].uefiFirmware;
    files.push(file(fw.code, fw.package, `UEFI firmware shipped with ${record.id}`), file(fw.vars, fw.package, `UEFI variables shipped with ${record.id}`));
    if (record.config.secureVariant) {
      const sb = settings.architectures[arch].secureBootFirmware;
      files.push(file(sb.code, sb.package, `Secure Boot firmware of ${record.id}_secure`), file(sb.vars, sb.package, `Secure Boot variables of ${record.id}_secure`));
    }
  }
  if (record.kind === 'pxe' || record.kind === 'iso') for (const c of ['mcopy', 'mksquashfs', 'cpio', 'gzip']) commands.add(c);
  if (record.kind === 'iso') {
    commands.add('xorriso');
    const iso = settings.architectures[arch].isolinux;
    if (iso) for (const f of [iso.loader, iso.hybridMbr, ...iso.modules]) files.push(file(f, iso.packages, `boot loader of ${record.id}`));
  }
  return { tools: [...commands].map(tool), files };
}

/** The tools and files `records` need that this host lacks. */
export async function missingHostNeeds(needs: HostNeeds[]): Promise<HostNeeds> {
  const tools = new Map<string, HostTool>();
  const files = new Map<string, HostFile>();
  for (const n of needs) {
    for (const t of n.tools) tools.set(t.command, t);
    for (const f of n.files) files.set(f.path, f);
  }
  const missingTools = [];
  for (const t of tools.values()) if (!(await which(t.command))) missingTools.push(t);
  const missingFiles = [];
  for (const f of files.values()) if (!(await access(f.path, constants.R_OK).then(() => true, () => false))) missingFiles.push(f);
  return { tools: missingTools, files: missingFiles };
}

/** The Debian packages that provide what is missing (each once, in order). */
export function packagesOf(missing: HostNeeds): string[] {
  return debianPackages([...missing.tools, ...missing.files].map((t) => t.package));
}

/** Package fields as apt-get takes them: `isolinux, syslinux-common` is two; `(not in Debian)` none. */
export function debianPackages(fields: string[]): string[] {
  return [...new Set(fields.filter((p) => !p.startsWith('(')).flatMap((p) => p.split(/[,\s]+/).filter(Boolean)))];
}

/** Throws one MissingToolError naming every missing tool and file with its package; `what` ("--vendor qemu_uefi") says who needs them. */
export function assertNothingMissing(missing: HostNeeds, what: string): void {
  if (missing.tools.length === 0 && missing.files.length === 0) return;
  const names = [...missing.tools.map((t) => `${t.command} (${t.package})`), ...missing.files.map((f) => `${f.path} (${f.package})`)];
  const packages = packagesOf(missing);
  throw new MissingToolError(
    `${what} needs ${names.join(', ')}, not installed; nothing was downloaded or written`,
    `${packages.length ? `apt-get install -y --no-install-recommends ${packages.join(' ')} (or run scripts/setup.sh); ` : ''}flatbake doctor lists what is missing`,
  );
}
