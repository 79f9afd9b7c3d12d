/** Host-tool helpers for the demo tests: the checks use real tools, never project code. */
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeGpgHome } from '../../src/util/gpg-home.js';

export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Run a tool; never throws on a non-zero exit so tests can assert on it. */
export async function tool(file: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<ToolResult> {
  const r = await execa(file, args, { reject: false, cwd: options.cwd, env: options.env, stripFinalNewline: false });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

/** Run a tool that must succeed; its stdout. */
export async function ok(file: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await tool(file, args, options);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.exitCode}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Copy a byte range of the disk into its own (sparse) file, the way a partition device would show it. */
export async function extractPartition(image: string, offset: number, size: number, out: string): Promise<string> {
  await ok('dd', [`if=${image}`, `of=${out}`, 'bs=64K', `skip=${offset}`, `count=${size}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none']);
  return out;
}

/** `gpg --verify` in a fresh keyring that trusts only `keyFile`. */
export async function gpgVerify(keyFile: string, signature: string, data: string): Promise<ToolResult> {
  // Short enough for gpg-agent's sockets under any TMPDIR (src/util/gpg-home.ts).
  const home = await makeGpgHome();
  const env = { GNUPGHOME: home };
  try {
    await ok('gpg', ['--batch', '--quiet', '--import', keyFile], { env });
    return await tool('gpg', ['--batch', '--status-fd', '1', '--verify', signature, data], { env });
  } finally {
    await tool('gpgconf', ['--kill', 'all'], { env });
    await rm(home, { recursive: true, force: true });
  }
}

export interface SgdiskPartition {
  number: number;
  first: number;
  last: number;
  name: string;
}

/** Parse the partition rows of `sgdisk -p`. */
export function parseSgdiskPrint(text: string): SgdiskPartition[] {
  const rows: SgdiskPartition[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+\S+\s+(.*)$/.exec(line);
    if (m) rows.push({ number: Number(m[1]), first: Number(m[2]), last: Number(m[3]), name: m[4]!.trim() });
  }
  return rows;
}

/** Parse `sgdisk -i N`. */
export function parseSgdiskInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (m) out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

/** blkid's low-level probe of whatever filesystem starts at `offset`. */
export async function probe(image: string, offset: number, size: number): Promise<Record<string, string>> {
  const r = await tool('blkid', ['-p', '-o', 'export', '-O', String(offset), '-S', String(size), image]);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
