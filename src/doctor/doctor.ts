/**
 * `flatbake doctor`: which host tools a bake will run, present or not. What is required
 * depends on the backend the bake would choose (or --backend) and on --vendor: the mount
 * backend's losetup/mount/sudo are not asked of an offline bake, nor a vendor's qemu-img of a
 * bake without that vendor. Everything else is listed as optional, with what it is for.
 */
import { access, constants } from 'node:fs/promises';
import type { Arch } from '../arch.js';
import { which } from '../util/exec.js';
import { loadVendorRegistry, VENDOR_HOST_FILES, VENDOR_HOST_TOOLS } from '../platforms/index.js';
import { debianPackages, vendorHostNeeds } from '../platforms/needs.js';
import type { BackendChoice, BackendName } from '../backend/index.js';
import { chooseBackend } from '../backend/open.js';
import { MOUNT_TOOLS, OFFLINE_TOOLS } from '../backend/tools.js';
import { BOOT_HOST_FILES, BOOT_HOST_TOOLS } from '../boot/tools.js';
import { HOST_TOOLS, type HostFile, type HostTool } from './tools.js';

export const DOCTOR_SCHEMA_VERSION = 1;

export interface ToolStatus extends HostTool {
  path?: string;
}

export interface DoctorReport {
  schemaVersion: typeof DOCTOR_SCHEMA_VERSION;
  /** The backend checked: --backend, or the one `auto` would choose here. */
  backend: BackendName;
  /** The --vendor ids checked (their tools and files are required). */
  vendors: string[];
  tools: ToolStatus[];
  /** Firmware and boot loader files (required when a --vendor reads them). */
  files: Array<HostFile & { found: boolean; required: boolean }>;
  root: boolean;
  /** /dev/loop-control (the mount backend attaches loop devices). */
  loopControl: boolean;
  node: string;
  ok: boolean;
}

export interface DoctorOptions {
  backend?: BackendChoice;
  vendors?: string[];
  arch?: Arch;
}

/** Each command once: the first entry's purpose, and required if any entry requires it. */
function dedupe(tools: HostTool[]): HostTool[] {
  const byCommand = new Map<string, HostTool>();
  for (const t of tools) {
    const seen = byCommand.get(t.command);
    if (!seen) byCommand.set(t.command, { ...t });
    else seen.required ||= t.required;
  }
  return [...byCommand.values()];
}

export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const root = process.getuid?.() === 0;
  const backend = await chooseBackend(options.backend ?? 'auto', { btrfs: true });
  const arch = options.arch ?? 'x86-64';
  const registry = options.vendors?.length ? await loadVendorRegistry() : undefined;
  const selection = registry?.select(options.vendors!, arch);
  const vendorNeeds = (selection?.vendors ?? []).map((v) => vendorHostNeeds(v, arch, registry!.settings));
  // The mount backend's tools only for its bakes (root needs no sudo); the offline backend's always, required for its bakes.
  const mount = backend === 'mount' ? MOUNT_TOOLS.filter((t) => !(t.command === 'sudo' && root)) : [];
  const offline = OFFLINE_TOOLS.map(({ when, ...tool }) => ({ ...tool, required: backend === 'offline' && (when === 'always' || when === 'btrfs') }));
  const optional = [...VENDOR_HOST_TOOLS, ...BOOT_HOST_TOOLS].map((t) => ({ ...t, required: false }));
  const all = dedupe([...HOST_TOOLS, ...mount, ...offline, ...vendorNeeds.flatMap((n) => n.tools), ...optional]);
  const tools = await Promise.all(all.map(async (tool) => ({ ...tool, path: await which(tool.command) })));
  const neededFiles = new Set(vendorNeeds.flatMap((n) => n.files.map((f) => f.path)));
  const fileList = [...vendorNeeds.flatMap((n) => n.files), ...VENDOR_HOST_FILES, ...BOOT_HOST_FILES].filter((f, i, list) => list.findIndex((g) => g.path === f.path) === i);
  const files = await Promise.all(
    fileList.map(async (f) => ({ ...f, found: await access(f.path, constants.R_OK).then(() => true, () => false), required: neededFiles.has(f.path) })),
  );
  const loopControl = await access('/dev/loop-control', constants.F_OK).then(() => true, () => false);
  const mountReady = backend !== 'mount' || (loopControl && (root || tools.some((t) => t.command === 'sudo' && t.path)));
  const ok = tools.every((t) => !t.required || t.path) && files.every((f) => !f.required || f.found) && mountReady;
  return { schemaVersion: DOCTOR_SCHEMA_VERSION, backend, vendors: (selection?.vendors ?? []).map((v) => v.id), tools, files, root, loopControl, node: process.versions.node, ok };
}

/** `apt-get install` of exactly these packages (as root without sudo); undefined when none is a Debian package. */
function installCommand(packages: string[], root: boolean): string | undefined {
  const debian = debianPackages(packages);
  return debian.length ? `${root ? '' : 'sudo '}apt-get install -y --no-install-recommends ${debian.join(' ')}` : undefined;
}

export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.tools.map((t) => t.command.length));
  const pkgWidth = Math.max(...report.tools.map((t) => t.package.length));
  const lines = report.tools.map((t) => {
    const state = t.path ? 'found  ' : t.required ? 'MISSING' : 'missing';
    return `${state}  ${t.command.padEnd(width)}  ${t.package.padEnd(pkgWidth)}  ${t.purpose}${t.path ? '' : t.required ? ' (required)' : ' (optional)'}`;
  });
  for (const f of report.files) {
    const state = f.found ? 'found  ' : f.required ? 'MISSING' : 'missing';
    lines.push(`${state}  ${f.path}  (${f.package}: ${f.purpose}, ${f.required ? 'required' : 'optional'})`);
  }
  lines.push('');
  const who = report.root ? 'running as root' : report.backend === 'mount' ? 'not root: sudo is used for losetup and mount' : 'not root (the offline backend needs none)';
  const loops = report.backend === 'mount' ? `; loop devices ${report.loopControl ? 'available' : 'NOT available (/dev/loop-control missing)'}` : '';
  lines.push(`node ${report.node}; ${who}; backend ${report.backend}${report.vendors.length ? `; vendors ${report.vendors.join(',')}` : ''}${loops}`);
  const missingRequired = [...report.tools.filter((t) => !t.path && t.required), ...report.files.filter((f) => !f.found && f.required)];
  const missingOptional = [...report.tools.filter((t) => !t.path && !t.required), ...report.files.filter((f) => !f.found && !f.required)];
  const required = installCommand(missingRequired.map((t) => t.package), report.root);
  const optional = installCommand(missingOptional.map((t) => t.package), report.root);
  if (required) lines.push(`install what is required: ${required}`);
  if (optional) lines.push(`and, for what is optional above: ${optional}`);
  lines.push(report.ok ? 'ready to bake' : 'NOT ready to bake: see above');
  return lines.join('\n');
}
