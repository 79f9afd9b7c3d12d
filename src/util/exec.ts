import { execa, type Options as ExecaOptions } from 'execa';
import { CommandError, MissingToolError } from '../errors.js';

export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Data written to the command's stdin. */
  input?: string | Buffer;
  /** Extra environment (merged with process.env). */
  env?: Record<string, string | undefined>;
  /** Tolerate these exit codes (return the result instead of throwing). */
  okExitCodes?: number[];
  /** What the command was for, used in the error message ("mount ROOT"). */
  purpose?: string;
  /** Hint for the user when the command fails. */
  hint?: string;
  /** Return stdout as a Buffer. */
  binary?: boolean;
  /** Abort signal: the command is killed when it fires. */
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const TAIL_LINES = 12;

function tail(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-TAIL_LINES).join('\n');
}

export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/**
 * The one runner for external commands: argument arrays only, never a shell.
 * A failure becomes a CommandError naming the command, its exit code and the
 * tail of its output; a missing program becomes a MissingToolError.
 */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const execaOptions: ExecaOptions = {
    cwd: options.cwd,
    input: options.input,
    env: options.env,
    reject: false,
    stripFinalNewline: false,
    cancelSignal: options.signal,
    encoding: options.binary ? 'buffer' : 'utf8',
  };
  const result = await execa(file, args, execaOptions);
  const cmd = formatCommand(file, args);
  const stdout = typeof result.stdout === 'string' ? result.stdout : Buffer.from(result.stdout as Uint8Array).toString('latin1');
  const stderr = typeof result.stderr === 'string' ? result.stderr : Buffer.from(result.stderr as unknown as Uint8Array).toString('utf8');
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new MissingToolError(
      `${file} is not installed (needed to ${options.purpose ?? 'run ' + file})`,
      'run `flatbake doctor` to see which packages provide the host tools, or scripts/setup.sh to install them',
    );
  }
  const exitCode = result.exitCode ?? -1;
  if (result.isCanceled) {
    throw new CommandError(`${cmd} was cancelled`, cmd, exitCode, tail(stderr));
  }
  if (exitCode !== 0 && !(options.okExitCodes ?? []).includes(exitCode)) {
    const why = options.purpose ? `failed to ${options.purpose}: ` : '';
    const detail = tail(stderr || stdout);
    const signal = result.signal ? ` (killed by ${result.signal})` : '';
    throw new CommandError(
      `${why}${cmd} exited with status ${exitCode}${signal}${detail ? `:\n${detail}` : ''}`,
      cmd,
      exitCode,
      detail,
      options.hint,
    );
  }
  return { stdout, stderr, exitCode };
}

/** Like run(), but returns stdout as raw bytes. */
export async function runBinary(file: string, args: readonly string[], options: RunOptions = {}): Promise<Buffer> {
  const execaOptions: ExecaOptions = {
    cwd: options.cwd,
    input: options.input,
    env: options.env,
    reject: false,
    encoding: 'buffer',
    stripFinalNewline: false,
    cancelSignal: options.signal,
  };
  const result = await execa(file, args, execaOptions);
  const cmd = formatCommand(file, args);
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new MissingToolError(`${file} is not installed (needed to ${options.purpose ?? 'run ' + file})`, 'run `flatbake doctor`');
  }
  const stderr = Buffer.from(result.stderr as unknown as Uint8Array).toString('utf8');
  if (result.exitCode !== 0 && !(options.okExitCodes ?? []).includes(result.exitCode ?? -1)) {
    throw new CommandError(`${options.purpose ? `failed to ${options.purpose}: ` : ''}${cmd} exited with status ${result.exitCode}:\n${tail(stderr)}`, cmd, result.exitCode, tail(stderr), options.hint);
  }
  return Buffer.from(result.stdout as unknown as Uint8Array);
}

/** Is a program on PATH (or at an absolute path)? */
export async function which(program: string): Promise<string | undefined> {
  const { access, constants } = await import('node:fs/promises');
  const path = await import('node:path');
  if (program.includes('/')) {
    try {
      await access(program, constants.X_OK);
      return program;
    } catch {
      return undefined;
    }
  }
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}
