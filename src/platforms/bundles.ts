/**
 * Configs and bundles per kind (never per vendor): UEFI firmware copies for
 * the qemu launch script, the OVF of a VMDK, OVA (OVF + manifest + VMDK in a
 * ustar). Vagrant boxes: vagrant.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MissingToolError } from '../errors.js';
import { run } from '../util/exec.js';
import { renderOvaManifest } from './descriptors.js';
import { renderVirtualboxOvf, virtualboxIdentity } from './ovf-virtualbox.js';
import { renderVmwareOvf } from './ovf-vmware.js';
import type { UefiFirmware, VendorRecord } from './types.js';

export async function sha1File(file: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Debian's OVMF (or AAVMF) firmware as the qcow2 pair the launch script boots with; the vars copy is the VM's own NVRAM.
 * `varsIn`: a raw variable store to ship instead of the package's (the Secure Boot variant's, with Flatcar's db entries).
 */
export async function writeUefiFirmware(firmware: UefiFirmware, codeOut: string, varsOut: string, varsIn = firmware.vars): Promise<void> {
  for (const file of [firmware.code, firmware.vars]) {
    try {
      await access(file);
    } catch {
      throw new MissingToolError(`the UEFI firmware ${file} is not installed (needed for the qemu launch script)`, `install the Debian package ${firmware.package}`);
    }
  }
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', firmware.code, codeOut], { purpose: 'convert the UEFI firmware code' });
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', varsIn, varsOut], { purpose: 'convert the UEFI firmware variables' });
}

export interface OvfDiskInfo {
  vendor: VendorRecord;
  /** The unversioned stem (the VMware OVF's VM name) and the versioned VM name (VirtualBox's). */
  names: { machine: string; vm: string };
  system: string;
  /** The VMDK as written, and the name the OVF refers to it by. */
  vmdk: string;
  vmdkName: string;
  capacityBytes: number;
}

/**
 * The OVF of a VMDK: VMware's template for `vmx-*` systems (named as the SDK's
 * `_dst_name`, unversioned), VirtualBox's for `virtualbox-*` (named VM_NAME,
 * with the version; `identity` carries its random MAC and UUIDs).
 */
export async function ovfText(info: OvfDiskInfo, identity = virtualboxIdentity()): Promise<string> {
  const { vm } = info.vendor;
  const disk = { diskFile: info.vmdkName, capacityBytes: info.capacityBytes, memoryMiB: vm.memoryMiB, cpus: vm.cpus };
  if (info.system.startsWith('vmx-')) return renderVmwareOvf({ ...disk, name: info.names.machine, system: info.system, diskFileBytes: (await stat(info.vmdk)).size });
  return renderVirtualboxOvf({ ...disk, name: info.names.vm, ...identity });
}

export interface OvaMembers {
  /** The directory holding the OVF and the VMDK (they stay there: the SDK publishes both beside the OVA, V:1038). */
  dir: string;
  ovf: string;
  vmdk: string;
}

/**
 * An OVA: a ustar archive of the OVF, the manifest (SHA1 of the VMDK, then of
 * the OVF, as vm_image_util.sh _write_ova_bundle writes it) and the VMDK, in
 * the order the OVF spec asks for (descriptor first).
 */
export async function writeOva(members: OvaMembers, output: string, scratchDir: string): Promise<void> {
  const mfName = `${path.basename(members.ovf, '.ovf')}.mf`;
  const manifest = renderOvaManifest([
    { name: members.vmdk, sha1: await sha1File(path.join(members.dir, members.vmdk)) },
    { name: members.ovf, sha1: await sha1File(path.join(members.dir, members.ovf)) },
  ]);
  await writeFile(path.join(scratchDir, mfName), manifest);
  const args = ['--format=ustar', '-cf', output, '-C', members.dir, members.ovf, '-C', scratchDir, mfName, '-C', members.dir, members.vmdk];
  await run('tar', args, { purpose: 'write the OVA' });
}
