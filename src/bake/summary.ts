/**
 * The bake's closing lines (printed with --quiet too): every file written with its size, and
 * the commands that look at the result next.
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

export function bakeSummary({ manifest, files, seconds, cwd = process.cwd() }: SummaryInput): string[] {
  const { release } = manifest;
  const sysexts = manifest.sysexts.map((s) => s.name).join(', ') || 'no sysexts';
  const failed = manifest.failedVendors?.length ? `; failed: ${manifest.failedVendors.map((f) => f.vendor).join(', ')}` : '';
  const dirs = [...new Set(files.map((f) => path.dirname(f.path)))];
  const into = dirs.length === 1 ? `, into ${shown(dirs[0]!, cwd)}` : '';
  const lines = [`flatbake: baked Flatcar ${release.version}${release.channel ? ` (${release.channel})` : ''} ${release.arch} with ${sysexts} in ${formatDuration(seconds).text}${failed}${into}:`];
  // One output dir (always, from a bake): the names alone.
  const names = files.map((f) => (dirs.length === 1 ? path.basename(f.path) : shown(f.path, cwd)));
  const width = Math.max(...names.map((n) => n.length));
  files.forEach((f, i) => lines.push(`  ${names[i]!.padEnd(width)}  ${formatBytes(f.size).padStart(10)}`));
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
