/**
 * Find the shared libraries a set of ELF objects loads, inside a root file system tree, the way
 * the dynamic loader chrooted there would: DT_RPATH of the object and of its loaders (unless the
 * object has DT_RUNPATH), DT_RUNPATH, ld.so.conf (with its includes) or musl's path file, then the
 * default directories; breadth first, a name once loaded satisfying every later request, and
 * libraries of another ELF class or machine skipped.
 */
import { open, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ElfInfo } from '../sysext/elf.js';
import { parseElfHeader } from '../sysext/elf.js';
import { ElfFormatError, parseElfDynamic, sameElfAbi, type ElfDynamicInfo } from './elf-dynamic.js';
import {
  defaultLibraryDirs,
  expandRpathTokens,
  globSegmentToRegExp,
  hasGlob,
  includeBase,
  muslArch,
  parseLdSoConf,
  parseMuslPath,
} from './ld-so-conf.js';
import { hostPath, resolveInRoot } from './root-path.js';

/** Nested includes deeper than this are a loop in the configuration. */
const MAX_INCLUDE_DEPTH = 16;

/** Read and parse the ELF file at IN_ROOT_PATH (already resolved); undefined if it is not ELF. */
export async function readElf(root: string, inRootPath: string): Promise<ElfDynamicInfo | undefined> {
  const file = hostPath(root, inRootPath);
  try {
    return parseElfDynamic(await readFile(file));
  } catch (err) {
    if (err instanceof ElfFormatError) throw new ElfFormatError(`${inRootPath} (in ${root}): malformed ELF: ${err.message}`);
    throw err;
  }
}

/** Just the ELF header of a host file (64 bytes read); undefined if not ELF. */
export async function readElfHeader(file: string): Promise<ElfInfo | undefined> {
  const fd = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await fd.read(buf, 0, 64, 0);
    return parseElfHeader(buf.subarray(0, bytesRead));
  } finally {
    await fd.close();
  }
}

/** Expand one ld.so.conf `include` glob inside ROOT, sorted as glob(3) sorts. */
async function expandGlobInRoot(root: string, pattern: string): Promise<string[]> {
  let current = ['/'];
  for (const segment of pattern.split('/').filter((s) => s !== '')) {
    const next: string[] = [];
    for (const dir of current) {
      if (!hasGlob(segment)) {
        next.push(path.posix.join(dir, segment));
        continue;
      }
      const real = await resolveInRoot(root, dir);
      if (!real) continue;
      const names = await readdir(hostPath(root, real)).catch(() => [] as string[]);
      const re = globSegmentToRegExp(segment);
      for (const name of names.filter((n) => re.test(n)).sort()) next.push(path.posix.join(dir, name));
    }
    current = next;
  }
  return current;
}

