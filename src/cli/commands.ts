import { Command } from 'commander';
import { parseBackend } from '../backend/index.js';
import { registerBoot } from './boot-command.js';
import { registerButane } from './butane-command.js';
import { registerDemo } from './demo-command.js';
import { registerRelease } from './release-command.js';
import { registerWrapCommands } from './wrap-commands.js';
import { registerSysext } from './sysext-command.js';

/** The version of `flatbake vendors --json`'s shape (schemas/vendors.schema.json). */
export const VENDORS_SCHEMA_VERSION = 1;

export function registerOtherCommands(program: Command): void {
  program
    .command('vendors')
    .description('list the vendor ids --vendor accepts: layout, OEM, disk format, files, and the Flatcar majors (per architecture) that have each')
    .option('--json', 'print JSON (the full vendor records)')
    .action(async (options: { json?: boolean }) => {
      const { diskFileName, loadVendorRegistry, outputNames } = await import('../platforms/index.js');
      const { supportedReleases } = await import('../platforms/releases.js');
      const registry = await loadVendorRegistry();
      const records = registry.ids.map((id) => registry.get(id));
      // Per architecture, the Flatcar majors whose SDK writes the vendor as flatbake does.
      const flatcar = (r: (typeof records)[number]) => ({ 'x86-64': supportedReleases(r, 'x86-64'), arm64: supportedReleases(r, 'arm64') });
      if (options.json) {
        const generic = { id: 'generic', description: 'the plain baked image (flatcar_production_image.bin)' };
        // Sizes are bytes named `size` in every --json output: the record's virtualSizeBytes is virtualSize here.
        const out = records.map((record) => {
          const { virtualSizeBytes, ...disk } = record.disk ?? {};
          const size = virtualSizeBytes !== undefined ? { virtualSize: virtualSizeBytes } : {};
          return { ...record, disk: record.disk ? { ...disk, ...size } : null, flatcar: flatcar(record) };
        });
        // Image types the SDK once wrote that flatbake does not (vendors/retired.json).
        const retired = registry.retired;
        process.stdout.write(`${JSON.stringify({ schemaVersion: VENDORS_SCHEMA_VERSION, vendors: [generic, ...out], retired }, null, 2)}\n`);
        return;
      }
      const rows = [['vendor', 'layout', 'oem', 'disk', 'files', 'flatcar x86-64', 'flatcar arm64']];
      rows.push(['generic', 'base', '-', 'raw', 'flatcar_production_image.bin', 'all', 'all']);
      for (const r of records) {
        const names = outputNames(registry.settings, r.id);
        const disk = r.disk ? `${r.disk.format}${Object.keys(r.disk.options).length ? ` (${Object.entries(r.disk.options).map(([k, v]) => `${k}=${v}`).join(',')})` : ''}${r.disk.compressed ? ' compressed' : ''}` : r.kind;
        // An OVA leaves its disk and OVF beside it; box and pvm bundles take them in.
        const loose = !r.bundle || r.bundle.kind === 'ova';
        const files = [
          r.bundle ? names.companion(r.bundle.extension) : '',
          loose ? (r.disk ? diskFileName(names, r.disk) : `${r.kind} files`) : '',
          loose && r.config ? names.companion(r.config.extension) : '',
        ].filter(Boolean).join(' + ');
        const majors = flatcar(r);
        rows.push([r.id, r.layout?.name ?? '-', r.oem?.id ?? '-', disk, files, majors['x86-64'], majors.arm64]);
      }
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
      process.stdout.write(rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n');
      const surveyed = Math.min(...records.flatMap((r) => r.releases.map((e) => e.from)));
      process.stdout.write(
        `\nflatcar: the Flatcar majors whose SDK writes the vendor with its OEM sysext (or without an OEM), read from flatcar/scripts at every major from ${surveyed}; other releases are refused before anything is downloaded.\n`,
      );
      const old = [['retired', 'flatcar', 'use instead'], ...registry.retired.map((r) => [r.id, `${r.from} to ${r.until}`, r.instead ?? '-'])];
      const oldWidths = old[0]!.map((_, i) => Math.max(...old.map((row) => row[i]!.length)));
      process.stdout.write(`\n${old.map((row) => row.map((cell, i) => cell.padEnd(oldWidths[i]!)).join('  ').trimEnd()).join('\n')}\n`);
      process.stdout.write('\nretired: image types Flatcar\'s SDK wrote for those majors that flatbake does not write; --vendor with one says why.\n');
    });

  program
    .command('inspect')
    .description('show partitions, release and the sysexts baked into an image (reads the file; no root needed)')
    .argument('<image>', 'a flatcar_production_image.bin')
    .option('--backend <backend>', 'offline (read the image file), mount (read-only mounts, root or sudo), auto', 'auto')
    .option('--json', 'print JSON')
    .action(async (image: string, options: { json?: boolean; backend: string }) => {
      const { formatInspect, inspectImage } = await import('../inspect/inspect.js');
      const report = await inspectImage(image, parseBackend(options.backend));
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspect(report)}\n`);
    });

  program
    .command('doctor')
    .description('which host tools are present, what each is needed for, and which package provides it; exits 1 when a required one is missing')
    .option('--backend <backend>', 'check for this backend: offline, mount, or auto (the one a bake would choose here)', 'auto')
    .option('--vendor <ids>', 'also require what these vendor images need (comma-separated, as the bake\'s --vendor)')
    .option('--arch <arch>', 'the architecture of --vendor (x86-64 or arm64)', 'x86-64')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean; backend: string; vendor?: string; arch: string }) => {
      const { runDoctor, formatDoctor } = await import('../doctor/doctor.js');
      const { normalizeArch } = await import('../arch.js');
      const report = await runDoctor({ backend: parseBackend(options.backend), vendors: options.vendor ? [options.vendor] : undefined, arch: normalizeArch(options.arch) });
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
      if (!report.ok) process.exitCode = 1;
    });

  registerDemo(program);
  registerBoot(program);
  registerSysext(program);
  registerButane(program);
  registerWrapCommands(program);

  registerRelease(program);

  program
    .command('completion')
    .description('print shell completion for bash, zsh or fish, made from the command tree')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.js');
      process.stdout.write(completionScript(program, shell));
    });
  program
    .command('man')
    .description('print the flatbake(1) man page (roff): flatbake man | man -l -')
    .action(async () => {
      const { manPage } = await import('./man.js');
      process.stdout.write(manPage(program));
    });
}
