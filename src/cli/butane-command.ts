import { Command } from 'commander';
import { DEFAULT_BAKERY_URL } from '../defaults.js';

export function registerButane(program: Command): void {
  program
    .command('butane')
    .description('print the Butane (or Ignition) config that provisions sysexts from a bakery, or enables updates of a baked image')
    .argument('[NAME:FILE...]', 'sysexts: NAME links /etc/extensions/NAME.raw; FILE is the bakery file name')
    .option('--sysupdate', 'also install sysupdate configs and the systemd-sysupdate timer and drop-in')
    .option('--replace-docker', "mask Flatcar's built-in docker and containerd sysexts")
    .option('--enable <unit>', 'enable a unit the sysext ships but does not enable (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--unit-dir <dir>', 'where the enabled units live in the sysext (k3s, rke2, tailscale use /usr/local/lib/systemd/system)')
    .option('--base-url <url>', 'where machines download sysexts and configs', DEFAULT_BAKERY_URL)
    .option('--for-image <manifest>', 'enable systemd-sysupdate in an image baked earlier (its flatbake-manifest.json): timer, noop.conf, drop-ins; no downloads')
    .option('--mirror <url>', 'fetch SHA256SUMS and the transfers as <url>/HOST/PATH')
    .option('--ignition', 'print Ignition JSON (spec 3.3.0) instead of Butane YAML')
    .addHelpText(
      'after',
      '\nExamples:\n  flatbake butane wasmtime:wasmtime-24.0.0-x86-64.raw --sysupdate > config.yaml\n  flatbake butane --for-image out/flatbake-manifest.json > updates.yaml\n  flatbake butane k3s:k3s-v1.31.1+k3s1-x86-64.raw --enable k3s --unit-dir /usr/local/lib/systemd/system --ignition > config.ign',
    )
    .action(async (args: string[], options: { sysupdate?: boolean; replaceDocker?: boolean; enable: string[]; unitDir?: string; baseUrl: string; ignition?: boolean; forImage?: string; mirror?: string }) => {
      const { butaneCommand } = await import('../butane/butane.js');
      process.stdout.write(await butaneCommand(args, options));
    });
}
