/**
 * `flatbake boot`: boot an image in QEMU on a throwaway overlay and report,
 * from inside the guest, which of its linked system extensions systemd-sysext
 * merged. Also a library function (bootImage) for other commands and tests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { FlatbakeError, InputError } from '../errors.js';
import { interruptSignal, ResourceScope, throwIfInterrupted } from '../util/scope.js';
import { type GuestEvidence, parseVerdict, verdictBlock } from './guest.js';
import { createOverlay, diskInfo } from './overlay.js';
import { prepareOverlay, type ExpectedFile, type LinkedExtension } from './prepare.js';
import { IGNITION_FW_CFG, MACHINES, planQemu, startQemu, type Accel } from './qemu.js';
import { explainMismatch } from './match.js';
import { makeBootDir, reapDeadBootDirs } from './scratch.js';
import type { Arch } from '../arch.js';

export interface BootOptions {
  image: string;
  arch?: Arch;
  accel?: Accel;
  /** Seconds from QEMU's start to the verdict. */
  timeoutSeconds?: number;
  memoryMiB?: number;
  cpus?: number;
  /** Where to copy the whole serial log. */
  consoleLog?: string;
  /** An Ignition config handed to the guest through fw_cfg. */
  ignition?: string;
  onProgress?: (message: string) => void;
  /** One-line notices the user should see even with --json (KVM present but not usable). */
  onNotice?: (message: string) => void;
}

export interface SysextVerdict {
  name: string;
  link: string;
  target?: string;
  merged: boolean;
  /** Hierarchies systemd-sysext merged it into (/usr, /opt). */
  hierarchies: string[];
  /** Files of the extension checked under /usr or /opt: present with the image's content, or not. */
  files: Array<ExpectedFile & { visible: boolean }>;
  reason?: string;
}

/** What the guest saw of an Ignition config on fw_cfg `opt/org.flatcar-linux/config`. */
export interface IgnitionEvidence {
  /** The --ignition file given, and its sha256 on the host. */
  file?: string;
  fileSha256?: string;
  /** Whether the guest found a config there, and the sha256 of what it read. */
  received: boolean;
  receivedSha256?: string;
  /** With --ignition: the guest read exactly the file's bytes. */
  matches?: boolean;
}

/** The version of BootReport's shape (schemas/boot.schema.json). */
export const BOOT_SCHEMA_VERSION = 1;

export interface BootReport {
  schemaVersion: typeof BOOT_SCHEMA_VERSION;
  image: string;
  arch: Arch;
  accel: 'kvm' | 'tcg';
  /** Why --accel auto booted with TCG although /dev/kvm is there. */
  kvmUnusable?: string;
  /** QEMU start to the verdict's end marker on the console. */
  bootSeconds: number;
  sysexts: SysextVerdict[];
  ignition: IgnitionEvidence;
  /** True when every linked extension merged with its files visible (and an --ignition config arrived intact). */
  ok: boolean;
  osRelease: Record<string, string>;
}

export const DEFAULT_TIMEOUT_SECONDS = { kvm: 180, tcg: 600 } as const;
const TAIL_LINES = 25;

/** The guest did not report in time; carries the last console lines. */
export class BootTimeoutError extends FlatbakeError {}

function lastLines(text: string, n = TAIL_LINES): string {
  return text.replace(/\r/g, '').trimEnd().split('\n').slice(-n).join('\n');
}

