import { Command, CommanderError } from 'commander';
import type { BakeOptions } from '../bake/context.js';
import { FlatbakeError, fromSystemError } from '../errors.js';
import { stderrReporter } from '../util/report.js';
import { VERSION } from '../version.js';
import { commanderOptions, resolveSettings } from './options.js';
import { registerOtherCommands } from './commands.js';

/** The bake's options from the parsed command line (settings: command line, then defaults). */
export function toBakeOptions(sysexts: string[], command: Command): BakeOptions {
  return { ...resolveSettings(command, 'bake'), sysexts };
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
    .version(VERSION, '--version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  const bakeCommand = new Command('bake')
    .description('bake sysexts into a Flatcar OS image (the default command)')
    .argument('<NAME:FILE...>', 'sysexts to bake: NAME becomes /etc/extensions/NAME.raw; FILE is a path (with --fetch, a bakery file name)')
    .addHelpText('after', BAKE_EXAMPLES)
    .exitOverride()
    .action(async (sysexts: string[], _raw: unknown, command: Command) => {
      const options = toBakeOptions(sysexts, command);
      const report = stderrReporter({ json: options.json });
      const { bake } = await import('../bake/pipeline.js');
      const { manifest } = await bake(options, report);
      if (options.json) process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    });
  for (const option of commanderOptions('bake')) bakeCommand.addOption(option);
  program.addCommand(bakeCommand, { isDefault: true });
  registerOtherCommands(program);
  return program;
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

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    // A command that reports failure without throwing (doctor, boot) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  }
}

