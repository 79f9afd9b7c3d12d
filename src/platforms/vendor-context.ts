/**
 * One vendor's write in progress (VendorContext: its record, names, output and scratch dirs, the
 * files written so far), and the companion files written beside a vendor's disk or boot files:
 * the QEMU launch scripts with their README (and the `_secure` variant's), and the SDK's
 * VM_README. Used by the disk writer (write.ts) and the netboot writer (write-netboot.ts).
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderLaunchReadme, renderLaunchScript, type LaunchFiles, type LaunchInput } from './launch-script.js';
import { outputNames, type VendorRegistry } from './registry.js';
import type { VendorRecord } from './types.js';
import type { WriteVendorImagesOptions } from './write.js';

export interface VendorContext {
  options: WriteVendorImagesOptions;
  registry: VendorRegistry;
  vendor: VendorRecord;
  names: ReturnType<typeof outputNames>;
  /** `<workDir>/<vendor>`: the outputs. */
  dir: string;
  /** Intermediate files, removed at the end. */
  scratch: string;
  /** Output files written so far, in order. */
  files: string[];
  /** The ROOT size of the files that are or carry the vendor's disk. */
  rootBytes: Map<string, number>;
  /** Symlink names written beside an output file (by its path). */
  aliases: Map<string, string[]>;
}

/** Names of the `<vendor>_secure` variant (`flatcar_production_qemu_uefi_secure.sh`, `_secure_efi_code.qcow2`). */
export function secureNames(ctx: VendorContext): ReturnType<typeof outputNames> {
  return outputNames(ctx.registry.settings, `${ctx.vendor.id}_secure`, ctx.options.version);
}

export async function writeLaunch(ctx: VendorContext, files: LaunchFiles, secureFiles?: LaunchFiles, secureDb?: readonly string[]): Promise<void> {
  const { vendor, names } = ctx;
  const arch = ctx.registry.settings.architectures[ctx.options.arch];
  const input: LaunchInput = {
    name: names.machine,
    boot: vendor.config!.boot!,
    arch,
    memoryMiB: vendor.vm.memoryMiB,
    cpus: vendor.vm.cpus,
    kernelCommandLine: vendor.kernelCommandLine,
    files,
  };
  const scripts: Array<[string, LaunchInput]> = [[names.companion(vendor.config!.extension), input]];
  const secure = secureFiles ? { ...input, name: secureNames(ctx).machine, files: secureFiles, secureBoot: { smm: arch.secureBootFirmware.smm, db: secureDb } } : undefined;
  if (secure) scripts.push([secureNames(ctx).companion(vendor.config!.extension), secure]);
  for (const [name, script] of scripts) {
    const file = path.join(ctx.dir, name);
    await writeFile(file, renderLaunchScript(script));
    await chmod(file, 0o755);
    ctx.files.push(file);
  }
  const readme = path.join(ctx.dir, names.companion('README'));
  ctx.files.push(readme);
  await writeFile(readme, renderLaunchReadme(input, ctx.files.map((f) => path.basename(f)), secure));
}

/** `flatcar_production_<vendor>.README`, the SDK's VM_README (V:299), beside the files it explains. */
export async function writeReadme(ctx: VendorContext, text: string): Promise<void> {
  const readme = path.join(ctx.dir, ctx.names.companion('README'));
  await writeFile(readme, text);
  ctx.files.push(readme);
}