export function judge(ext: LinkedExtension, evidence: GuestEvidence, arch: Arch): SysextVerdict {
  const hierarchies = [...evidence.status.entries()].filter(([, names]) => names.includes(ext.name)).map(([h]) => h).sort();
  const files = ext.expected.map((f) => {
    const seen = evidence.fileHashes.get(f.path);
    return { ...f, visible: seen !== undefined && (f.sha256 === undefined || seen === f.sha256) };
  });
  const merged = hierarchies.length > 0;
  let reason: string | undefined;
  if (!evidence.linkSizes.has(ext.link)) reason = `${ext.link} does not resolve in the guest (dangling link${ext.hostNote ? `: ${ext.hostNote}` : ''})`;
  else if (!merged) {
    reason = explainMismatch(ext.release, evidence.osRelease, arch) ?? (evidence.listed.includes(ext.name) ? 'systemd-sysext lists it but did not merge it (see the console log)' : 'systemd-sysext did not find it');
  } else if (files.some((f) => !f.visible)) reason = `merged, but ${files.filter((f) => !f.visible).map((f) => f.path).join(', ')} not visible with the image's content`;
  return { name: ext.name, link: ext.link, target: ext.target, merged, hierarchies, files, reason };
}

/** Everything a growing file holds so far, read from where the last call stopped. */
async function follower(file: string) {
  const fh = await open(file, 'r');
  let text = '';
  let position = 0;
  const buffer = Buffer.alloc(1 << 16);
  return {
    async read(): Promise<string> {
      for (;;) {
        const { bytesRead } = await fh.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) return text;
        position += bytesRead;
        text += buffer.subarray(0, bytesRead).toString('latin1');
      }
    },
    close: () => fh.close(),
  };
}

