import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_INSTALL_TO } from '../defaults.js';
import { stderrReporter } from '../util/report.js';

export const DEMO_SYSEXT = { name: 'hello', version: '1.0.0' } as const;

/**
 * The whole bake, offline: build a small synthetic release (real layout,
 * signed with a throwaway key), serve it on 127.0.0.1, and bake a sysext
 * fetched from its bakery, exactly as against the real servers.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('bake offline against a small synthetic release served on 127.0.0.1 (no network needed)')
    .option('--output <dir>', 'where the baked image and manifest go', 'flatbake-demo')
    .option('--json', 'print the manifest as JSON on stdout')
    .action(async (options: { output: string; json?: boolean }) => {
      const report = stderrReporter({ json: options.json });
      const scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-demo-'));
      try {
        report.step('demo', 'building a synthetic Flatcar release (real partition layout, throwaway signing key)');
        const [{ bake }, { serveStatic }, { buildSyntheticRelease }] = await Promise.all([
          import('../bake/pipeline.js'),
          import('../demo/server.js'),
          import('../demo/synthetic-release.js'),
        ]);
        const release = await buildSyntheticRelease({
          root: path.join(scratch, 'www'),
          sysexts: [{ name: DEMO_SYSEXT.name, version: DEMO_SYSEXT.version, arch: 'x86-64' }],
          onProgress: (message) => report.step('demo', message),
        });
        const server = await serveStatic(release.root);
        try {
          report.step('demo', `serving it on ${server.url}`);
          const file = path.basename(release.sysexts[0]!.file);
          const { manifest, files } = await bake(
            {
              sysexts: [`${DEMO_SYSEXT.name}:${file}`],
              fetch: true,
              vendors: ['generic'],
              arch: 'x86-64',
              release: 'stable',
              installTo: DEFAULT_INSTALL_TO,
              output: path.resolve(options.output),
              releaseServer: `${server.url}/{channel}`,
              releasesJson: `${server.url}/releases.json`,
              signingKey: `${server.url}/key.asc`,
              bakeryUrl: `${server.url}/extensions`,
              cacheDir: path.join(scratch, 'cache'),
              cache: true,
              insecureSkipVerify: false,
            },
            report,
          );
          if (options.json) process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
          const image = files.find((f) => f.endsWith('.bin'))!;
          process.stderr.write(
            [
              '',
              `Baked ${DEMO_SYSEXT.name} into a synthetic Flatcar ${release.version} image:`,
              `  ${image}`,
              `  ${files.find((f) => f.endsWith('.json'))}`,
              '',
              'Look inside it with:',
              `  flatbake inspect ${path.relative(process.cwd(), image) || image}`,
              '',
            ].join('\n'),
          );
        } finally {
          await server.close();
        }
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
}