/** Directories listed by ROOT's ld.so.conf (FILE, an in-root path), includes expanded in order. */
export async function readLdSoConfDirs(root: string, file = '/etc/ld.so.conf', depth = 0): Promise<string[]> {
  if (depth > MAX_INCLUDE_DEPTH) return [];
  const real = await resolveInRoot(root, file);
  if (!real) return [];
  const text = await readFile(hostPath(root, real), 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  const dirs: string[] = [];
  for (const entry of parseLdSoConf(text)) {
    if (entry.kind === 'dir') dirs.push(entry.path);
    else for (const included of await expandGlobInRoot(root, includeBase(entry.pattern, file))) dirs.push(...(await readLdSoConfDirs(root, included, depth + 1)));
  }
  return dirs;
}

/** What the loader searches after RPATH/RUNPATH, for objects of ELF kind ELF loaded by INTERPRETER. */
export async function systemLibraryDirs(root: string, elf: ElfInfo, interpreter: string | undefined): Promise<string[]> {
  const musl = muslArch(interpreter);
  let configured: string[];
  if (musl) {
    // musl reads no ld.so.conf; its path file replaces the default list when present.
    const real = await resolveInRoot(root, `/etc/ld-musl-${musl}.path`);
    const text = real ? await readFile(hostPath(root, real), 'utf8').catch(() => undefined) : undefined;
    if (text !== undefined) return [...new Set(parseMuslPath(text))];
    configured = [];
  } else {
    configured = await readLdSoConfDirs(root);
  }
  return [...new Set([...configured, ...defaultLibraryDirs(elf)])];
}

export interface ResolvedLibrary {
  /** The name asked for (DT_NEEDED or an --extra-libs name). */
  name: string;
  /** Where it was found, inside the root, before following symlinks. */
  foundAt: string;
  /** The file itself, inside the root, after following symlinks. */
  realPath: string;
  info: ElfDynamicInfo;
  /** In-root paths (or "--extra-libs") of the objects that asked for it first. */
  neededBy: string;
  /** Other names asked for that are this same file (the private dir needs them too). */
  aliases: string[];
}

export interface MissingLibrary {
  name: string;
  neededBy: string;
  searched: string[];
}

export interface LibraryClosure {
  libraries: ResolvedLibrary[];
  missing: MissingLibrary[];
}

export interface ClosureRoot {
  /** In-root path of the object (the binary), already resolved. */
  path: string;
  info: ElfDynamicInfo;
}

interface QueueItem {
  path: string;
  info: ElfDynamicInfo;
  /** Expanded DT_RPATH dirs of the objects that loaded this one, nearest first. */
  loaderRpath: string[];
}

function expandAll(elements: string[] | undefined, origin: string, elf: ElfInfo): string[] {
  return (elements ?? []).filter((e) => e !== '').flatMap((e) => expandRpathTokens(e, origin, elf));
}

/** Resolve every library the ROOTS load (and EXTRA names or in-root paths), recursively, inside ROOT. */
export async function resolveLibraries(root: string, roots: ClosureRoot[], extra: string[] = []): Promise<LibraryClosure> {
  const libraries: ResolvedLibrary[] = [];
  const missing: MissingLibrary[] = [];
  const loaded = new Map<string, ResolvedLibrary>();
  const first = roots[0];
  if (!first) return { libraries, missing };
  const abi = first.info.elf;
  const systemDirs = await systemLibraryDirs(root, abi, first.info.interpreter);

  async function candidate(dir: string, name: string): Promise<{ foundAt: string; realPath: string } | undefined> {
    const foundAt = path.posix.join(dir.startsWith('/') ? dir : `/${dir}`, name);
    const realPath = await resolveInRoot(root, foundAt).catch(() => undefined);
    if (!realPath) return undefined;
    const file = hostPath(root, realPath);
    if (!(await stat(file).catch(() => undefined))?.isFile()) return undefined;
    const header = await readElfHeader(file).catch(() => undefined);
    if (!header || !sameElfAbi(header, abi)) return undefined;
    return { foundAt, realPath };
  }

  async function find(name: string, requester: QueueItem | undefined): Promise<{ hit?: { foundAt: string; realPath: string }; searched: string[] }> {
    if (name.includes('/')) {
      const hit = await candidate(path.posix.dirname(name), path.posix.basename(name));
      return { hit, searched: [path.posix.dirname(name)] };
    }
    const dirs: string[] = [];
    if (requester) {
      const origin = path.posix.dirname(requester.path);
      const own = requester.info;
      if (own.runpath === undefined) dirs.push(...expandAll(own.rpath, origin, abi), ...requester.loaderRpath);
      dirs.push(...expandAll(own.runpath, origin, abi));
    }
    dirs.push(...systemDirs);
    const searched = [...new Set(dirs)];
    for (const dir of searched) {
      const hit = await candidate(dir, name);
      if (hit) return { hit, searched };
    }
    return { hit: undefined, searched };
  }

  const queue: QueueItem[] = roots.map((r) => ({ path: r.path, info: r.info, loaderRpath: [] }));
  const record = async (name: string, requester: QueueItem | undefined, neededBy: string): Promise<void> => {
    if (loaded.has(name)) return;
    const { hit, searched } = await find(name, requester);
    if (!hit) {
      if (!missing.some((m) => m.name === name)) missing.push({ name, neededBy, searched });
      return;
    }
    // The same file under another name (a path, a symlink) is the same object to the loader.
    const same = libraries.find((l) => l.realPath === hit.realPath);
    if (same) {
      loaded.set(name, same);
      if (name !== same.name && !same.aliases.includes(name)) same.aliases.push(name);
      return;
    }
    const info = await readElf(root, hit.realPath);
    if (!info) return; // candidate() already checked the ELF header; unreachable in practice
    const lib: ResolvedLibrary = { name, foundAt: hit.foundAt, realPath: hit.realPath, info, neededBy, aliases: [] };
    loaded.set(name, lib);
    // A library is also known by its SONAME: later requests for it reuse this one, as in the loader.
    if (info.soname && !loaded.has(info.soname)) loaded.set(info.soname, lib);
    libraries.push(lib);
    const loaderRpath = requester
      ? [...expandAll(requester.info.rpath, path.posix.dirname(requester.path), abi), ...requester.loaderRpath]
      : [];
    queue.push({ path: hit.realPath, info, loaderRpath });
  };

  let next = 0;
  const drain = async (): Promise<void> => {
    while (next < queue.length) {
      const item = queue[next++]!;
      for (const name of item.info.needed) await record(name, item, item.path);
    }
  };
  await drain();
  for (const name of extra) {
    // As if dlopen()ed by the first binary: its RPATH applies (it is the executable).
    await record(name, queue[0], '--extra-libs');
    await drain();
  }
  return { libraries, missing };
}
