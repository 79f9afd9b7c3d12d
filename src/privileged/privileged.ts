import { PrivilegeError } from '../errors.js';
import { run, start, which, type RunOptions, type RunResult } from '../util/exec.js';

export type PrivilegeMode = 'root' | 'sudo';

/**
 * Runs the few commands that need root (losetup, mount, writing into the
 * mounted image): directly when we are root, through `sudo -n` otherwise.
 */
export interface Privileged {
  readonly mode: PrivilegeMode;
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

class DirectRoot implements Privileged {
  readonly mode = 'root' as const;
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    return run(file, args, options);
  }
}

class Sudo implements Privileged {
  readonly mode = 'sudo' as const;
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    // -n: never prompt in the middle of a pipeline; the password is asked once up front
    return run('sudo', ['-n', '--', file, ...args], options);
  }
}

let cached: Privileged | undefined;

/**
 * Finds a way to run privileged commands. As root: direct. Otherwise sudo,
 * asking for the password once if stdin is a terminal. Neither: a
 * PrivilegeError that says what to do.
 */
export async function acquirePrivileges(purpose: string): Promise<Privileged> {
  if (cached) return cached;
  if (process.getuid?.() === 0) return (cached = new DirectRoot());
  if (!(await which('sudo'))) {
    throw new PrivilegeError(
      `${purpose} needs root (losetup and mount), and sudo is not installed`,
      'run flatbake as root, or install and configure sudo',
    );
  }
  const probe = await start('sudo', ['-n', 'true'], { stdin: 'ignore' });
  if (probe.exitCode !== 0) {
    if (process.stdin.isTTY) {
      process.stderr.write(`flatbake: ${purpose} needs root for losetup and mount; sudo will ask for your password once.\n`);
      const prompt = await start('sudo', ['-v'], { stdio: 'inherit' });
      if (prompt.exitCode !== 0) {
        throw new PrivilegeError(`${purpose} needs root, and sudo refused`, 'run flatbake as root or check your sudo rights');
      }
    } else {
      throw new PrivilegeError(
        `${purpose} needs root (losetup and mount), and sudo cannot run without a password here`,
        'run flatbake as root, allow passwordless sudo for this user, or run it from a terminal so sudo can ask',
      );
    }
  }
  return (cached = new Sudo());
}
