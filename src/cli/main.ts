import { Command, CommanderError } from 'commander';
import type { BakeOptions } from '../bake/context.js';
import { FlatbakeError, fromSystemError, UsageError } from '../errors.js';
import { nearest } from '../util/suggest.js';
import { ERROR_SCHEMA_VERSION, PartialBakeError, type JsonError, type Manifest } from '../bake/manifest.js';
import { stderrReporter } from '../util/report.js';
import { VERSION } from '../version.js';
import { commanderOptions, resolveSettings, useRecipesDirs } from './options.js';
import { registerOtherCommands } from './commands.js';
import { configSysexts, loadConfigFile } from './config-file.js';
import { jsonWritten } from './json-output.js';

/**
 * The bake's options: the command line, then `--config`'s file, then the declared defaults.
 * NAME:FILE arguments on the command line replace the file's `sysexts:`.
 */
export async function toBakeOptions(args: string[], command: Command): Promise<BakeOptions> {
  if (args[0] !== undefined && !args[0].includes(':')) throw unknownCommand(args[0], command.parent ?? command);
  const { config: configPath, replay } = resolveSettings(command, 'bake');
  if (replay) {
    if (configPath) throw new UsageError('--replay and --config cannot be combined', 'the manifest records the settings: give --replay alone (and options to override)');
    if (args.length) throw new UsageError('--replay takes the sysexts from the manifest, not NAME:FILE arguments', `drop ${args.join(' ')}, or bake without --replay`);
    const { loadReplay } = await import('../bake/replay.js');
    const recorded = await loadReplay(replay);
    return { ...resolveSettings(command, 'bake', recorded.settings), sysexts: recorded.sysexts, replayed: recorded.expect };
  }
  const config = configPath ? await loadConfigFile(configPath) : undefined;
  const settings = resolveSettings(command, 'bake', config?.settings);
  const sysexts = args.length > 0 || !config ? args : configSysexts(config, settings.fetch);
  return { ...settings, sysexts };
}

/** `flatbake inpsect x` reaches the default command with a first argument that is no NAME:FILE. */
function unknownCommand(word: string, program: Command): UsageError {
  const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  const guess = nearest(word, names);
  // Near a command name: a typo. Otherwise it may as well be a sysext without its NAME: say both.
  return new UsageError(
    guess ? `unknown command '${word}' (did you mean ${guess}?)` : `'${word}' is not a command, nor a sysext NAME:FILE`,
    'run `flatbake --help` for the commands; sysexts to bake are written NAME:FILE',
  );
}

const BAKE_EXAMPLES = `
Examples:
  # the newest stable release with wasmtime from the Flatcar bakery
  flatbake --fetch wasmtime:wasmtime-24.0.0-x86-64.raw

  # local sysexts, a pinned release, results in ./out
  flatbake --release 4230.2.1 --output out docker:./docker-27.raw kubernetes:./kubernetes-v1.31.raw

  # put the sysext on the OEM partition, air-gapped through a mirror
  flatbake --install-to oem:/sysexts --mirror http://mirror.internal/ myext:./myext.raw

  # cloud images from the same bake
  flatbake --fetch --vendor qemu_uefi,azure,gce wasmtime:wasmtime-24.0.0-x86-64.raw

Each NAME:FILE is copied to the install dir, linked as /etc/extensions/NAME.raw, and
NAME.conf (next to FILE, or from the bakery with --fetch) becomes
/etc/sysupdate.NAME.d/NAME.conf. Results: flatcar_production_image.bin and
flatbake-manifest.json in --output, and each --vendor image. No root needed: the offline
backend edits the image file itself (--backend mount uses loop devices and mounts via sudo).`;

export function buildProgram(): Command {
  const program = new Command('flatbake');
  program
    .description('Bake systemd-sysext extensions into Flatcar Container Linux images and write vendor images')
    .version(VERSION, '--version', 'print the version');

  const bakeCommand = new Command('bake')
    .description('bake sysexts into a Flatcar OS image (the default command)')
    .argument('[NAME:FILE...]', 'sysexts to bake: NAME becomes /etc/extensions/NAME.raw; FILE is a path (with --fetch, a bakery file name); default: the --config file\'s sysexts')
    .addHelpText('after', BAKE_EXAMPLES)
    .exitOverride()
    .action(async (sysexts: string[], _raw: unknown, command: Command) => {
      const json = Boolean((command.opts() as { json?: boolean }).json);
      try {
        const options = await toBakeOptions(sysexts, command);
        await useRecipesDirs(options.recipesDirs);
        const report = stderrReporter({ json: options.json, quiet: options.quiet });
        const { bake } = await import('../bake/pipeline.js');
        const { manifest } = await bake(options, report);
        if (options.json) process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
      } catch (error) {
        // A pipeline reads stdout: on failure it gets the manifest of what was written (a failed
        // vendor), else a JSON error object; stderr and the exit status stay as without --json.
        if (json) process.stdout.write(`${JSON.stringify(jsonFailure(error), null, 2)}\n`);
        throw error;
      }
    });
  for (const option of commanderOptions('bake')) bakeCommand.addOption(option);
  program.addCommand(bakeCommand, { isDefault: true });
  registerOtherCommands(program);
  forEachCommand(program, (command) => command.exitOverride().configureOutput(PARSER_OUTPUT));
  return program;
}

