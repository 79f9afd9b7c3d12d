import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultCacheDir } from '../cache/cache.js';
import { stderrReporter } from '../util/report.js';
import { commanderOptions, resolveSettings } from './options.js';

export const DEMO_SYSEXT = { name: 'hello', version: '1.0.0' } as const;

/**
 * The whole bake, offline: build a small synthetic release (real layout,
 * signed with a throwaway key), serve it on 127.0.0.1, and bake a sysext
 * fetched from its bakery, exactly as against the real servers.
 */
export function registerDemo(program: Command): void {
  const demo = program.command('demo').description('bake offline against a small synthetic release served on 127.0.0.1 (no network needed)');
  for (const option of commanderOptions('demo')) demo.addOption(option);
  demo
    .option('--boot', 'make the synthetic release bootable (Debian kernel and systemd via apt, cached), then boot the baked image in QEMU')
    .option('--accel <accel>', 'with --boot: kvm, tcg or auto', 'auto');
  demo.action(async (_raw: unknown, command: Command) => {
      // --output and --json come from the settings table, the rest are the demo server's
      const options = resolveSettings(command, 'demo');
      const own = command.opts<{ boot?: boolean; accel: string }>();
      const report = stderrReporter({ json: options.json, quiet: options.quiet });
      const scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-demo-'));
      try {
        report.step('demo', 'building a synthetic Flatcar release (real partition layout, throwaway signing key)');
        const [{ bake }, { serveStatic }, { buildSyntheticRelease }] = await Promise.all([
          import('../bake/pipeline.js'),
          import('../demo/server.js'),
          import('../demo/synthetic-release.js'),
        ]);
        const bootable = own.boot ? { cacheDir: defaultCacheDir(process.env, os.homedir()) } : undefined;
        if (bootable) report.step('demo', `bootable: the kernel, initramfs, GRUB and systemd /usr are built once from Debian packages and kept in ${bootable.cacheDir}`);
        const release = await buildSyntheticRelease({
          root: path.join(scratch, 'www'),
          bootable,
          sysexts: [{ name: DEMO_SYSEXT.name, version: DEMO_SYSEXT.version, arch: 'x86-64' }],
          onProgress: (message) => report.step('demo', message),
        });
        const server = await serveStatic(release.root);
        try {
          report.step('demo', `serving it on ${server.url}`);
          const file = path.basename(release.sysexts[0]!.file);
          const { manifest, files } = await bake(
            {
              ...options,
              sysexts: [`${DEMO_SYSEXT.name}:${file}`],
              fetch: true,
              releaseServer: `${server.url}/{channel}`,
              releasesJson: `${server.url}/releases.json`,
              signingKey: `${server.url}/key.asc`,
              bakeryUrl: `${server.url}/extensions`,
              cacheDir: path.join(scratch, 'cache'),
            },
            report,
          );
          if (options.json) process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
          const image = files.find((f) => f.endsWith('.bin'))!;
          // The bake's own summary listed the files and `flatbake inspect`; this says what they are.
          report.step('demo', `${DEMO_SYSEXT.name} was baked into a synthetic Flatcar ${release.version} image, not a real release`);
          if (own.boot) {
            const { bootImage, formatBootReport } = await import('../boot/boot.js');
            const result = await bootImage({ image, accel: own.accel as 'auto', onProgress: (m) => report.step('boot', m) });
            process.stderr.write(`${formatBootReport(result)}\n`);
            if (!result.ok) process.exitCode = 1;
          }
        } finally {
          await server.close();
        }
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
}
