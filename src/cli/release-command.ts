import { Command } from 'commander';
import path from 'node:path';
import { openCache } from '../cache/cache.js';
import { UsageError } from '../errors.js';
import { stderrReporter } from '../util/report.js';
import { interruptSignal } from '../util/scope.js';
import { commanderOptions, resolveSettings, useRecipesDirs } from './options.js';
import { COMMAND_SCHEMA_VERSION, writeJson } from './json-output.js';

export function registerRelease(program: Command): void {
  const release = program
    .command('release')
    .description('build a bakery release: every <recipe>-<version>-<arch>.raw, sysupdate transfers, noop.conf, SHA256SUMS, Release.md')
    .option('--versions <file>', 'the versions file: <recipe>-<version> per line, # comments')
    .option('--discover', 'add the newest patch of each supported Kubernetes minor for kubernetes, k3s, crio and rke2')
    .option('--output <dir>', 'where the release is written', '.')
    .option('--previous <dir-or-url>', 'an earlier release whose images (listed in its SHA256SUMS) are carried over instead of rebuilt')
    .option('--arch <list>', 'comma-separated architectures', 'x86-64,arm64')
    .option('--jobs <n>', 'images built at the same time (default: the number of cores)')
    .option('--base-url <url>', 'where the release will be published (the transfers\' Path=)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nA failed build fails the release (named) and writes no SHA256SUMS; the images that were\nbuilt stay, so a rerun builds only what is missing (--no-cache: everything is rebuilt).\nExample:\n  flatbake release --versions release_build_versions.txt --output out --previous https://example.org/releases/latest/download');
  for (const option of commanderOptions('release')) release.addOption(option);
  release.action(async (o: { versions?: string; discover?: boolean; output: string; previous?: string; arch: string; jobs?: string; baseUrl?: string; json?: boolean }, command: Command) => {
      const net = resolveSettings(command, 'release');
      if (!o.versions && !o.discover) throw new UsageError('give --versions <file>, --discover, or both');
      const jobs = o.jobs === undefined ? undefined : Number(o.jobs);
      if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new UsageError(`--jobs must be a positive whole number, got '${o.jobs}'`);
      await useRecipesDirs(net.recipesDirs);
      const { buildRelease } = await import('../bakery-release/index.js');
      const result = await buildRelease({
        versionsFile: o.versions ? path.resolve(o.versions) : undefined,
        discover: o.discover,
        outputDir: path.resolve(o.output),
        previous: o.previous,
        arches: o.arch.split(',').map((a) => a.trim()).filter(Boolean),
        jobs,
        baseUrl: o.baseUrl,
        mirror: net.mirror,
        retries: net.retries,
        cache: openCache(net),
        report: stderrReporter({ json: o.json }),
        signal: interruptSignal(),
      });
      if (o.json) writeJson({ schemaVersion: COMMAND_SCHEMA_VERSION, ...result });
      else process.stdout.write(`${result.outputDir}: ${result.built.length} built, ${result.carried.length} carried over, ${result.files.length} files\n`);
    });
}
