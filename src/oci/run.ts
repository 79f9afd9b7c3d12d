import { lstat, mkdir, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, MissingToolError, PrivilegeError } from '../errors.js';
import { commandFailure, start, which } from '../util/exec.js';

export type Sandbox = 'bwrap' | 'chroot';

export interface RunInRootfsOptions {
  /** Default: bubblewrap when installed, else unshare + chroot (root only). */
  sandbox?: Sandbox;
  /** Where the command's output goes as it comes. Default: this process's stdout and stderr. */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Extra environment inside the rootfs, on top of PATH, HOME and TERM. */
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface RunInRootfsResult {
  sandbox: Sandbox;
  exitCode: number;
}

const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOST_RESOLV_CONF = '/etc/resolv.conf';
const STDERR_TAIL_BYTES = 4096;

/**
 * The unshare fallback cannot chain mounts and chroot without a program in
 * between; this fixed script is that program. Its inputs arrive as
 * positional parameters, never interpolated into the script text.
 */
const CHROOT_SCRIPT = [
  'set -e',
  'root=$1 resolv=$2 cmd=$3',
  'mount -t proc proc "$root/proc"',
  'mount --rbind /dev "$root/dev"',
  'mount -t tmpfs tmpfs "$root/tmp"',
  'if [ "$resolv" = 1 ]; then mount --bind -o ro /etc/resolv.conf "$root/etc/resolv.conf"; fi',
  'exec chroot "$root" /bin/sh -c "$cmd"',
].join('\n');

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  return lstat(path).catch(() => undefined);
}

/**
 * The host's resolv.conf is bound into the rootfs so a command such as
 * `apk add` can resolve names, as a container engine does. Only onto a real
 * `etc` directory and a regular (or missing) file: a symlink there would be
 * followed by the mount. A mount point we had to create is removed after.
 */
async function prepareResolvConf(root: string): Promise<{ bind: boolean; cleanup: () => Promise<void> }> {
  const none = { bind: false, cleanup: async () => undefined };
  if ((await lstatOrUndefined(HOST_RESOLV_CONF)) === undefined) return none;
  const etc = await lstatOrUndefined(join(root, 'etc'));
  if (etc === undefined || !etc.isDirectory()) return none;
  const target = join(root, 'etc', 'resolv.conf');
  const existing = await lstatOrUndefined(target);
  if (existing !== undefined) return existing.isFile() ? { bind: true, cleanup: none.cleanup } : none;
  await writeFile(target, '', { flag: 'wx', mode: 0o644 });
  return { bind: true, cleanup: () => rm(target, { force: true }) };
}

/** Mount points the sandbox needs; made when missing (as any container engine does), never through a symlink. */
async function requireDirs(root: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const st = await lstatOrUndefined(join(root, name));
    if (st === undefined) await mkdir(join(root, name), { mode: 0o755 });
    else if (!st.isDirectory()) throw new InputError(`cannot run in ${root}: /${name} in the rootfs is not a directory`);
  }
}

async function chooseSandbox(requested: Sandbox | undefined): Promise<Sandbox> {
  const isRoot = process.getuid?.() === 0;
  if (requested === 'bwrap') {
    if ((await which('bwrap')) === undefined) throw new MissingToolError('bwrap is not installed (needed for --run)', 'install the bubblewrap package');
    return 'bwrap';
  }
  if (requested === undefined && (await which('bwrap')) !== undefined) return 'bwrap';
  if ((await which('unshare')) === undefined || (await which('chroot')) === undefined) {
    throw new MissingToolError('neither bwrap nor unshare and chroot are installed (needed for --run)', 'install the bubblewrap package (or util-linux and coreutils, and run as root)');
  }
  if (!isRoot) {
    throw new PrivilegeError('--run without bubblewrap needs root (unshare and chroot)', 'install the bubblewrap package, or run flatbake as root');
  }
  return 'chroot';
}

/**
 * Run `/bin/sh -c <command>` inside the rootfs at `dir`, as a container
 * engine would: the rootfs as `/`, fresh /proc, the host's /dev, a tmpfs on
 * /tmp, the host's network. Changes the command makes to the rootfs stay.
 * Output streams through; a non-zero exit becomes a CommandError.
 */
export async function runInRootfs(dir: string, command: string, options: RunInRootfsOptions = {}): Promise<RunInRootfsResult> {
  const root = await realpath(dir).catch(() => {
    throw new InputError(`cannot run in ${dir}: no such directory`);
  });
  const sandbox = await chooseSandbox(options.sandbox);
  const env: Record<string, string> = { PATH: IMAGE_PATH, HOME: '/root', TERM: process.env['TERM'] ?? 'dumb', ...options.env };

  let file: string;
  let args: string[];
  const resolv = await prepareResolvConf(root);
  try {
    if (sandbox === 'bwrap') {
      file = 'bwrap';
      args = ['--bind', root, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--unshare-pid', '--die-with-parent', '--chdir', '/'];
      if (resolv.bind) args.push('--ro-bind', HOST_RESOLV_CONF, '/etc/resolv.conf');
      args.push('--clearenv');
      for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);
      args.push('--', '/bin/sh', '-c', command);
    } else {
      await requireDirs(root, ['proc', 'dev', 'tmp']);
      file = 'unshare';
      // --kill-child: the shell unshare forks dies with unshare, which dies with flatbake.
      args = ['--mount', '--pid', '--fork', '--kill-child', '--propagation', 'private', '--', '/bin/sh', '-c', CHROOT_SCRIPT, 'flatbake-run', root, resolv.bind ? '1' : '0', command];
    }

    const child = start(file, args, {
      env,
      extendEnv: false,
      stdin: 'ignore',
      buffer: false,
      cancelSignal: options.signal,
    });
    let tail = '';
    child.stdout?.pipe(options.stdout ?? process.stdout, { end: false });
    child.stderr?.on('data', (chunk: Buffer) => {
      (options.stderr ?? process.stderr).write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    const result = await child;
    const detail = tail.trimEnd().split('\n').slice(-12).join('\n');
    const failure = commandFailure('/bin/sh', ['-c', command], result, { stderr: detail }, {
      purpose: `run it in ${root} (${sandbox})`,
      hint: result.exitCode === 127 ? 'the rootfs may lack /bin/sh or the program; check the image' : undefined,
      signal: options.signal,
    });
    if (failure) throw failure;
    const exitCode = result.exitCode ?? -1;
    return { sandbox, exitCode };
  } finally {
    await resolv.cleanup();
  }
}
