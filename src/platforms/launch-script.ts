/**
 * The qemu launch script and README that go with qemu_uefi, pxe and iso.
 * Pure: the script is rendered from the vendor's boot mode and the
 * architecture's qemu settings (vendors/defaults.json).
 */
import type { ArchSettings, LaunchBoot } from './types.js';

export interface LaunchFiles {
  /** uefi-disk: the disk image and its qemu format. */
  image?: { file: string; format: string };
  efiCode?: string;
  efiVars?: string;
  /** kernel boot. */
  kernel?: string;
  initrd?: string;
  /** cdrom boot. */
  iso?: string;
}

export interface LaunchInput {
  /** Script name without `.sh` (`flatcar_production_qemu_uefi`). */
  name: string;
  boot: LaunchBoot;
  arch: ArchSettings;
  memoryMiB: number;
  cpus: number;
  kernelCommandLine: string;
  files: LaunchFiles;
  /** uefi-disk with Secure Boot firmware; `smm`: the firmware needs SMM and a secure pflash (OVMF's secboot build). */
  secureBoot?: { smm: boolean; db?: readonly string[] };
}

/** Single-quoted bash word. */
function sq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function need<T>(value: T | undefined, what: string): T {
  if (!value) throw new RangeError(`the launch script needs ${what}`);
  return value;
}

/** The bash lines that add the boot-specific qemu arguments; paths are relative to the script's directory. */
function bootArgs(input: LaunchInput): string[] {
  const f = input.files;
  // qemu separates -drive options with commas; a comma inside a path is written twice.
  const at = (file: string) => `"\${DIR_ESCAPED}/"${sq(file.replace(/,/g, ',,'))}`;
  switch (input.boot) {
    case 'uefi-disk': {
      const image = need(f.image, 'a disk image');
      // OVMF's secboot build guards its variable store in SMM: without these qemu refuses to start it.
      const smm = input.secureBoot?.smm ? ['args+=(-global driver=cfi.pflash01,property=secure,value=on)'] : [];
      return [
        ...smm,
        `args+=(-drive "if=pflash,unit=0,format=qcow2,readonly=on,file="${at(need(f.efiCode, 'UEFI firmware code'))})`,
        `args+=(-drive "if=pflash,unit=1,format=qcow2,file="${at(need(f.efiVars, 'UEFI firmware variables'))})`,
        `args+=(-drive "if=virtio,format=${image.format},file="${at(image.file)})`,
      ];
    }
    case 'kernel': {
      const cmdline = [input.kernelCommandLine, `console=${input.arch.console}`].filter(Boolean).join(' ');
      return [
        `args+=(-kernel "\${SCRIPT_DIR}/"${sq(need(f.kernel, 'a kernel'))} -initrd "\${SCRIPT_DIR}/"${sq(need(f.initrd, 'an initramfs'))})`,
        `args+=(-append ${sq(cmdline)})`,
      ];
    }
    case 'cdrom':
      return [`args+=(-drive "media=cdrom,format=raw,readonly=on,file="${at(need(f.iso, 'an ISO image'))} -boot d)`];
  }
}

function describe(input: LaunchInput): string {
  const f = input.files;
  switch (input.boot) {
    case 'uefi-disk':
      return `the disk ${f.image?.file} through UEFI firmware${input.secureBoot ? ' with Secure Boot enforced' : ''} (${f.efiCode}, ${f.efiVars})`;
    case 'kernel':
      return `the kernel ${f.kernel} with the initramfs ${f.initrd} (no disk: everything lives in RAM)`;
    case 'cdrom':
      return `the ISO ${f.iso} as a CD (no disk: everything lives in RAM)`;
  }
}

