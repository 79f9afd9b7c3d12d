/**
 * Unpacking upstream archives into a directory, refusing anything that could write outside it.
 *
 * Member names are listed and checked before anything is written: absolute names and `..`
 * segments are refused (GNU tar would only warn and skip them), device nodes are refused.
 * GNU tar itself defers symlinks whose targets are absolute or contain `..` until the end,
 * so a later member cannot be written through them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { run } from '../util/exec.js';
import type { ArchiveKind } from './recipe.js';

/** Why NAME may not be extracted, or undefined if it is fine. Pure. */
export function unsafeMemberReason(name: string): string | undefined {
  if (name === '') return 'empty name';
  if (name.startsWith('/')) return 'absolute path';
  if (name.includes('\0')) return 'NUL in name';
  if (name.split('/').some((s) => s === '..')) return '".." in path';
  return undefined;
}

/** Undo tar's `--quoting-style=escape` so names can be checked as they will be written. */
export function unescapeTarName(name: string): string {
  return name.replace(/\\(\\|n|t|r|f|v|b|a|[0-7]{3})/g, (_m, c: string) => {
    switch (c) {
      case '\\': return '\\';
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'f': return '\f';
      case 'v': return '\v';
      case 'b': return '\b';
      case 'a': return '\x07';
      default: return String.fromCharCode(parseInt(c, 8));
    }
  });
}

function refuse(archive: string, name: string, reason: string): never {
  throw new InputError(`refusing to unpack ${path.basename(archive)}: member "${name}" has ${reason}`, 'the archive could write outside its target directory; it is not a normal upstream release file');
}

async function extractTar(archive: string, dest: string, signal?: AbortSignal): Promise<void> {
  // Escaped names: one member per line, whatever characters its name holds.
  const names = (await run('tar', ['--list', '--quoting-style=escape', '--file', archive], { purpose: `list ${path.basename(archive)}`, signal })).stdout
    .split('\n')
    .filter((l) => l !== '')
    .map(unescapeTarName);
  for (const name of names) {
    const why = unsafeMemberReason(name);
    if (why) refuse(archive, name, why);
  }
  const verbose = (await run('tar', ['--list', '--verbose', '--quoting-style=escape', '--file', archive], { purpose: `list ${path.basename(archive)}`, signal })).stdout;
  for (const line of verbose.split('\n')) {
    if (line[0] === 'c' || line[0] === 'b') refuse(archive, line.slice(line.lastIndexOf(' ') + 1), 'a device node type');
  }
  await mkdir(dest, { recursive: true });
  // Owners come from the image build (all root); times do not matter; modes do (executables).
  await run('tar', ['--extract', '--file', archive, '--directory', dest, '--no-same-owner', '--preserve-permissions', '--delay-directory-restore'], {
    purpose: `unpack ${path.basename(archive)}`,
    signal,
  });
}

async function extractZip(archive: string, dest: string, signal?: AbortSignal): Promise<void> {
  const names = (await run('unzip', ['-Z1', archive], { purpose: `list ${path.basename(archive)}`, signal })).stdout.split('\n').filter((l) => l !== '');
  for (const name of names) {
    const why = unsafeMemberReason(name);
    if (why) refuse(archive, name, why);
  }
  await mkdir(dest, { recursive: true });
  await run('unzip', ['-q', '-o', archive, '-d', dest], { purpose: `unpack ${path.basename(archive)}`, signal });
}

/** Unpack ARCHIVE (of KIND) into DEST, creating it. `none` is not an archive: refused. */
export async function extractArchive(archive: string, kind: ArchiveKind, dest: string, signal?: AbortSignal): Promise<void> {
  switch (kind) {
    case 'tar.gz':
    case 'tgz':
    case 'tar.bz2':
    case 'tar.xz':
    case 'tar.zst':
      // GNU tar picks the decompressor from the content, so a mislabelled archive still unpacks
      // (zstd through the zstd program, which doctor lists).
      return extractTar(archive, dest, signal);
    case 'zip':
      return extractZip(archive, dest, signal);
    case 'none':
      throw new Error(`extractArchive: ${archive} is not an archive (extract: none)`);
  }
}

export interface ArMember {
  name: string;
  data: Buffer;
}

/** Members of a Unix `ar` archive (the container of a .deb). Pure. */
export function parseAr(buf: Buffer, label = 'archive'): ArMember[] {
  if (buf.subarray(0, 8).toString('latin1') !== '!<arch>\n') throw new InputError(`${label} is not an ar archive`);
  const members: ArMember[] = [];
  let off = 8;
  while (off + 60 <= buf.length) {
    const header = buf.subarray(off, off + 60).toString('latin1');
    if (header.slice(58, 60) !== '`\n') throw new InputError(`${label}: corrupt ar member header at byte ${off}`);
    const name = header.slice(0, 16).trim().replace(/\/$/, '');
    const size = Number(header.slice(48, 58).trim());
    if (!Number.isSafeInteger(size) || size < 0 || off + 60 + size > buf.length) throw new InputError(`${label}: corrupt ar member size at byte ${off}`);
    members.push({ name, data: buf.subarray(off + 60, off + 60 + size) });
    // Members are padded to an even offset.
    off += 60 + size + (size % 2);
  }
  return members;
}

/** Unpack the file system payload (data.tar.*) of a Debian package into DEST. */
export async function extractDeb(deb: string, dest: string, scratch: string, signal?: AbortSignal): Promise<void> {
  const members = parseAr(await readFile(deb), path.basename(deb));
  const data = members.find((m) => /^data\.tar(\.(gz|xz|zst|bz2))?$/.test(m.name));
  if (!data) throw new InputError(`${path.basename(deb)} has no data.tar member: not a Debian package`);
  await mkdir(scratch, { recursive: true });
  const tarFile = path.join(scratch, `${path.basename(deb)}.${data.name}`);
  await writeFile(tarFile, data.data);
  await extractTar(tarFile, dest, signal);
}
