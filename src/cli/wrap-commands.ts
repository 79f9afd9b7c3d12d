import { Command, Option } from 'commander';
import path from 'node:path';
import { openCache } from '../cache/cache.js';
import { SYSEXT_FORMATS, type SysextFormat } from '../sysext/formats.js';
import { stderrReporter } from '../util/report.js';
import { interruptSignal } from '../util/scope.js';
import { commanderOptions, resolveSettings } from './options.js';
import { COMMAND_SCHEMA_VERSION, writeJson } from './json-output.js';

const repeatable = (v: string, all: string[]) => [...all, v];
/** Options every command that writes a sysext image shares, declared once (commander needs fresh instances). */
const sysextOutput = {
  format: () => new Option('--format <format>', 'filesystem of the sysext image').choices([...SYSEXT_FORMATS]).default('squashfs'),
  output: () => new Option('--output <dir>', 'where NAME.raw is written').default('.'),
  force: () => new Option('--force', 'replace an existing NAME.raw'),
  json: () => new Option('--json', 'print the result as JSON'),
};

/** With --json, the result as schemas/<command>.schema.json describes it; else one line. */
function printResult(json: boolean | undefined, result: object, line: string): void {
  if (json) writeJson({ schemaVersion: COMMAND_SCHEMA_VERSION, ...result });
  else process.stdout.write(`${line}\n`);
}

