import { execa, type Options as ExecaOptions } from 'execa';
import { CommandError, FlatbakeError, MissingToolError } from '../errors.js';

/**
 * The one place flatbake starts host programs. Argument arrays only, never a shell; every child
 * runs under `setpriv --pdeathsig KILL` (util-linux), which asks the kernel to kill it the moment
 * flatbake dies, even by SIGKILL, so no qemu-img or mksquashfs keeps writing into a dead run's
 * files. setpriv execs the program in place: the pid, exit status and signals are the program's.
 */
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
  /** Return stdout as bytes (RunResult.bytes; stdout is then their latin1 reading). */
  binary?: boolean;
  /** Abort signal: the command is killed when it fires. */
  signal?: AbortSignal;
  /** Told each piece of stdout as it arrives (progress a tool prints while it runs). */
  onStdout?: (text: string) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** stdout as bytes, when `binary` was asked for. */
  bytes?: Buffer;
}

const TAIL_LINES = 12;

function tail(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-TAIL_LINES).join('\n');
}

export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** What setpriv says, with status 127, when the program it should exec does not exist. */
const NOT_FOUND = /^setpriv: failed to execute (.+): No such file or directory$/m;

/**
 * Starts FILE with ARGS under the parent-death signal. For children whose streams the caller
 * wires itself (a pipeline, a live console); run() is the buffered form. `reject` is always
 * false: the caller reads the result and hands it to commandFailure().
 */
export function start<O extends ExecaOptions>(file: string, args: readonly string[], options: O) {
  const always: O & { reject: false } = { ...options, reject: false };
  return execa('setpriv', ['--pdeathsig', 'KILL', '--', file, ...args], always);
}

/** The parts of a finished child that say how it ended. */
export interface Ended {
  exitCode?: number;
  signal?: string;
  isCanceled?: boolean;
  /** execa's error code when the program could not be started at all (ENOENT). */
  code?: string;
}

/**
 * The one error mapping: undefined when the child succeeded (or exited with an accepted code);
 * otherwise a MissingToolError for a program that is not installed, the abort reason for a
 * cancelled one, and a CommandError naming the command, its status and the tail of its output.
 */
export function commandFailure(
  file: string,
  args: readonly string[],
  ended: Ended,
  output: { stderr: string; stdout?: string },
  options: { purpose?: string; hint?: string; okExitCodes?: readonly number[]; signal?: AbortSignal } = {},
): FlatbakeError | Error | undefined {
  const missing = ended.code === 'ENOENT' ? 'setpriv' : ended.exitCode === 127 ? NOT_FOUND.exec(output.stderr)?.[1] : undefined;
  if (missing) {
    return new MissingToolError(
      `${missing} is not installed (needed to ${options.purpose ?? 'run ' + file})`,
      'run `flatbake doctor` to see which packages provide the host tools, or scripts/setup.sh to install them',
    );
  }
  const cmd = formatCommand(file, args);
  const exitCode = ended.exitCode ?? -1;
  if (ended.isCanceled) {
    const reason: unknown = options.signal?.reason;
    return reason instanceof Error ? reason : new CommandError(`${cmd} was cancelled`, cmd, exitCode, tail(output.stderr));
  }
  if (exitCode === 0 || (options.okExitCodes ?? []).includes(exitCode)) return undefined;
  const why = options.purpose ? `failed to ${options.purpose}: ` : '';
  const detail = tail(output.stderr || output.stdout || '');
  const killed = ended.signal ? ` (killed by ${ended.signal})` : '';
  return new CommandError(`${why}${cmd} exited with status ${exitCode}${killed}${detail ? `:\n${detail}` : ''}`, cmd, exitCode, detail, options.hint);
}

const text = (value: unknown, encoding: BufferEncoding) =>
  typeof value === 'string' ? value : Buffer.from((value ?? new Uint8Array()) as Uint8Array).toString(encoding);

/**
 * Runs FILE to completion with its output buffered. A failure becomes a CommandError naming the
 * command, its exit code and the tail of its output; a missing program a MissingToolError.
 */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const child = start(file, args, {
    cwd: options.cwd,
    input: options.input,
    env: options.env,
    stripFinalNewline: false,
    cancelSignal: options.signal,
    encoding: options.binary ? 'buffer' : 'utf8',
  });
  const onStdout = options.onStdout;
  if (onStdout) child.stdout?.on('data', (chunk: Buffer | string) => onStdout(String(chunk)));
  const result = await child;
  const bytes = options.binary ? Buffer.from(result.stdout as unknown as Uint8Array) : undefined;
  const stdout = bytes ? bytes.toString('latin1') : text(result.stdout, 'utf8');
  const stderr = text(result.stderr, 'utf8');
  const failure = commandFailure(file, args, result as Ended, { stderr, stdout }, options);
  if (failure) throw failure;
  return { stdout, stderr, exitCode: result.exitCode ?? -1, bytes };
}

/** run() for a command whose stdout is bytes (cpio, debugfs cat). */
export async function runBinary(file: string, args: readonly string[], options: RunOptions = {}): Promise<Buffer> {
  return (await run(file, args, { ...options, binary: true })).bytes!;
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
