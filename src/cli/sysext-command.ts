import { Command, Option } from 'commander';
import path from 'node:path';
import { InputError, NotImplementedError } from '../errors.js';
import { checkSysext, formatFindings } from '../sysext/check.js';
import { createSysext, SYSEXT_FORMATS, type SysextFormat } from '../sysext/create.js';

export function registerSysext(program: Command): void {
  const sysext = program.command('sysext').description('build and check sysext images');

  sysext
    .command('create')
    .description('turn a folder holding usr/ (and optionally opt/) into NAME.raw, then check it')
    .argument('<dir>', 'the tree to pack: only usr/ and opt/ may be at its top')
    .argument('<name>', 'the extension name: writes usr/lib/extension-release.d/extension-release.NAME')
    .option('--os <id>', '_any (any OS) or an os-release ID such as flatcar (adds SYSEXT_LEVEL=1.0)', '_any')
    .option('--arch <arch>', 'ARCHITECTURE= (x86-64, arm64; aliases amd64, x86_64, aarch64)')
    .option('--reload', 'EXTENSION_RELOAD_MANAGER=1: systemd reloads units when the image is merged')
    .addOption(new Option('--format <format>', 'filesystem of the image').choices([...SYSEXT_FORMATS]).default('squashfs'))
    .option('--output <dir>', 'where NAME.raw is written', '.')
    .option('--force', 'replace an existing NAME.raw')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nReproducible: the same tree and SOURCE_DATE_EPOCH give a byte-identical image (squashfs, erofs, ext4).\nExample:\n  flatbake sysext create ./rootfs hello --os flatcar --arch x86-64',
    )
    .action(async (dir: string, name: string, options: { os: string; arch?: string; reload?: boolean; format: SysextFormat; output: string; force?: boolean; json?: boolean }) => {
      const result = await createSysext({
        sourceDir: path.resolve(dir),
        name,
        outputDir: path.resolve(options.output),
        os: options.os,
        arch: options.arch,
        reload: options.reload,
        format: options.format,
        force: options.force,
      });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        const notes = formatFindings(result);
        if (notes) process.stderr.write(`${notes}\n`);
        process.stdout.write(`${result.path} (${result.format}, ${result.size} bytes, sha256 ${result.sha256})\n`);
      }
    });

  sysext
    .command('check')
    .description('lint a sysext image: extension-release, top-level dirs, ownership, ELF arch, unit Exec paths, drop-ins')
    .argument('<file.raw>', 'the image to check')
    .option('--name <name>', 'the extension name to expect (default: from the file name)')
    .option('--json', 'print findings as JSON')
    .action(async (file: string, options: { name?: string; json?: boolean }) => {
      const result = await checkSysext(file, { expectName: options.name });
      if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        const text = formatFindings(result);
        process.stdout.write(text ? `${text}\n` : '');
        process.stdout.write(`${path.basename(file)}: ${result.ok ? 'ok' : 'FAILED'} (${result.findings.filter((f) => f.severity === 'error').length} errors, ${result.findings.filter((f) => f.severity === 'warning').length} warnings)\n`);
      }
      if (!result.ok) throw new InputError(`${file} failed the sysext check`, 'fix the errors listed above');
    });

  for (const [name, description] of [
    ['build', 'build a sysext from a recipe'],
    ['recipes', 'list the recipes'],
  ] as const) {
    sysext
      .command(name)
      .description(`${description} (not implemented yet)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new NotImplementedError(`flatbake sysext ${name}`);
      });
  }
}
