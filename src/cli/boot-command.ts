import { Command } from 'commander';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { stderrReporter } from '../util/report.js';
import { normalizeArch } from '../arch.js';

function positiveInt(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got '${value}'`);
  return n;
}

export function registerBoot(program: Command): void {
  program
    .command('boot')
    .description('boot an image in QEMU (UEFI, throwaway overlay) and report which linked sysexts systemd-sysext merged')
    .argument('<image>', 'a baked flatcar_production_image.bin, or a qemu_uefi qcow2 (never written)')
    .option('--arch <arch>', 'x86-64 or arm64', 'x86-64')
    .option('--accel <accel>', 'kvm, tcg or auto (KVM when a short QEMU run shows it works, else TCG with a warning)', 'auto')
    .option('--timeout <s>', 'seconds to wait for the verdict (default 600 under TCG, 180 with KVM)')
    .option('--memory <MiB>', 'guest memory', '1024')
    .option('--cpus <n>', 'guest CPUs', '2')
    .option('--console-log <file>', 'write the whole serial console log here')
    .option('--ignition <file>', 'an Ignition config, passed like Flatcar\'s qemu OEM reads it (fw_cfg opt/org.flatcar-linux/config)')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (image: string, o: { arch: string; accel: string; timeout?: string; memory: string; cpus: string; consoleLog?: string; ignition?: string; json?: boolean }) => {
      if (!['kvm', 'tcg', 'auto'].includes(o.accel)) throw new UsageError(`--accel must be kvm, tcg or auto, got '${o.accel}'`);
      const report = stderrReporter({ json: o.json });
      const { bootImage, formatBootReport } = await import('../boot/boot.js');
      const { access } = await import('node:fs/promises');
      if (o.ignition && !(await access(o.ignition).then(() => true, () => false))) throw new UsageError(`--ignition ${o.ignition}: no such file`);
      const result = await bootImage({
        image,
        arch: normalizeArch(o.arch),
        accel: o.accel as 'kvm' | 'tcg' | 'auto',
        timeoutSeconds: o.timeout === undefined ? undefined : positiveInt('--timeout', o.timeout, 86400),
        memoryMiB: positiveInt('--memory', o.memory, 1 << 20),
        cpus: positiveInt('--cpus', o.cpus, 256),
        consoleLog: o.consoleLog ? path.resolve(o.consoleLog) : undefined,
        ignition: o.ignition ? path.resolve(o.ignition) : undefined,
        onProgress: (m) => report.step('boot', m),
        onNotice: (m) => report.warn(m),
      });
      process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatBootReport(result)}\n`);
      if (!result.ok) process.exitCode = 1;
    });
}
