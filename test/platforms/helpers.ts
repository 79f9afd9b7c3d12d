/** Host-tool checks for the vendor end-to-end tests: results are read back with real tools, not with project code. */
import { chmod, mkdtemp, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const SECTOR = 512;

// One tool runner for the tests that read results back with host tools (test/demo/tools.ts).
export { ok, tool } from '../demo/tools.js';
import { ok, tool } from '../demo/tools.js';

export interface QemuInfo {
  format: string;
  'virtual-size': number;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

export async function qemuInfo(file: string, format?: string): Promise<QemuInfo> {
  return JSON.parse(await ok('qemu-img', ['info', ...(format ? ['-f', format] : []), '--output=json', file])) as QemuInfo;
}

export interface PartitionInfo {
  name: string;
  first: number;
  last: number;
  sectors: number;
}

/** `sgdisk -i N` parsed. */
export async function partitionInfo(image: string, number: number): Promise<PartitionInfo> {
  const text = await ok('sgdisk', ['-i', String(number), image]);
  const num = (label: string) => Number(new RegExp(`${label}: (\\d+)`).exec(text)?.[1]);
  return { name: /Partition name: '([^']*)'/.exec(text)?.[1] ?? '', first: num('First sector'), last: num('Last sector'), sectors: num('Partition size') };
}

/** Partition number of a label from `sgdisk -p`. */
export async function partitionNumber(image: string, label: string): Promise<number> {
  const text = await ok('sgdisk', ['-p', image]);
  const line = text.split('\n').find((l) => l.trim().split(/\s+/).at(-1) === label);
  if (!line) throw new Error(`no ${label} in sgdisk -p ${image}`);
  return Number(line.trim().split(/\s+/)[0]);
}

/** dumpe2fs -h of the ext4 at a byte offset inside the image. */
export async function ext4Header(image: string, offset: number): Promise<Record<string, string>> {
  const text = await ok('dumpe2fs', ['-h', `${image}?offset=${offset}`]);
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Mounts a partition read-only through its own loop device, runs fn, and always unmounts and detaches. */
export async function withReadOnlyMount<T>(image: string, offset: number, size: number, fsType: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-vendor-check-'));
  await chmod(dir, 0o755); // btrfs-progs of unprivileged tests stat every mount point
  const device = (await ok('losetup', ['--find', '--show', '--read-only', '--offset', String(offset), '--sizelimit', String(size), image])).trim();
  try {
    await ok('mount', ['-t', fsType, '-o', 'ro', device, dir]);
    try {
      return await fn(dir);
    } finally {
      await ok('umount', [dir]);
    }
  } finally {
    await ok('losetup', ['--detach', device]);
    await rmdir(dir);
  }
}

/** Loop devices whose backing file lies under `root`. */
export async function loopsUnder(root: string): Promise<string[]> {
  const text = await ok('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']);
  return text.split('\n').filter((l) => l.includes(root));
}

export async function mountsUnder(root: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.split(' ')[1]?.startsWith(root));
}

/**
 * xmllint --xpath on a file (a real XML parser, not ours). Namespaced names are
 * matched with local-name() by the caller, e.g. `//*[local-name()='Property']`.
 */
export async function xpath(file: string, expression: string): Promise<string> {
  return (await ok('xmllint', ['--xpath', expression, file])).trim();
}

/** The values of attribute `attr` (local name) on elements `element` (local name), in document order. */
export async function xmlAttributeValues(file: string, element: string, attr: string): Promise<string[]> {
  const out = await tool('xmllint', ['--xpath', `//*[local-name()='${element}']/@*[local-name()='${attr}']`, file]);
  if (out.exitCode !== 0) return [];
  return [...out.stdout.matchAll(/="([^"]*)"/g)].map((m) => m[1]!);
}
