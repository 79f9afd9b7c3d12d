import { Command, Option } from 'commander';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { openCache } from '../cache/cache.js';
import { FlatbakeError, InputError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { nearest } from '../util/suggest.js';
import { stderrReporter } from '../util/report.js';
import { interruptSignal } from '../util/scope.js';
import { SYSEXT_FORMATS, type SysextFormat } from '../sysext/formats.js';
import { commanderOptions, resolveSettings, useRecipesDirs } from './options.js';
import { COMMAND_SCHEMA_VERSION, writeJson } from './json-output.js';

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
      const [{ createSysext }, { formatFindings }] = await Promise.all([import('../sysext/create.js'), import('../sysext/check.js')]);
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
        writeJson({ schemaVersion: COMMAND_SCHEMA_VERSION, ...result });
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
      const { checkSysext, formatFindings } = await import('../sysext/check.js');
      const result = await checkSysext(file, { expectName: options.name });
      if (options.json) writeJson({ schemaVersion: COMMAND_SCHEMA_VERSION, ...result });
      else {
        const text = formatFindings(result);
        process.stdout.write(text ? `${text}\n` : '');
        process.stdout.write(`${path.basename(file)}: ${result.ok ? 'ok' : 'FAILED'} (${result.findings.filter((f) => f.severity === 'error').length} errors, ${result.findings.filter((f) => f.severity === 'warning').length} warnings)\n`);
      }
      if (!result.ok) throw new InputError(`${file} failed the sysext check`, 'fix the errors listed above');
    });

  const recipes = sysext
    .command('recipes')
    .description('list the recipes `sysext build` knows, with their architectures, variants and options')
    .option('--show <name>', 'print the recipe file of one recipe (a start for your own)')
    .option('--json', 'print JSON');
  for (const option of commanderOptions('sysext recipes')) recipes.addOption(option);
  recipes.action(async (options: { show?: string; json?: boolean }, command: Command) => {
      await useRecipesDirs(resolveSettings(command, 'sysext recipes').recipesDirs);
      const { getRecipe, listRecipes } = await import('../recipes/index.js');
      if (options.show !== undefined) {
        const recipe = getRecipe(options.show);
        if (!recipe.file) {
          throw new InputError(`recipe ${recipe.name} is written in TypeScript (it needs code), not as a recipe file`, `its source is src/recipes/catalog in flatbake's repository; recipe files to start from: ${listRecipes().filter((r) => r.file).map((r) => r.name).join(', ')}`);
        }
        process.stdout.write(await readFile(recipe.file, 'utf8'));
        return;
      }
      const rows = listRecipes().map((r) => ({
        name: r.name,
        aliases: r.aliases ?? [],
        description: r.description,
        arches: Object.keys(r.arches),
        versionExample: r.versionExample,
        knownVersions: r.knownVersions ?? [],
        variants: Object.keys(r.variants ?? {}),
        options: Object.keys(r.options ?? {}),
        file: r.file ?? null,
      }));
      if (options.json) {
        writeJson({ schemaVersion: COMMAND_SCHEMA_VERSION, recipes: rows });
        return;
      }
      const width = Math.max(...rows.map((r) => r.name.length));
      for (const r of rows) {
        const extras = [
          r.variants.length ? `variants: ${r.variants.join(', ')}` : '',
          r.options.length ? `options: ${r.options.join(', ')}` : '',
        ].filter(Boolean);
        process.stdout.write(`${r.name.padEnd(width)}  ${r.description} (${r.arches.join(', ')}; e.g. ${r.versionExample})${extras.length ? `; ${extras.join('; ')}` : ''}\n`);
      }
    });

  sysext
    .command('recipe')
    .description('work with recipe files')
    .command('new')
    .description('write NAME.yaml, a commented recipe file to start from')
    .argument('<name>', 'the recipe (and extension) name, e.g. my-tool')
    .option('--output <dir>', 'where NAME.yaml is written', '.')
    .option('--force', 'replace an existing NAME.yaml')
    .addHelpText('after', '\nThen: flatbake sysext build --recipes-dir <dir> NAME VERSION')
    .action(async (name: string, options: { output: string; force?: boolean }) => {
      const [{ recipeSkeleton }, { parseRecipeFile }] = await Promise.all([import('../recipes/skeleton.js'), import('../recipes/recipe-file.js')]);
      const file = path.join(path.resolve(options.output), `${name}.yaml`);
      const text = recipeSkeleton(name);
      try {
        parseRecipeFile(text, file);
      } catch {
        throw new InputError(`"${name}" is not a valid recipe name`, 'use lower-case letters, digits and _, and - only before a letter (e.g. my-tool): NAME-VERSION-ARCH.raw must split');
      }
      await mkdir(path.dirname(file), { recursive: true });
      try {
        await writeFileAtomic(file, text, { noReplace: !options.force });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InputError(`${file} exists`, 'pass --force to replace it, or choose another --output');
        throw err;
      }
      process.stdout.write(`${file}\n`);
    });

  const build = sysext
    .command('build')
    .description('download a program from its upstream and build <recipe>-<version>-<arch>.raw')
    .argument('<recipe>', 'a recipe name (`flatbake sysext recipes` lists them)')
    .argument('<version>', 'the upstream version, e.g. v1.31.1 for kubernetes')
    .option('--arch <arch>', 'x86-64 or arm64 (aliases amd64, x86_64, aarch64)', 'x86-64')
    .option('--output <dir>', 'where the image is written', '.')
    .option('--variant <variant>', 'a recipe variant (docker: only-docker, only-containerd)')
    .option('--only-docker', 'docker: the docker CLI and daemon only')
    .option('--only-containerd', 'docker: containerd and runc only')
    .option('--option <key=value>', 'a recipe option (repeatable), e.g. cni-version=v1.5.1', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  flatbake sysext build wasmtime 24.0.0\n  flatbake sysext build docker 27.3.1 --only-containerd --arch arm64');
  for (const option of commanderOptions('sysext build')) build.addOption(option);
  build.action(async (recipe: string, version: string, options: BuildCommandOptions, command: Command) => {
      const net = resolveSettings(command, 'sysext build');
      await useRecipesDirs(net.recipesDirs);
      const report = stderrReporter({ json: options.json });
      const { buildRecipe, getRecipe, listRecipes } = await import('../recipes/index.js');
      knownRecipe(recipe, getRecipe, listRecipes().flatMap((r) => [r.name, ...(r.aliases ?? [])]));
      const result = await buildRecipe({
        recipe,
        version,
        arch: options.arch,
        outputDir: path.resolve(options.output),
        variant: buildVariant(options),
        options: parseRecipeOptions(options.option),
        mirror: net.mirror,
        retries: net.retries,
        cache: openCache(net),
        report,
        signal: interruptSignal(),
      });
      if (options.json) writeJson({ schemaVersion: COMMAND_SCHEMA_VERSION, ...result });
      else process.stdout.write(`${result.path} (${result.size} bytes, sha256 ${result.sha256}${result.cached ? ', from the cache' : ''})\n`);
    });
}

interface BuildCommandOptions {
  arch: string;
  output: string;
  variant?: string;
  onlyDocker?: boolean;
  onlyContainerd?: boolean;
  option: string[];
  json?: boolean;
}

/** An unknown recipe is a usage error (exit 2), like an unknown vendor, with the nearest name. */
function knownRecipe(name: string, getRecipe: (name: string) => unknown, names: string[]): void {
  try {
    getRecipe(name);
  } catch (error) {
    if (!(error instanceof FlatbakeError)) throw error;
    const guess = nearest(name, names);
    throw new UsageError(`${error.message}${guess ? ` (did you mean ${guess}?)` : ''}`, error.hint);
  }
}

function buildVariant(options: BuildCommandOptions): string | undefined {
  const chosen = [options.variant, options.onlyDocker ? 'only-docker' : undefined, options.onlyContainerd ? 'only-containerd' : undefined].filter(Boolean);
  if (chosen.length > 1) throw new UsageError(`choose one variant, not ${chosen.join(' and ')}`);
  return chosen[0];
}

function parseRecipeOptions(pairs: string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--option '${pair}' is not key=value`);
    options[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return options;
}
