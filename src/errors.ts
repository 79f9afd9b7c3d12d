/**
 * One error class per kind of failure. Every message says what went wrong;
 * `hint` says what the user can do next. The CLI prints `message` first on
 * stderr, then the hint, and exits with `exitCode`.
 */
export class FlatbakeError extends Error {
  readonly exitCode: number = 1;
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: exit status 2. */
export class UsageError extends FlatbakeError {
  override readonly exitCode = 2;
}

/** Bad input data that is not a command-line syntax problem (missing file, bad name, ...). */
export class InputError extends FlatbakeError {}

/** Download failures: DNS, connection, HTTP status, truncated bodies. */
export class NetworkError extends FlatbakeError {}

/** Signature or digest checks that failed. Nothing is written under a final name after one. */
export class VerificationError extends FlatbakeError {}

/** A disk image, partition table or filesystem that is not what it must be. */
export class DiskFormatError extends FlatbakeError {}

/** We need root for something and can get it neither directly nor through sudo. */
export class PrivilegeError extends FlatbakeError {}

/** A mount, loop device or temp file that could not be released once the work was done. */
export class CleanupError extends FlatbakeError {}

/** A host tool is missing. */
export class MissingToolError extends FlatbakeError {}

/** An external command failed; carries the command, its exit code and the tail of its output. */
export class CommandError extends FlatbakeError {
  constructor(
    message: string,
    readonly command: string,
    readonly exitStatus: number | undefined,
    readonly outputTail: string,
    hint?: string,
  ) {
    super(message, hint);
  }
}

/** A feature that is planned but not written: it says so instead of pretending. */
export class NotImplementedError extends FlatbakeError {
  constructor(what: string) {
    super(`${what}: not implemented yet`);
  }
}

/** The run was interrupted by SIGINT/SIGTERM. */
export class InterruptedError extends FlatbakeError {
  override readonly exitCode = 130;
  constructor(signal: string) {
    super(`interrupted by ${signal}; everything acquired was released`);
  }
}

const SYSTEM_HINTS: Record<string, string> = {
  ENOSPC: 'free disk space (the output, cache and temp directories all need some) and run again',
  EDQUOT: 'your disk quota is used up: free some space and run again',
  EROFS: 'the file system is read-only: choose another directory',
  EACCES: 'you lack permission there: choose another directory or fix its permissions',
  EPERM: 'the operation is not permitted there: choose another directory or fix its permissions',
  ENOTDIR: 'a path component is a file, not a directory: check the paths you gave',
  EISDIR: 'a directory is where a file was expected: check the paths you gave',
  EEXIST: 'something is already there: remove it or choose another path',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and run again',
};

/**
 * A file-system error (ENOSPC, EROFS, ...) that reached the top without a better message: still
 * one clear error, with a hint for its cause, instead of "this is unexpected".
 */
export function fromSystemError(error: unknown): FlatbakeError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !(code in SYSTEM_HINTS)) return undefined;
  const e = error as { message?: string; path?: string };
  const text = e.message ?? code;
  const where = e.path !== undefined && !text.includes(e.path) ? ` (${e.path})` : '';
  return new FlatbakeError(`${text}${where}`, SYSTEM_HINTS[code], { cause: error });
}