/** Polls the verdict channel until the verdict is complete, QEMU exits, or time runs out. */
async function waitForVerdict(verdictFile: string, nonce: string, deadline: number, exited: () => boolean): Promise<string | undefined> {
  const verdict = await follower(verdictFile);
  try {
    for (;;) {
      const block = verdictBlock(await verdict.read(), nonce);
      if (block !== undefined) return block;
      if (exited() || Date.now() > deadline) return undefined;
      throwIfInterrupted();
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await verdict.close();
  }
}

export async function bootImage(options: BootOptions): Promise<BootReport> {
  const arch = options.arch ?? 'x86-64';
  if (!(arch in MACHINES)) throw new InputError(`unknown architecture ${JSON.stringify(arch)}`, 'use x86-64 or arm64');
  const accel = options.accel ?? 'auto';
  if (!['kvm', 'tcg', 'auto'].includes(accel)) throw new InputError(`unknown accelerator ${JSON.stringify(accel)}`, 'use kvm, tcg or auto');
  const progress = options.onProgress ?? (() => {});
  const info = await diskInfo(options.image);
  const signal = interruptSignal();
  await using scope = new ResourceScope();
  // What runs killed with SIGKILL left (their QEMU died with them) goes first.
  for (const dir of await reapDeadBootDirs()) progress(`removed ${dir}, left by a flatbake boot that is gone`);
  const work = await makeBootDir();
  scope.defer('the boot scratch directory', () => rm(work, { recursive: true, force: true }));
  const overlay = path.join(work, 'overlay.qcow2');
  await createOverlay(options.image, info, overlay);
  const nonce = randomBytes(8).toString('hex');
  progress('reading /etc/extensions and adding the verdict unit to the overlay');
  const prepared = await prepareOverlay(overlay, info.virtualSize, work, nonce, MACHINES[arch].verdictTty);
  throwIfInterrupted();
  const consoleFile = path.join(work, 'console.log');
  const verdictFile = path.join(work, 'verdict.log');
  for (const f of [consoleFile, verdictFile]) await (await open(f, 'w')).close();
  const plan = await planQemu({ arch, accel, disk: overlay, memoryMiB: options.memoryMiB ?? 1024, cpus: options.cpus ?? 2, consoleFile, verdictFile, work, ignition: options.ignition });
  if (plan.kvmUnusable) (options.onNotice ?? progress)(`KVM present but not usable: ${plan.kvmUnusable}; booting with TCG`);
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS[plan.accel === 'tcg' ? 'tcg' : 'kvm'];
  progress(`starting ${path.basename(plan.binary)} (${plan.accel}), up to ${timeoutSeconds} s`);
  const started = Date.now();
  const child = startQemu(plan, signal);
  let exited = false;
  const result = child.then((r) => ((exited = true), r));
  scope.defer('QEMU', async () => {
    if (!exited) child.kill('SIGKILL');
    await result;
  });
  let block: string | undefined;
  try {
    block = await waitForVerdict(verdictFile, nonce, started + timeoutSeconds * 1000, () => exited);
  } finally {
    if (options.consoleLog) await copyFile(consoleFile, options.consoleLog).catch(() => undefined);
  }
  const bootSeconds = (Date.now() - started) / 1000;
  const exitedByItself = exited;
  if (!exited) child.kill('SIGKILL');
  const qemu = await result;
  throwIfInterrupted();
  const stderr = String(qemu.stderr ?? '');
  if (block === undefined) {
    const why = exitedByItself ? `QEMU exited (status ${qemu.exitCode ?? qemu.signal}) before the guest reported` : `the guest did not report within ${timeoutSeconds} s`;
    const tail = lastLines(await readFile(consoleFile, 'latin1'));
    throw new BootTimeoutError(
      `${why}; last console lines:\n${tail || '(nothing on the console)'}${stderr.trim() ? `\nQEMU: ${lastLines(stderr, 5)}` : ''}`,
      exitedByItself ? 'see QEMU\'s message above' : 'raise --timeout (TCG is slow), or look at the whole log with --console-log <file>',
    );
  }
  const evidence = parseVerdict(block, nonce);
  const sysexts = prepared.extensions.map((e) => judge(e, evidence, arch));
  const ignition: IgnitionEvidence = { received: evidence.ignitionSha256 !== undefined, ...(evidence.ignitionSha256 ? { receivedSha256: evidence.ignitionSha256 } : {}) };
  if (options.ignition) {
    const fileSha256 = createHash('sha256').update(await readFile(options.ignition)).digest('hex');
    Object.assign(ignition, { file: path.resolve(options.ignition), fileSha256, matches: fileSha256 === evidence.ignitionSha256 });
  }
  return {
    schemaVersion: BOOT_SCHEMA_VERSION,
    image: path.resolve(options.image),
    arch,
    accel: plan.accel,
    ...(plan.kvmUnusable ? { kvmUnusable: plan.kvmUnusable } : {}),
    bootSeconds: Math.round(bootSeconds * 10) / 10,
    sysexts,
    ignition,
    ok: sysexts.every((s) => s.merged && s.files.every((f) => f.visible)) && ignition.matches !== false,
    osRelease: evidence.osRelease,
  };
}

/** The table the command prints. */
export function formatBootReport(r: BootReport): string {
  const rows = [['sysext', 'merged', 'hierarchy', 'files', 'note']];
  for (const s of r.sysexts) {
    const visible = s.files.filter((f) => f.visible).length;
    rows.push([s.name, s.merged ? 'yes' : 'NO', s.hierarchies.join(',') || '-', `${visible}/${s.files.length}`, s.reason ?? '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  if (r.sysexts.length === 0) lines.push('(no extensions linked in /etc/extensions)');
  if (r.ignition.file) {
    lines.push('', r.ignition.matches
      ? `Ignition config: the guest read ${path.basename(r.ignition.file)} from fw_cfg ${IGNITION_FW_CFG} intact (sha256 ${r.ignition.fileSha256})`
      : `Ignition config: NOT received intact through fw_cfg ${IGNITION_FW_CFG} (the guest read ${r.ignition.receivedSha256 ?? 'nothing'}, the file is ${r.ignition.fileSha256})`);
  }
  const os = r.osRelease.PRETTY_NAME ?? r.osRelease.ID ?? 'the guest';
  lines.push('', `${os} booted to the verdict in ${r.bootSeconds} s (${r.accel}, ${r.arch}): ${r.sysexts.every((s) => s.merged && s.files.every((f) => f.visible)) ? 'every linked sysext merged' : 'NOT every linked sysext merged'}`);
  return lines.join('\n');
}
