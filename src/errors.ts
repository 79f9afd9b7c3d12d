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
