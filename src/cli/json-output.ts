/**
 * What a command prints with --json: one JSON document on stdout. A command that printed its
 * result and then fails (sysext check of a bad image) must not get the error object appended,
 * so main() asks whether one was printed.
 */
let written = false;

export function writeJson(value: unknown): void {
  written = true;
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function jsonWritten(): boolean {
  return written;
}

/** The version of the `--json` shapes of sysext create/check/build/recipes, release, flix, flatwrap, convert-torcx and oci-rootfs (schemas/*.schema.json). */
export const COMMAND_SCHEMA_VERSION = 1;
