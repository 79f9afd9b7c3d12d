/**
 * Whether KVM works, not only whether /dev/kvm is there: a /dev/kvm that opens
 * can still refuse the guest (nested or restricted hosts: QEMU aborts with
 * "failed to set MSR 0x10a ..." while it resets the CPU). A short QEMU run with
 * the same machine and CPU, paused (-S) and driven over QMP, answers: only a
 * QEMU that finished setting up its KVM vCPUs answers `query-status`. Asked once
 * per process and architecture.
 */
import { access, constants } from 'node:fs/promises';
import { CommandError } from '../errors.js';
import { run, which } from '../util/exec.js';
import { interruptSignal } from '../util/scope.js';
import type { Arch } from '../arch.js';
import type { Machine } from './qemu.js';

export type KvmState = { usable: true } | { usable: false; present: boolean; reason: string };

/** Long enough for a loaded machine; a working probe answers in well under a second. */
const PROBE_TIMEOUT_MS = 60_000;
const QMP_INPUT = ['{"execute":"qmp_capabilities"}', '{"execute":"query-status"}', '{"execute":"quit"}', ''].join('\n');

const cache = new Map<Arch, Promise<KvmState>>();

function isNative(arch: Arch): boolean {
  return (process.arch === 'x64' && arch === 'x86-64') || (process.arch === 'arm64' && arch === 'arm64');
}

/** QEMU's own words: its first `error:` line, without the program name. */
export function qemuReason(output: string): string | undefined {
  const line = output.split('\n').find((l) => /\berror\b|assertion/i.test(l)) ?? output.split('\n').find((l) => l.trim() !== '');
  return line?.replace(/^qemu-system-\w+: (error: )?/, '').trim() || undefined;
}

async function probe(arch: Arch, m: Machine): Promise<KvmState> {
  if (!isNative(arch)) return { usable: false, present: false, reason: `the host is ${process.arch}, the guest ${arch}` };
  if (!(await access('/dev/kvm').then(() => true, () => false))) return { usable: false, present: false, reason: 'there is no /dev/kvm' };
  if (!(await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false))) {
    return { usable: false, present: true, reason: '/dev/kvm is not readable and writable by this user (the kvm group?)' };
  }
  const binary = await which(m.qemu);
  if (!binary) return { usable: false, present: true, reason: `${m.qemu} is not installed` };
  const args = [...m.machine, '-accel', 'kvm', '-cpu', m.kvmCpu, '-m', '64', '-display', 'none', '-nodefaults', '-S', '-qmp', 'stdio'];
  const interrupted = interruptSignal();
  const signal = AbortSignal.any([interrupted, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
  try {
    const r = await run(binary, args, { input: QMP_INPUT, signal, purpose: 'try KVM' });
    if (/"status"\s*:/.test(r.stdout)) return { usable: true };
    return { usable: false, present: true, reason: qemuReason(r.stderr) ?? 'QEMU did not answer over QMP' };
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    if (interrupted.aborted) throw err;
    if (signal.aborted) return { usable: false, present: true, reason: `QEMU did not come up with KVM within ${PROBE_TIMEOUT_MS / 1000} s` };
    return { usable: false, present: true, reason: qemuReason(err.outputTail) ?? err.message };
  }
}

/** Whether QEMU can boot machine `m` with KVM here (the answer is kept for the process). */
export function kvmState(arch: Arch, m: Machine): Promise<KvmState> {
  let state = cache.get(arch);
  if (!state) cache.set(arch, (state = probe(arch, m)));
  return state;
}
