import { chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/util/exec.js';

/** Temp dirs made by a test file; call cleanupAll() in afterEach/afterAll. */
const made: string[] = [];

export async function tempDir(prefix = 'flatbake-sysext-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function cleanupAll(): Promise<void> {
  while (made.length > 0) await rm(made.pop()!, { recursive: true, force: true });
}

export type TreeSpec = Record<string, string | Buffer | { symlink: string } | { dir: true }>;

/** Write files (relative paths) under ROOT; returns ROOT. */
export async function writeTree(root: string, spec: TreeSpec): Promise<string> {
  for (const [rel, content] of Object.entries(spec)) {
    const p = path.join(root, rel);
    await mkdir(path.dirname(p), { recursive: true });
    if (typeof content === 'string' || Buffer.isBuffer(content)) await writeFile(p, content, { mode: rel.includes('/bin/') ? 0o755 : 0o644 });
    else if ('symlink' in content) await symlink(content.symlink, p);
    else await mkdir(p, { recursive: true });
  }
  return root;
}

export async function chownTree(paths: string[], uid: number, gid: number): Promise<void> {
  for (const p of paths) await chown(p, uid, gid);
}

/** A 64-byte ELF64 little-endian header for E_MACHINE; enough for readelf and for the checker. */
export function elfHeader(machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b[6] = 1; // EV_CURRENT
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(1, 20);
  b.writeUInt16LE(64, 52); // e_ehsize
  return b;
}

/** Build a squashfs straight with mksquashfs (bypassing createSysext and its checks). */
export async function squash(dir: string, out: string, options: { allRoot?: boolean } = {}): Promise<string> {
  await run('mksquashfs', [dir, out, '-noappend', '-quiet', '-no-progress', ...(options.allRoot === false ? [] : ['-all-root'])]);
  return out;
}

export const RELEASE = (name: string) => `usr/lib/extension-release.d/extension-release.${name}`;
