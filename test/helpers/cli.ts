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
/** Tests that attach loop devices and mount need root; elsewhere they are skipped and say why. */
export const ROOT_SKIP_REASON = isRoot ? '' : ' (SKIPPED: needs root for losetup and mount)';
