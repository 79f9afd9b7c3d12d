/**
 * Configs and bundles per kind (never per vendor): UEFI firmware copies for
 * the qemu launch script, OVA (OVF + manifest + VMDK in a ustar), Vagrant box
 * (tar.gz of machine, Vagrantfile and metadata.json).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MissingToolError } from '../errors.js';
import { run } from '../util/exec.js';
import { diskAdapter, renderBoxMetadata, renderOvaManifest, renderOvf, renderVagrantfile } from './descriptors.js';
import type { DiskSpec, UefiFirmware, VendorRecord } from './types.js';

export async function sha1File(file: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Debian's OVMF (or AAVMF) firmware as the qcow2 pair the launch script boots with; the vars copy is the VM's own NVRAM. */
export async function writeUefiFirmware(firmware: UefiFirmware, codeOut: string, varsOut: string): Promise<void> {
  for (const file of [firmware.code, firmware.vars]) {
    try {
      await access(file);
    } catch {
      throw new MissingToolError(`the UEFI firmware ${file} is not installed (needed for the qemu launch script)`, `install the Debian package ${firmware.package}`);
    }
  }
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', firmware.code, codeOut], { purpose: 'convert the UEFI firmware code' });
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', firmware.vars, varsOut], { purpose: 'convert the UEFI firmware variables' });
}

/** The VMDK subformat qemu-img wrote (its default is monolithicSparse). */
function vmdkSubformat(disk: DiskSpec): string {
  return typeof disk.options.subformat === 'string' ? disk.options.subformat : 'monolithicSparse';
}

export interface OvfDiskInfo {
  vendor: VendorRecord;
  /** Name of the VM (and of the OVF). */
  name: string;
  system: string;
  /** The VMDK as written, and the name the OVF refers to it by. */
  vmdk: string;
  vmdkName: string;
  capacityBytes: number;
}

export async function ovfText(info: OvfDiskInfo): Promise<string> {
  const disk = info.vendor.disk!;
  return renderOvf({
    name: info.name,
    system: info.system,
    diskFile: info.vmdkName,
    diskFileBytes: (await stat(info.vmdk)).size,
    capacityBytes: info.capacityBytes,
    vmdkSubformat: vmdkSubformat(disk),
    adapter: diskAdapter(disk.options),
    memoryMiB: info.vendor.vm.memoryMiB,
    cpus: info.vendor.vm.cpus,
  });
}

/**
 * An OVA: a ustar archive with the OVF first, then the manifest (SHA1 of the
 * OVF and the disk), then the disk, the order the OVF spec asks for.
 */
export async function writeOva(info: OvfDiskInfo, output: string, scratchDir: string): Promise<void> {
  const dir = path.join(scratchDir, 'ova');
  await mkdir(dir, { recursive: true });
  const ovfName = `${info.name}.ovf`;
  const mfName = `${info.name}.mf`;
  await rename(info.vmdk, path.join(dir, info.vmdkName));
  const inDir = { ...info, vmdk: path.join(dir, info.vmdkName) };
  await writeFile(path.join(dir, ovfName), await ovfText(inDir));
  const manifest = renderOvaManifest([
    { name: ovfName, sha1: await sha1File(path.join(dir, ovfName)) },
    { name: info.vmdkName, sha1: await sha1File(inDir.vmdk) },
  ]);
  await writeFile(path.join(dir, mfName), manifest);
  await run('tar', ['--format=ustar', '-cf', output, '-C', dir, ovfName, mfName, info.vmdkName], { purpose: 'write the OVA' });
}

/** A Vagrant box for an OVF provider (VirtualBox): box.ovf + box-disk1.vmdk + Vagrantfile + metadata.json, gzip'd tar. */
export async function writeOvfBox(info: OvfDiskInfo, provider: string, vagrantArchitecture: string, output: string, scratchDir: string): Promise<void> {
  const dir = path.join(scratchDir, 'box');
  await mkdir(dir, { recursive: true });
  const vmdkName = 'box-disk1.vmdk';
  await rename(info.vmdk, path.join(dir, vmdkName));
  await writeFile(path.join(dir, 'box.ovf'), await ovfText({ ...info, vmdk: path.join(dir, vmdkName), vmdkName }));
  await writeFile(path.join(dir, 'Vagrantfile'), renderVagrantfile(provider));
  await writeFile(path.join(dir, 'metadata.json'), renderBoxMetadata(provider, vagrantArchitecture));
  await run('tar', ['-czf', output, '-C', dir, 'metadata.json', 'Vagrantfile', 'box.ovf', vmdkName], { purpose: 'write the Vagrant box' });
}
