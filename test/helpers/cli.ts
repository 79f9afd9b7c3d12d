import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const REPO = path.resolve(new URL('../..', import.meta.url).pathname);
export const CLI = path.join(REPO, 'dist/cli.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (npm test builds first) the way a user does. */
export async function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { NO_PROXY: '127.0.0.1,localhost', ...options.env },
    reject: false,
    stdin: 'ignore',
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export async function readJson<T = unknown>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

export const isRoot = process.getuid?.() === 0;

/**
 * Runs the built CLI as an ordinary user: as nobody (setpriv) when the tests run as root, else
 * as the user running them. `env` is laid over this process's environment (PATH and HOME are the
 * caller's to choose: nobody has no home).
 */
export async function runCliUnprivileged(args: string[], env: Record<string, string>): Promise<CliResult> {
  const command = isRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath] : [process.execPath];
  const result = await execa(command[0]!, [...command.slice(1), CLI, ...args], {
    env: { NO_PROXY: '127.0.0.1,localhost', ...env },
    reject: false,
    stdin: 'ignore',
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}
/** For the name of a test that needs root: empty as root, else what it needs root for, visibly. */
export const needsRoot = (what: string): string => (isRoot ? '' : ` (SKIPPED: needs root ${what})`);
/** Tests that attach loop devices and mount need root; elsewhere they are skipped and say why. */
export const ROOT_SKIP_REASON = needsRoot('for losetup and mount');
