import { CleanupError, InterruptedError } from '../errors.js';

type Release = () => Promise<void> | void;

interface Entry {
  what: string;
  release: Release;
}

/** Scopes alive in this process, so a signal handler can release them all. */
const liveScopes = new Set<ResourceScope>();
let signalsInstalled = false;
let interruptedBy: NodeJS.Signals | undefined;
const interruptListeners = new Set<(signal: NodeJS.Signals) => void>();

function installSignalHandlers(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interruptedBy) return; // a second signal while cleaning up: keep cleaning
      interruptedBy = signal;
      for (const listener of interruptListeners) listener(signal);
      // Release everything, then exit with the conventional status.
      void releaseAllScopes().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
}

export async function releaseAllScopes(): Promise<void> {
  for (const scope of [...liveScopes].reverse()) {
    await scope.release();
  }
}

/** Throws InterruptedError if a SIGINT/SIGTERM arrived; long stages call it between steps. */
export function throwIfInterrupted(): void {
  if (interruptedBy) throw new InterruptedError(interruptedBy);
}

/** An AbortSignal that fires on SIGINT/SIGTERM, for downloads and child processes. */
export function interruptSignal(): AbortSignal {
  installSignalHandlers();
  const controller = new AbortController();
  if (interruptedBy) controller.abort(new InterruptedError(interruptedBy));
  else interruptListeners.add((signal) => controller.abort(new InterruptedError(signal)));
  return controller.signal;
}

/**
 * Owns acquired resources (loop devices, mounts, temp dirs, partial files) and
 * releases them in reverse order exactly once: on success, on error, and on
 * SIGINT/SIGTERM/SIGHUP. Use with `await using scope = new ResourceScope()`
 * or call `release()` in a finally.
 */
export class ResourceScope implements AsyncDisposable {
  private readonly entries: Entry[] = [];
  private released = false;
  readonly errors: Array<{ what: string; error: unknown }> = [];

  constructor(private readonly onReleaseError?: (what: string, error: unknown) => void) {
    installSignalHandlers();
    liveScopes.add(this);
  }

  /** Register a release action; returns a function that runs it early (and only once). */
  defer(what: string, release: Release): () => Promise<void> {
    const entry: Entry = { what, release };
    this.entries.push(entry);
    return async () => {
      const index = this.entries.indexOf(entry);
      if (index === -1) return;
      this.entries.splice(index, 1);
      await release();
    };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    liveScopes.delete(this);
    while (this.entries.length > 0) {
      const entry = this.entries.pop()!;
      try {
        await entry.release();
      } catch (error) {
        // Keep releasing the rest: one stuck mount must not leak a loop device too.
        this.errors.push({ what: entry.what, error });
        this.onReleaseError?.(entry.what, error);
      }
    }
  }

  /** After release(): one CleanupError naming everything that could not be released, if anything. */
  releaseFailure(): CleanupError | undefined {
    if (this.errors.length === 0) return undefined;
    const first = this.errors[0]!.error;
    return new CleanupError(
      `could not ${this.errors.map((e) => e.what).join(', ')}: ${first instanceof Error ? first.message : String(first)}`,
      'see what is left with `findmnt` and `losetup --list` and release it by hand',
      { cause: first },
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/**
 * Runs `fn` with a scope of its own, released when `fn` settles. When `fn` succeeded, a release
 * that failed fails the call with one CleanupError (releaseFailure); when `fn` failed, its error
 * wins and `onReleaseError` hears what could not be released.
 */
export async function withScope<T>(fn: (scope: ResourceScope) => Promise<T>, onReleaseError?: (what: string, error: unknown) => void): Promise<T> {
  const scope = new ResourceScope();
  let result: T;
  try {
    result = await fn(scope);
  } catch (error) {
    await scope.release();
    for (const failed of scope.errors) onReleaseError?.(failed.what, failed.error);
    throw error;
  }
  await scope.release();
  const failure = scope.releaseFailure();
  if (failure) throw failure;
  return result;
}
