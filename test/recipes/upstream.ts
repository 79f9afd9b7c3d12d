/**
 * Fake upstreams for the recipe tests: the release files each recipe fetches, with the real
 * names and archive layouts, holding small ELF files of the right architecture, laid out as
 * `<root>/<HOST>/<PATH>` so a static server plays every upstream through --mirror.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

import type { Arch } from '../../src/arch.js';

const MACHINE: Record<Arch, number> = { 'x86-64': 62, arm64: 183 };

/** A minimal ELF64 executable header for ARCH, followed by TAG so each binary is distinct. */
export function elf(arch: Arch, tag: string): Buffer {
  const b = Buffer.alloc(64);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b[6] = 1; // EV_CURRENT
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(MACHINE[arch], 18);
  b.writeUInt32LE(1, 20);
  b.writeUInt16LE(64, 52); // e_ehsize
  return Buffer.concat([b, Buffer.from(`\n${tag}\n`)]);
}

export const sha256 = (buf: Buffer | string) => createHash('sha256').update(buf).digest('hex');

export type Entry = Buffer | string | { symlink: string } | { data: Buffer | string; mode: number } | { dir: true };
export type Tree = Record<string, Entry>;

function isElf(b: Buffer | string): boolean {
  return Buffer.isBuffer(b) && b.subarray(0, 4).toString('latin1') === '\x7fELF';
}

export async function writeTree(dir: string, tree: Tree): Promise<void> {
  for (const [rel, entry] of Object.entries(tree)) {
    const p = path.join(dir, rel);
    await mkdir(path.dirname(p), { recursive: true });
    if (typeof entry === 'string' || Buffer.isBuffer(entry)) {
      await writeFile(p, entry);
      await chmod(p, isElf(entry) || /\/(install|configure)$/.test(rel) ? 0o755 : 0o644);
    } else if ('symlink' in entry) {
      await symlink(entry.symlink, p);
    } else if ('dir' in entry) {
      await mkdir(p, { recursive: true });
    } else {
      await writeFile(p, entry.data);
      await chmod(p, entry.mode);
    }
  }
}

/** Minimal Unix ar archive (a .deb's container). */
export function arArchive(members: Array<{ name: string; data: Buffer }>): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n', 'latin1')];
  for (const m of members) {
    const header = `${m.name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(m.data.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(header, 'latin1'), m.data);
    if (m.data.length % 2 === 1) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** Writes release files into ROOT as the upstream hosts would serve them. */
export class Upstream {
  private scratchDir: string | undefined;
  constructor(readonly root: string) {}

  private async scratch(): Promise<string> {
    this.scratchDir ??= await mkdtemp(path.join(os.tmpdir(), 'flatbake-upstream-'));
    return mkdtemp(path.join(this.scratchDir, 's-'));
  }

  async cleanup(): Promise<void> {
    if (this.scratchDir) await rm(this.scratchDir, { recursive: true, force: true });
  }

  /** Where URL lives in the mirror tree. */
  pathOf(url: string): string {
    const u = new URL(url);
    return path.join(this.root, u.host, decodeURIComponent(u.pathname));
  }

  async file(url: string, content: Buffer | string): Promise<Buffer> {
    const p = this.pathOf(url);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, content);
    return Buffer.isBuffer(content) ? content : Buffer.from(content);
  }

  /** A tar archive of TREE; MEMBERS default to the tree's top-level names (use ['.'] for ./x names). */
  async tar(url: string, compression: 'gz' | 'bz2' | 'xz' | 'zst', tree: Tree, members?: string[]): Promise<Buffer> {
    const stage = await this.scratch();
    await writeTree(stage, tree);
    const out = path.join(await this.scratch(), 'archive');
    const tops = members ?? (await readdir(stage)).sort();
    const flag = { gz: '-czf', bz2: '-cjf', xz: '-cJf', zst: ['--zstd', '-cf'] }[compression];
    await execa('tar', [...(Array.isArray(flag) ? flag : [flag]), out, '-C', stage, '--owner=1000', '--group=1000', '--numeric-owner', ...tops]);
    return this.file(url, await readFile(out));
  }

  /** A zip archive of TREE, made by Info-ZIP's zip (HashiCorp ships zips). */
  async zip(url: string, tree: Tree): Promise<Buffer> {
    const stage = await this.scratch();
    await writeTree(stage, tree);
    const out = path.join(await this.scratch(), 'archive.zip');
    await execa('zip', ['-q', '-r', '-X', out, ...(await readdir(stage)).sort()], { cwd: stage });
    return this.file(url, await readFile(out));
  }

  private readonly shared = new Map<string, Map<string, string>>();

  /** Add NAME to the sha256sum list at URL (lists shared by several architectures grow). */
  async addSum(url: string, name: string, data: Buffer, style: 'text' | 'binary' = 'text'): Promise<void> {
    const lines = this.shared.get(url) ?? new Map<string, string>();
    this.shared.set(url, lines);
    lines.set(name, `${sha256(data)}${style === 'binary' ? ' *' : '  '}${name}`);
    await this.file(url, [...lines.values()].map((l) => `${l}\n`).join(''));
  }

  /** A sha256sum-style list: `<hex>  <name>` lines. */
  async sums(url: string, entries: Record<string, Buffer>, style: 'text' | 'binary' = 'text'): Promise<void> {
    const sep = style === 'binary' ? ' *' : '  ';
    await this.file(url, Object.entries(entries).map(([name, data]) => `${sha256(data)}${sep}${name}\n`).join(''));
  }

  /** A Debian package holding TREE as data.tar.xz. */
  async deb(tree: Tree): Promise<Buffer> {
    const stage = await this.scratch();
    await writeTree(stage, tree);
    const dir = await this.scratch();
    await execa('tar', ['-cJf', path.join(dir, 'data.tar.xz'), '-C', stage, '--owner=0', '--group=0', './']);
    await writeFile(path.join(dir, 'control'), 'Package: fake\n');
    await execa('tar', ['-czf', path.join(dir, 'control.tar.gz'), '-C', dir, 'control']);
    return arArchive([
      { name: 'debian-binary', data: Buffer.from('2.0\n') },
      { name: 'control.tar.gz', data: await readFile(path.join(dir, 'control.tar.gz')) },
      { name: 'data.tar.xz', data: await readFile(path.join(dir, 'data.tar.xz')) },
    ]);
  }
}
