/**
 * Running the guest: QEMU with UEFI firmware (OVMF on x86-64, AAVMF on arm64,
 * the Debian files the qemu_uefi vendor ships), one virtio disk, no network,
 * the serial console into a file. QEMU runs under `setpriv --pdeathsig KILL`,
 * so the kernel kills it when flatbake dies, even by SIGKILL.
 */
import type { ResultPromise } from 'execa';
import { access, constants, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError, MissingToolError } from '../errors.js';
import { start, which } from '../util/exec.js';
import type { Arch } from '../arch.js';

export type Accel = 'kvm' | 'tcg' | 'auto';

export interface Machine {
  qemu: string;
  package: string;
  /** Firmware code and the variable store template, first pair found wins. */
  firmware: Array<{ code: string; vars: string; package: string }>;
  machine: string[];
  /** The serial port the kernel's console= names on this architecture. */
  serialTty: string;
}

export const MACHINES: Record<Arch, Machine> = {
  'x86-64': {
    qemu: 'qemu-system-x86_64',
    package: 'qemu-system-x86',
    firmware: [
      { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd', package: 'ovmf' },
      { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd', package: 'ovmf' },
    ],
    machine: ['-machine', 'q35'],
    serialTty: 'ttyS0',
  },
  arm64: {
    qemu: 'qemu-system-aarch64',
    package: 'qemu-system-arm',
    firmware: [{ code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd', package: 'qemu-efi-aarch64' }],
    machine: ['-machine', 'virt'],
    serialTty: 'ttyAMA0',
  },
};

/** The fw_cfg key Flatcar's qemu OEM reads its Ignition config from. */
export const IGNITION_FW_CFG = 'opt/org.flatcar-linux/config';

const readable = (p: string) => access(p, constants.R_OK).then(() => true, () => false);

/** KVM is worth trying when /dev/kvm opens for writing and the guest has the host's architecture. */
export async function kvmAvailable(arch: Arch): Promise<boolean> {
  const native = (process.arch === 'x64' && arch === 'x86-64') || (process.arch === 'arm64' && arch === 'arm64');
  return native && (await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false));
}

export interface QemuPlan {
  binary: string;
  args: string[];
  /** What was asked for after `auto` was resolved; QEMU may still fall back (see accelFromStderr). */
  accel: 'kvm' | 'tcg' | 'kvm-or-tcg';
}

export interface QemuOptions {
  arch: Arch;
  accel: Accel;
  disk: string;
  memoryMiB: number;
  cpus: number;
  consoleFile: string;
  /** Scratch dir for the firmware variable store copy. */
  work: string;
  ignition?: string;
}

export async function planQemu(o: QemuOptions): Promise<QemuPlan> {
  const m = MACHINES[o.arch];
  const binary = await which(m.qemu);
  if (!binary) throw new MissingToolError(`${m.qemu} is not installed (needed to boot the image)`, `install the Debian package ${m.package} (scripts/setup.sh does for x86-64)`);
  let fw: Machine['firmware'][number] | undefined;
  for (const f of m.firmware) if ((await readable(f.code)) && (await readable(f.vars))) { fw = f; break; }
  if (!fw) throw new MissingToolError(`no UEFI firmware for ${o.arch} (looked for ${m.firmware.map((f) => f.code).join(', ')})`, `install the Debian package ${m.firmware[0]!.package}`);
  const vars = path.join(o.work, 'efi-vars.fd');
  await copyFile(fw.vars, vars);
  const kvm = o.accel !== 'tcg' && (o.accel === 'kvm' || (await kvmAvailable(o.arch)));
  if (o.accel === 'kvm' && !(await kvmAvailable(o.arch))) {
    throw new InputError('--accel kvm: /dev/kvm is not usable here (missing, no access, or another architecture)', 'use --accel tcg or --accel auto');
  }
  // auto lists both: QEMU falls back to TCG itself when KVM cannot start.
  const accelArgs = kvm ? (o.accel === 'kvm' ? ['-accel', 'kvm'] : ['-accel', 'kvm', '-accel', 'tcg,thread=multi']) : ['-accel', 'tcg,thread=multi'];
  const cpu = o.arch === 'arm64' ? (kvm && o.accel === 'kvm' ? 'host' : 'max') : 'max';
  const args = [
    ...m.machine, ...accelArgs, '-cpu', cpu,
    '-m', String(o.memoryMiB), '-smp', String(o.cpus),
    '-display', 'none', '-monitor', 'none', '-nic', 'none', '-no-reboot',
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${fw.code}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    // cache=unsafe: the overlay is thrown away, so nothing is gained by syncing it.
    '-drive', `if=virtio,format=qcow2,cache=unsafe,file=${o.disk}`,
    '-chardev', `file,id=console,path=${o.consoleFile}`, '-serial', 'chardev:console',
  ];
  if (o.ignition) args.push('-fw_cfg', `name=${IGNITION_FW_CFG},file=${o.ignition}`);
  return { binary, args, accel: kvm ? (o.accel === 'kvm' ? 'kvm' : 'kvm-or-tcg') : 'tcg' };
}

/** Which accelerator ran: QEMU says on stderr when KVM could not start and it fell back. */
export function accelFromStderr(plan: QemuPlan, stderr: string): 'kvm' | 'tcg' {
  if (plan.accel !== 'kvm-or-tcg') return plan.accel;
  return /failed to initialize kvm|falling back to tcg|Could not access KVM/i.test(stderr) ? 'tcg' : 'kvm';
}

/** Starts QEMU; it dies with this process (pdeathsig) and on `signal`. */
export function startQemu(plan: QemuPlan, signal?: AbortSignal): ResultPromise {
  return start(plan.binary, plan.args, {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    cancelSignal: signal,
    forceKillAfterDelay: 2000,
  });
}
