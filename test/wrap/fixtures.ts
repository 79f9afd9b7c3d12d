/**
 * Fixtures for the wrap tests: a small Debian-style rootfs holding this machine's jq and exactly
 * the libraries `ldd` says it loads, a bubblewrap probe, and a minimal tar writer for hostile archives.
 */
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from '../../src/util/exec.js';

const made: string[] = [];

export async function tempDir(prefix = 'flatbake-wrap-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function cleanupAll(): Promise<void> {
  while (made.length > 0) await rm(made.pop()!, { recursive: true, force: true });
}

export const JQ = '/usr/bin/jq';
export const MULTIARCH = 'usr/lib/x86_64-linux-gnu';

/** name -> host path of each library jq loads here, as the host's own loader reports it. */
export async function hostJqLibraries(): Promise<Map<string, string>> {
  const out = (await run('ldd', [JQ])).stdout;
  const libs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+) => (\/\S+)/.exec(line);
    if (m) libs.set(m[1]!, m[2]!);
  }
  return libs;
}

export interface JqRootfsOptions {
  /** Put libonig here (an in-root dir) and name it in ld.so.conf.d, instead of the multiarch dir. */
  onigDir?: string;
}

/**
 * A Debian-shaped rootfs: merged /usr (bin, lib, lib64 symlinks), the multiarch dir, the loader
 * behind an ABSOLUTE symlink /lib64/ld-linux-x86-64.so.2 (as on Debian: only a resolver that
 * stays inside the root follows it correctly), ld.so.conf with an include glob.
 */
export async function buildJqRootfs(dir: string, options: JqRootfsOptions = {}): Promise<string> {
  const libs = await hostJqLibraries();
  for (const d of ['usr/bin', MULTIARCH, 'usr/lib64', 'etc/ld.so.conf.d', 'dev', 'proc', 'sys', 'run', 'tmp', 'var/tmp', 'home', 'root']) {
    await mkdir(path.join(dir, d), { recursive: true });
  }
  await symlink('usr/bin', path.join(dir, 'bin'));
  await symlink('usr/lib', path.join(dir, 'lib'));
  await symlink('usr/lib64', path.join(dir, 'lib64'));
  await copyFile(JQ, path.join(dir, 'usr/bin/jq'));
  await run('chmod', ['0755', path.join(dir, 'usr/bin/jq')]);
  for (const [name, hostFile] of libs) {
    const inRootDir = name.startsWith('libonig') && options.onigDir ? options.onigDir.replace(/^\//, '') : MULTIARCH;
    await mkdir(path.join(dir, inRootDir), { recursive: true });
    await copyFile(await realpath(hostFile), path.join(dir, inRootDir, name));
  }
  // glibc dlopen()s libgcc_s; flix ships it when the rootfs has it.
  await copyFile(await realpath('/lib/x86_64-linux-gnu/libgcc_s.so.1'), path.join(dir, MULTIARCH, 'libgcc_s.so.1'));
  await copyFile(await realpath('/lib64/ld-linux-x86-64.so.2'), path.join(dir, MULTIARCH, 'ld-linux-x86-64.so.2'));
  await symlink('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', path.join(dir, 'usr/lib64/ld-linux-x86-64.so.2'));
  await writeFile(path.join(dir, 'etc/ld.so.conf'), '# as on Debian\ninclude /etc/ld.so.conf.d/*.conf\n');
  await writeFile(path.join(dir, 'etc/ld.so.conf.d/x86_64-linux-gnu.conf'), `/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n`);
  if (options.onigDir) await writeFile(path.join(dir, 'etc/ld.so.conf.d/onig.conf'), `${options.onigDir}\n`);
  await writeFile(path.join(dir, 'etc/os-release'), 'ID=debian\n');
  return dir;
}

/** Why bubblewrap cannot run here, or undefined if it can. */
export async function bwrapProblem(): Promise<string | undefined> {
  try {
    await run('bwrap', ['--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', 'true']);
    return undefined;
  } catch (err) {
    return `bubblewrap cannot run here (${(err as Error).message.split('\n')[0]})`;
  }
}

/**
 * Run a program with the extracted sysext's usr/ as the ONLY /usr: no host /usr, /lib or /etc
 * is visible, so it works only if the extension carries everything it loads.
 */
export async function runInUsrOnlySandbox(extracted: string, argv: string[], input?: string): Promise<string> {
  const { stdout } = await run('bwrap', [
    '--bind', path.join(extracted, 'usr'), '/usr',
    '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin',
    '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    '--', ...argv,
  ], { input });
  return stdout;
}

export async function unsquash(image: string, dest: string): Promise<string> {
  await run('unsquashfs', ['-no-progress', '-d', dest, image]);
  return dest;
}

export interface TarEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink';
  content?: string;
  linkname?: string;
  mode?: number;
}

/** A ustar archive, written by hand so that member names are exactly as given (GNU tar would sanitise them). */
export function tarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = Buffer.from(type === 'file' ? (e.content ?? '') : '');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write(((e.mode ?? (type === 'file' ? 0o644 : 0o755)).toString(8)).padStart(7, '0') + '\0', 100, 'latin1');
    h.write('0000000\0', 108, 'latin1');
    h.write('0000000\0', 116, 'latin1');
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    h.write('00000000000\0', 136, 'latin1');
    h.write('        ', 148, 'latin1');
    h.write(type === 'file' ? '0' : type === 'dir' ? '5' : '2', 156, 'latin1');
    if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
    h.write('ustar\0', 257, 'latin1');
    h.write('00', 263, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export async function readText(p: string): Promise<string> {
  return readFile(p, 'utf8');
}
