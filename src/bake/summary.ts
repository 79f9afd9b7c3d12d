/**
 * The bake's closing lines (printed with --quiet too): one line per output (a vendor's main disk
 * file, the total size of what the vendor wrote and how many files besides), the manifest, and the
 * commands that look at the result next. One line per output, not per file, keeps a warm bake in a
 * pipe short: qemu_uefi alone writes eight files.
 */
import path from 'node:path';
import { formatBytes } from '../net/progress.js';
import { formatDuration } from '../util/duration.js';
import type { Manifest } from './manifest.js';

/** Disk images `flatbake inspect` reads (qemu-img's formats; bundles such as .ova and .box are archives). */
const INSPECTABLE = /\.(bin|img|raw|qcow2|vhd|vhdx|vmdk)$/;

export interface SummaryInput {
  manifest: Manifest;
  /** Every published file, the manifest last, with its size. */
  files: ReadonlyArray<{ path: string; size: number }>;
  seconds: number;
  cwd?: string;
}

/** A path as the user would type it: relative when under the working directory. */
function shown(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  if (rel === '') return '.';
  return !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

interface Row {
  /** The vendor's main file (its disk image), or a file of no vendor (the manifest). */
  path: string;
  /** Bytes of every file of the row. */
  size: number;
  /** Files of the row besides `path`. */
  more: number;
}

/** The published files grouped by the vendor whose output they are, in the order they were written. */
function outputRows(manifest: Manifest, files: SummaryInput['files']): Row[] {
  // An alias (a symlink the SDK also writes) belongs to its file's vendor.
  const vendorOf = new Map(manifest.outputs.flatMap((o) => [[o.file, o] as const, ...(o.aliases ?? []).map((a) => [a, o] as const)]));
  const groups = new Map<string, Array<{ path: string; size: number }>>();
  const rows: Array<Row | string> = [];
  for (const f of files) {
    const output = vendorOf.get(path.basename(f.path));
    if (!output) {
      rows.push({ path: f.path, size: f.size, more: 0 });
      continue;
    }
    if (!groups.has(output.vendor)) {
      groups.set(output.vendor, []);
      rows.push(output.vendor);
    }
    groups.get(output.vendor)!.push(f);
  }
  return rows.map((row) => {
    if (typeof row !== 'string') return row;
    const group = groups.get(row)!;
    // The main file: the disk that carries ROOT (what inspect and boot read), else the first written.
    const main = group.find((f) => { const o = vendorOf.get(path.basename(f.path))!; return o.file === path.basename(f.path) && o.rootSize !== undefined && INSPECTABLE.test(o.file); }) ?? group[0]!;
    return { path: main.path, size: group.reduce((sum, f) => sum + f.size, 0), more: group.length - 1 };
  });
}

export function bakeSummary({ manifest, files, seconds, cwd = process.cwd() }: SummaryInput): string[] {
  const { release } = manifest;
  const sysexts = manifest.sysexts.map((s) => s.name).join(', ') || 'no sysexts';
  const failed = manifest.failedVendors?.length ? `; failed: ${manifest.failedVendors.map((f) => f.vendor).join(', ')}` : '';
  const dirs = [...new Set(files.map((f) => path.dirname(f.path)))];
  const into = dirs.length === 1 ? `, into ${shown(dirs[0]!, cwd)}` : '';
  const lines = [`flatbake: baked Flatcar ${release.version}${release.channel ? ` (${release.channel})` : ''} ${release.arch} with ${sysexts} in ${formatDuration(seconds).text}${failed}${into}:`];
  // One output dir (always, from a bake): the names alone.
  const rows = outputRows(manifest, files).map((r) => ({ ...r, name: dirs.length === 1 ? path.basename(r.path) : shown(r.path, cwd) }));
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) lines.push(`  ${r.name.padEnd(width)}  ${formatBytes(r.size).padStart(10)}${r.more ? `  +${r.more} file${r.more === 1 ? '' : 's'}` : ''}`.trimEnd());
  const byName = new Map(files.map((f) => [path.basename(f.path), f.path]));
  const disks = manifest.outputs.filter((o) => o.rootSize !== undefined && INSPECTABLE.test(o.file) && byName.has(o.file));
  const generic = disks.find((o) => o.vendor === 'generic');
  const look = generic ?? disks[0];
  // flatbake boot boots the generic image and the qemu_uefi qcow2 (src/cli/boot-command.ts).
  const bootable = generic ?? disks.find((o) => o.vendor === 'qemu_uefi');
  const next: string[] = [];
  if (look) next.push(`flatbake inspect ${shown(byName.get(look.file)!, cwd)}`);
  if (bootable) next.push(`flatbake boot ${release.arch === 'arm64' ? '--arch arm64 ' : ''}${shown(byName.get(bootable.file)!, cwd)}`);
  if (next.length) lines.push('next:', ...next.map((n) => `  ${n}`));
  return lines;
}