/** The commands that bring software without a recipe: oci-rootfs, flix, flatwrap, convert-torcx. */
export function registerWrapCommands(program: Command): void {
  const ociRootfs = program
    .command('oci-rootfs')
    .description('pull a container image from an OCI/Docker registry into a directory (no Docker), digests verified')
    .argument('<image>', 'an image reference: alpine:3.20, ghcr.io/org/img@sha256:..., 127.0.0.1:5000/x')
    .argument('<dir>', 'the rootfs directory to fill (created; must be empty if it exists)')
    .option('--arch <arch>', 'platform of a multi-arch image: x86-64 or arm64', 'x86-64')
    .option('--registry <host>', 'registry host to pull from instead of the one in the reference')
    .option('--insecure-registry', 'plain HTTP to a registry that is not on loopback')
    .option('--run <cmd>', 'run a shell command inside the rootfs afterwards (bubblewrap, else unshare+chroot as root), e.g. "apk add curl"')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nCredentials: FLATBAKE_REGISTRY_USER and FLATBAKE_REGISTRY_PASSWORD.\nExample:\n  flatbake oci-rootfs alpine:3.20 ./rootfs --run "apk add --no-cache jq"');
  for (const option of commanderOptions('oci-rootfs')) ociRootfs.addOption(option);
  ociRootfs.action(async (image: string, dir: string, options: { arch: string; registry?: string; insecureRegistry?: boolean; run?: string; json?: boolean }, command: Command) => {
      const net = resolveSettings(command, 'oci-rootfs');
      const { pullImage, runInRootfs } = await import('../oci/index.js');
      const result = await pullImage({
        ref: image,
        dir: path.resolve(dir),
        arch: options.arch,
        registry: options.registry,
        insecureRegistry: options.insecureRegistry,
        mirror: net.mirror,
        cache: openCache(net),
        report: stderrReporter({ json: options.json }),
        signal: interruptSignal(),
      });
      // The command's output goes to stderr so --json stays parseable.
      if (options.run) await runInRootfs(result.dir, options.run, { stdout: process.stderr });
      printResult(options.json, result, `${result.dir}: ${result.image} (${result.digest}), ${result.layers.length} layer(s)`);
    });

  program
    .command('flix')
    .description("make a sysext from binaries of a rootfs, with their libraries in a private dir (interpreter and RPATH rewritten)")
    .argument('<rootfs>', 'the root filesystem the binaries come from (e.g. made by oci-rootfs)')
    .argument('<name>', 'the sysext name')
    .argument('<paths...>', 'binaries as the rootfs sees them (/usr/bin/jq), or SRC:DEST for files outside /usr')
    .option('--extra-libs <lib>', "a library the binaries dlopen() (repeatable)", repeatable, [] as string[])
    .option('--resource <path>', 'a folder or file copied as it is (repeatable)', repeatable, [] as string[])
    .option('--unit <unit>', 'a systemd unit of the rootfs to ship (repeatable)', repeatable, [] as string[])
    .addOption(new Option('--os <id>', '_any or an OS ID such as flatcar').default('_any'))
    .addOption(new Option('--arch <arch>', 'ARCHITECTURE= (default: the binaries\')'))
    .addOption(sysextOutput.format())
    .addOption(sysextOutput.output())
    .addOption(sysextOutput.force())
    .addOption(sysextOutput.json())
    .action(async (rootfs: string, name: string, paths: string[], o: { extraLibs: string[]; resource: string[]; unit: string[]; os: string; arch?: string; format: SysextFormat; output: string; force?: boolean; json?: boolean }) => {
      const { flix } = await import('../wrap/index.js');
      const result = await flix({
        rootfs: path.resolve(rootfs), name, paths, extraLibs: o.extraLibs, resources: o.resource, units: o.unit,
        outputDir: path.resolve(o.output), os: o.os, arch: o.arch, format: o.format, force: o.force,
      });
      for (const note of result.notes) process.stderr.write(`flatbake: note: ${note}\n`);
      printResult(o.json, result, `${result.sysext.path} (${result.binaries.length} binaries, ${result.libraries.length} libraries in ${result.libDir})`);
    });

  program
    .command('flatwrap')
    .description('make a sysext that ships a whole rootfs under /usr/local/NAME with wrappers running its programs inside it')
    .argument('<rootfs>', 'the root filesystem to ship')
    .argument('<name>', 'the sysext name')
    .argument('<paths...>', 'programs inside the rootfs (wrapper /usr/bin/BASENAME), or PATH:WRAPPER')
    .option('--unit <unit>', 'a unit of the rootfs to ship, its Exec*= pointed at the wrappers (repeatable)', repeatable, [] as string[])
    .addOption(new Option('--etc-map <map>', "/etc the programs see: the host's or the rootfs's own").choices(['host', 'chroot']).default('host'))
    .addOption(new Option('--var-map <map>', '/var: the host\'s or the rootfs\'s own').choices(['host', 'chroot']).default('host'))
    .addOption(new Option('--home-map <map>', '/home and /root: the host\'s or the rootfs\'s own').choices(['host', 'chroot']).default('host'))
    .addOption(new Option('--os <id>', '_any or an OS ID such as flatcar').default('_any'))
    .addOption(new Option('--arch <arch>', 'ARCHITECTURE='))
    .addOption(sysextOutput.format())
    .addOption(sysextOutput.output())
    .addOption(sysextOutput.force())
    .addOption(sysextOutput.json())
    .addHelpText('after', '\nTry the wrappers before packaging: FLATWRAP_ROOT=<rootfs> /path/to/wrapper --version')
    .action(async (rootfs: string, name: string, paths: string[], o: { unit: string[]; etcMap: 'host' | 'chroot'; varMap: 'host' | 'chroot'; homeMap: 'host' | 'chroot'; os: string; arch?: string; format: SysextFormat; output: string; force?: boolean; json?: boolean }) => {
      const { flatwrap } = await import('../wrap/index.js');
      const result = await flatwrap({
        rootfs: path.resolve(rootfs), name, paths, units: o.unit, etcMap: o.etcMap, varMap: o.varMap, homeMap: o.homeMap,
        outputDir: path.resolve(o.output), os: o.os, arch: o.arch, format: o.format, force: o.force,
      });
      for (const note of result.leftAlone) process.stderr.write(`flatbake: note: ${note}\n`);
      printResult(o.json, result, `${result.sysext.path} (wrappers: ${result.wrappers.map((w) => `${w.wrapper} -> ${w.program}`).join(', ')})`);
    });

  program
    .command('convert-torcx')
    .description('convert a Torcx image (.torcx.tgz) into a sysext, best effort, with a report of what changed')
    .argument('<torcx.tgz>', 'the Torcx image')
    .argument('<name>', 'the sysext name')
    .addOption(new Option('--os <id>', 'the OS ID').default('flatcar'))
    .addOption(new Option('--arch <arch>', 'ARCHITECTURE= (default: the binaries\')'))
    .addOption(sysextOutput.format())
    .addOption(sysextOutput.output())
    .addOption(sysextOutput.force())
    .addOption(sysextOutput.json())
    .action(async (tarball: string, name: string, o: { os: string; arch?: string; format: SysextFormat; output: string; force?: boolean; json?: boolean }) => {
      const { convertTorcx } = await import('../wrap/index.js');
      const result = await convertTorcx({ tarball: path.resolve(tarball), name, outputDir: path.resolve(o.output), os: o.os, arch: o.arch, format: o.format, force: o.force });
      if (!o.json) {
        for (const c of result.changed) process.stderr.write(`changed: ${c}\n`);
        for (const l of result.leftAlone) process.stderr.write(`left as is: ${l}\n`);
      }
      printResult(o.json, result, result.sysext.path);
    });
}