/** A runnable bash script: `-h` prints usage; everything after the options (or `--`) goes to qemu as is. */
export function renderLaunchScript(input: LaunchInput): string {
  const a = input.arch;
  const machine = input.secureBoot?.smm ? `${a.machine},smm=on` : a.machine;
  return `#!/bin/bash
# Boots Flatcar Container Linux (${input.name}) with QEMU: ${describe(input)}.
# Written by flatbake. Run it with -h for the options.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)
DIR_ESCAPED=\${SCRIPT_DIR//,/,,}
VM_NAME=${sq(input.name)}
VM_MEMORY=${input.memoryMiB}
VM_CPUS=${input.cpus}
SSH_PORT=2222
IGNITION_CONFIG=
SNAPSHOT=
ACCEL=auto
QEMU_BINARY=\${QEMU:-${a.qemu}}

usage() {
  cat <<'USAGE'
Usage: ${input.name}.sh [options] [-- extra qemu arguments]

Boots Flatcar Container Linux with QEMU: ${describe(input)}.

Options:
  -i FILE   Ignition config for the first boot (passed as fw_cfg opt/org.flatcar-linux/config)
  -m MIB    memory in MiB (default ${input.memoryMiB})
  -c N      virtual CPUs (default ${input.cpus})
  -p PORT   host port forwarded to the VM's ssh port 22 (default 2222): ssh -p PORT core@localhost
  -s        snapshot mode: writes to disks are thrown away when qemu exits
  -a ACCEL  kvm, tcg (plain emulation) or auto (default: kvm when /dev/kvm is writable)
  -h        print this help

Environment:
  QEMU      the qemu binary to run (default ${a.qemu})
USAGE
}

while getopts ':i:m:c:p:a:sh' opt; do
  case "$opt" in
    i) IGNITION_CONFIG=$OPTARG ;;
    m) VM_MEMORY=$OPTARG ;;
    c) VM_CPUS=$OPTARG ;;
    p) SSH_PORT=$OPTARG ;;
    s) SNAPSHOT=1 ;;
    a) ACCEL=$OPTARG ;;
    h) usage; exit 0 ;;
    :) echo "$0: option -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "$0: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

for number in "$VM_MEMORY" "$VM_CPUS" "$SSH_PORT"; do
  case "$number" in
    ''|*[!0-9]*) echo "$0: '$number' is not a number" >&2; exit 2 ;;
  esac
done

args=(-name "$VM_NAME" -machine ${machine} -m "$VM_MEMORY" -smp "$VM_CPUS" -nographic)
args+=(-netdev "user,id=eth0,hostfwd=tcp::\${SSH_PORT}-:22" -device virtio-net-pci,netdev=eth0)
args+=(-object rng-random,filename=/dev/urandom,id=rng0 -device virtio-rng-pci,rng=rng0)
case "$ACCEL" in
  kvm|tcg) ;;
  auto) if [ -w /dev/kvm ]; then ACCEL=kvm; else ACCEL=tcg; fi ;;
  *) echo "$0: -a takes kvm, tcg or auto, not '$ACCEL'" >&2; exit 2 ;;
esac
# KVM when asked or when this user may use it; plain emulation otherwise (slow, but it boots).
if [ "$ACCEL" = kvm ]; then
  args+=(-accel kvm -cpu ${a.kvmCpu})
else
  args+=(-accel tcg -cpu ${a.fallbackCpu})
fi
${bootArgs(input).join('\n')}
if [ -n "$SNAPSHOT" ]; then
  args+=(-snapshot)
fi
if [ -n "$IGNITION_CONFIG" ]; then
  if [ ! -r "$IGNITION_CONFIG" ]; then
    echo "$0: cannot read the Ignition config $IGNITION_CONFIG" >&2
    exit 1
  fi
  args+=(-fw_cfg "name=opt/org.flatcar-linux/config,file=\${IGNITION_CONFIG//,/,,}")
fi

exec "$QEMU_BINARY" "\${args[@]}" "$@"
`;
}

/** README beside the script: what the files are and how to start them; `secure`: the Secure Boot variant written beside it. */
export function renderLaunchReadme(input: LaunchInput, fileList: readonly string[], secure?: LaunchInput): string {
  const secureText = secure
    ? `
Secure Boot: ./${secure.name}.sh boots the same disk with firmware that enforces
Secure Boot (${secure.files.efiCode}, ${secure.files.efiVars}: Debian's ${secure.arch.secureBootFirmware.code}
and ${secure.arch.secureBootFirmware.vars}, with Microsoft's keys enrolled${
        secure.secureBoot?.db?.length ? `, and in db also
${secure.secureBoot.db.join(', ')}, as Flatcar's SDK adds them` : ''
      }). Both scripts write to the same disk.
`
    : '';
  return `Flatcar Container Linux for QEMU (${input.name})
${'='.repeat(input.name.length + 36)}

Files:
${fileList.map((f) => `  ${f}`).join('\n')}

Start it with:

  ./${input.name}.sh -p 2222 -i config.ign

and log in with \`ssh -p 2222 core@localhost\` (the Ignition config provides the ssh key).
The script boots ${describe(input)}.
It needs ${input.arch.qemu}; run \`./${input.name}.sh -h\` for every option.
Arguments after \`--\` go to qemu unchanged.
${secureText}`;
}