/** commander's own errors (unknown option, missing argument) in our format: `flatbake: error:` and a hint. */
const PARSER_OUTPUT = {
  writeErr: (text: string) => process.stderr.write(text),
  outputError: (text: string, write: (text: string) => void) => {
    // one line: commander puts its "(Did you mean --release?)" on a second one
    const message = text.trim().replace(/^error: /, '').split('\n').map((line) => line.trim()).filter(Boolean).join(' ');
    write(`flatbake: error: ${message.replace('(Did you mean', '(did you mean')}\n`);
    write('flatbake: hint: run `flatbake --help`, or `flatbake COMMAND --help`, for the options\n');
  },
};

function forEachCommand(command: Command, visit: (command: Command) => void): void {
  visit(command);
  for (const sub of command.commands) forEachCommand(sub, visit);
}

/** What `--json` prints for a failure: the manifest when something was published, else an error object. */
export function jsonFailure(error: unknown): Manifest | JsonError {
  if (error instanceof PartialBakeError) return error.manifest;
  const known = error instanceof FlatbakeError ? error : fromSystemError(error);
  const message = (known ?? (error instanceof Error ? error : new Error(String(error)))).message.split('\n')[0]!;
  const exitCode = known ? known.exitCode : 1;
  const hint = known?.hint;
  return { schemaVersion: ERROR_SCHEMA_VERSION, error: { message, ...(hint ? { hint } : {}), exitCode } };
}

export function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander already printed its message; --help and --version exit 0
    return error.exitCode === 0 ? 0 : 2;
  }
  const system = error instanceof FlatbakeError ? undefined : fromSystemError(error);
  if (system) return reportError(system);
  if (error instanceof FlatbakeError) {
    const [first, ...rest] = error.message.split('\n');
    process.stderr.write(`flatbake: error: ${first}\n`);
    for (const line of rest) process.stderr.write(`  ${line}\n`);
    if (error.hint) process.stderr.write(`flatbake: hint: ${error.hint}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`flatbake: error: ${message.split('\n')[0]}\n`);
  if (process.env.FLATBAKE_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write('flatbake: hint: this is unexpected; rerun with FLATBAKE_DEBUG=1 and report the stack trace\n');
  return 1;
}

/**
 * `--json` on a command other than the bake (which prints its own): on failure stdout carries
 * the JSON error object too, so a pipeline that reads stdout gets JSON either way. A parser
 * error (before any action ran) counts when `--json` was typed.
 */
function writeJsonFailure(error: unknown, argv: string[], running: Command | undefined): void {
  if (running?.name() === 'bake' || jsonWritten()) return;
  const asked = running ? Boolean((running.opts() as { json?: boolean }).json) : argv.includes('--json');
  if (!asked) return;
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return;
    error = new UsageError(error.message.replace(/^error: /, '').split('\n')[0]!, 'run `flatbake --help`, or `flatbake COMMAND --help`, for the options');
  }
  process.stdout.write(`${JSON.stringify(jsonFailure(error), null, 2)}\n`);
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    // bare `flatbake` is a usage error, not a bake of nothing
    process.stderr.write(buildProgram().helpInformation());
    process.stderr.write('flatbake: error: no command and no sysexts given\nflatbake: hint: `flatbake demo` bakes offline; `flatbake --fetch NAME:FILE` bakes from the bakery\n');
    return 2;
  }
  let running: Command | undefined;
  try {
    const program = buildProgram();
    program.hook('preAction', (_program, command) => {
      running = command;
    });
    await program.parseAsync(argv, { from: 'user' });
    // A command that reports failure without throwing (doctor, boot) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    writeJsonFailure(error, argv, running);
    return reportError(error);
  }
}

