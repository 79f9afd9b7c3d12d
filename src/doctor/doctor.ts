import { access, constants } from 'node:fs/promises';
import { which } from '../util/exec.js';
import { VENDOR_HOST_FILES, VENDOR_HOST_TOOLS } from '../platforms/index.js';
import { OFFLINE_BACKEND_TOOLS } from '../bake/backend.js';
import { BOOT_HOST_FILES, BOOT_HOST_TOOLS } from '../boot/tools.js';
import { HOST_TOOLS, type HostFile, type HostTool } from './tools.js';

export interface ToolStatus extends HostTool {
  path?: string;
}

export interface DoctorReport {
  tools: ToolStatus[];
  /** Firmware and boot loader files some vendors copy (present or not). */
  files: Array<HostFile & { found: boolean }>;
  root: boolean;
  loopControl: boolean;
  node: string;
  ok: boolean;
}

/** The core tools, the offline backend's, then what vendor images and boot need (each command once, the first entry's purpose). */
function allTools(): HostTool[] {
  const seen = new Set<string>();
  const backend = OFFLINE_BACKEND_TOOLS.map(({ when: _when, ...tool }) => tool);
  return [...HOST_TOOLS, ...backend, ...VENDOR_HOST_TOOLS, ...BOOT_HOST_TOOLS].filter((t) => !seen.has(t.command) && seen.add(t.command));
}

export async function runDoctor(): Promise<DoctorReport> {
  const tools = await Promise.all(allTools().map(async (tool) => ({ ...tool, path: await which(tool.command) })));
  const files = await Promise.all(
    [...VENDOR_HOST_FILES, ...BOOT_HOST_FILES].map(async (f) => ({ ...f, found: await access(f.path, constants.R_OK).then(() => true, () => false) })),
  );
  const loopControl = await access('/dev/loop-control', constants.F_OK).then(() => true, () => false);
  const root = process.getuid?.() === 0;
  const privilegeOk = root || tools.some((t) => t.command === 'sudo' && t.path);
  const ok = tools.every((t) => !t.required || t.path) && loopControl && privilegeOk;
  return { tools, files, root, loopControl, node: process.versions.node, ok };
}

export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.tools.map((t) => t.command.length));
  const pkgWidth = Math.max(...report.tools.map((t) => t.package.length));
  const lines = report.tools.map((t) => {
    const state = t.path ? 'found  ' : t.required ? 'MISSING' : 'missing';
    return `${state}  ${t.command.padEnd(width)}  ${t.package.padEnd(pkgWidth)}  ${t.purpose}${t.path ? '' : t.required ? ' (required)' : ' (optional)'}`;
  });
  for (const f of report.files) {
    lines.push(`${f.found ? 'found  ' : 'missing'}  ${f.path}  (${f.package}: ${f.purpose}, optional)`);
  }
  lines.push('');
  lines.push(`node ${report.node}; ${report.root ? 'running as root' : 'not root: sudo is used for losetup and mount'}; loop devices ${report.loopControl ? 'available' : 'NOT available (/dev/loop-control missing)'}`);
  const missing = [...report.tools.filter((t) => !t.path), ...report.files.filter((f) => !f.found)].filter((t) => !t.package.startsWith('('));
  if (missing.length > 0) {
    lines.push(`install the missing ones: apt-get install ${[...new Set(missing.map((t) => t.package))].join(' ')}  (or run scripts/setup.sh)`);
  }
  lines.push(report.ok ? 'ready to bake' : 'NOT ready to bake: see above');
  return lines.join('\n');
}
