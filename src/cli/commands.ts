import { Command } from 'commander';
import { runDoctor, formatDoctor } from '../doctor/doctor.js';
import { NotImplementedError } from '../errors.js';
import { formatInspect, inspectImage } from '../inspect/inspect.js';
import { FLATCAR_VENDOR_IDS } from '../vendors/select.js';
import { registerButane } from './butane-command.js';
import { registerDemo } from './demo-command.js';
import { registerSysext } from './sysext-command.js';

/** Commands of ../shared/CLI.md whose issues are not done: present, and honest about it. */
const NOT_YET: Array<[string, string]> = [
  ['release', 'build a bakery release: sysexts, sysupdate configs, SHA256SUMS'],
  ['flix', 'make a sysext from binaries of a root filesystem, with their libraries'],
  ['flatwrap', 'make a sysext that runs a whole root filesystem wrapped'],
  ['oci-rootfs', 'pull a container image into a root filesystem'],
  ['convert-torcx', 'convert a Torcx image into a sysext'],
];

export function registerOtherCommands(program: Command): void {
  program
    .command('vendors')
    .description('list the vendor ids --vendor accepts')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => {
      const vendors = [{ id: 'generic', status: 'available' }, ...FLATCAR_VENDOR_IDS.map((id) => ({ id, status: 'not implemented yet' }))];
      if (options.json) process.stdout.write(`${JSON.stringify(vendors, null, 2)}\n`);
      else process.stdout.write(vendors.map((v) => `${v.id.padEnd(18)} ${v.status}`).join('\n') + '\n');
    });

  program
    .command('inspect')
    .description('show partitions, release and the sysexts baked into an image (mounts read-only; needs root or sudo)')
    .argument('<image>', 'a flatcar_production_image.bin')
    .option('--json', 'print JSON')
    .action(async (image: string, options: { json?: boolean }) => {
      const report = await inspectImage(image);
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspect(report)}\n`);
    });

  program
    .command('doctor')
    .description('which host tools are present, what each is needed for, and which package provides it')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const report = await runDoctor();
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
      if (!report.ok) process.exitCode = 1;
    });

  registerDemo(program);
  registerSysext(program);
  registerButane(program);

  for (const [name, description] of NOT_YET) {
    program
      .command(name)
      .description(`${description} (not implemented yet)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new NotImplementedError(`flatbake ${name}`);
      });
  }
}
