/**
 * Vagrant boxes as Flatcar's SDK writes them (vm_image_util.sh
 * _copy_vagrant_files, _write_vagrant_conf and _write_box_bundle, V:890-1023):
 * the box is a gzip'd tar of a directory holding the SDK's Vagrantfile,
 * configure_networks.rb and base_mac.rb (shipped in vendors/vagrant-box/,
 * origin and license noted in each), metadata.json, and the machine: for
 * VirtualBox box.ovf and the VMDK under its published name, with base_mac.rb
 * rewritten to the OVF's MAC; for Parallels the `tmp.pvm` directory (the
 * .hdd directory and a template config.pvs). Beside the box goes the catalogue
 * flatcar_production_vagrant.json that `vagrant box add` reads.
 */
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../util/exec.js';
import { sha256File, sha256SparseFile } from '../util/hash.js';
import type { VendorResult } from './write.js';
import { ovfText, type OvfDiskInfo } from './bundles.js';
import { renderBaseMac, virtualboxIdentity } from './ovf-virtualbox.js';
import { renderPvs } from './parallels.js';
import { vendorsDir } from './registry.js';

/** The files every box starts from (V:892 copies build_library/oem/vagrant/build/box). */
export const VAGRANT_BOX_FILES = ['Vagrantfile', 'configure_networks.rb', 'base_mac.rb'] as const;

/** The SDK's default BUILDCACHE_SERVER (V:1007), where Flatcar publishes its boxes. */
export const VAGRANT_BOX_SERVER = 'bincache.flatcar-linux.net';

/** metadata.json of the box: `jq -n '{ provider: env.provider, architecture: env.arch }'` (V:991). Pure. */
export function renderBoxMetadata(provider: string, architecture: string): string {
  return JSON.stringify({ provider, architecture }, null, 2) + '\n';
}

export interface VagrantCatalogueInput {
  /** The update group (stable, beta, alpha, lts). */
  group: string;
  version: string;
  provider: string;
  architecture: string;
  box: string;
  sha256: string;
}

/** flatcar_production_vagrant.json as the SDK's jq writes it for one provider (V:1007-1020). Pure. */
export function renderVagrantCatalogue(v: VagrantCatalogueInput): string {
  const catalogue = {
    name: `flatcar-${v.group}`,
    description: `Flatcar ${v.group}`,
    versions: [
      {
        version: v.version,
        providers: [
          {
            name: v.provider,
            url: `https://${VAGRANT_BOX_SERVER}/images/${v.architecture}/${v.version}/${v.box}`,
            checksum_type: 'sha256',
            checksum: v.sha256,
            architecture: v.architecture,
          },
        ],
      },
    ],
  };
  return JSON.stringify(catalogue, null, 2) + '\n';
}

/**
 * One catalogue from several providers' catalogues of the same version: the
 * SDK's jq keeps the entries of the other providers already in the file
 * (V:1000-1004), so vagrant and vagrant_parallels share one. Pure.
 */
export function mergeVagrantCatalogues(texts: readonly string[]): string {
  type Catalogue = { versions: Array<{ version: string; providers: unknown[] }> };
  const [first, ...rest] = texts.map((t) => JSON.parse(t) as Catalogue);
  if (!first) throw new RangeError('no catalogue to merge');
  for (const other of rest) {
    for (const version of other.versions) {
      const same = first.versions.find((v) => v.version === version.version);
      if (same) same.providers.push(...version.providers);
      else first.versions.push(version);
    }
  }
  return JSON.stringify(first, null, 2) + '\n';
}

interface VagrantBoxCommon {
  architecture: string;
  group: string;
  version: string;
  /** Where the box and the catalogue go. */
  box: string;
  catalogue: string;
  scratchDir: string;
}

/** VirtualBox: box.ovf and the VMDK. */
export interface VirtualboxBoxInput extends VagrantBoxCommon {
  provider: 'virtualbox';
  disk: OvfDiskInfo;
}

/** Parallels: the pvm directory (`tmp.pvm`, holding the .hdd directory) gets a template config.pvs (V:909-920, V:983-988). */
export interface ParallelsBoxInput extends VagrantBoxCommon {
  provider: 'parallels';
  /** The .hdd directory, inside its pvm directory. */
  hddDir: string;
  vmName: string;
  memoryMiB: number;
}

export type VagrantBoxInput = VirtualboxBoxInput | ParallelsBoxInput;

/** Writes the box and its catalogue; the disk is moved into the box. */
export async function writeVagrantBox(v: VagrantBoxInput): Promise<void> {
  const dir = path.join(v.scratchDir, 'box');
  await mkdir(dir, { recursive: true });
  for (const file of VAGRANT_BOX_FILES) await copyFile(path.join(vendorsDir(), 'vagrant-box', file), path.join(dir, file));
  if (v.provider === 'virtualbox') {
    const identity = virtualboxIdentity();
    const vmdk = path.join(dir, v.disk.vmdkName);
    await rename(v.disk.vmdk, vmdk);
    await writeFile(path.join(dir, 'box.ovf'), await ovfText({ ...v.disk, vmdk }, identity));
    // virtualbox_ovf.sh --output_vagrant rewrites base_mac.rb so Vagrant's NIC gets the OVF's MAC (lines 52-58).
    await writeFile(path.join(dir, 'base_mac.rb'), renderBaseMac(identity.mac));
  } else {
    // parallels_pvs.sh --template; base_mac.rb stays the SDK's (only virtualbox_ovf.sh rewrites it).
    const pvm = path.dirname(v.hddDir);
    await writeFile(path.join(pvm, 'config.pvs'), await renderPvs({ name: v.vmName, hddDir: v.hddDir, memoryMiB: v.memoryMiB, template: true }));
    await rename(pvm, path.join(dir, path.basename(pvm)));
  }
  await writeFile(path.join(dir, 'metadata.json'), renderBoxMetadata(v.provider, v.architecture));
  await run('tar', ['-czf', v.box, '-C', dir, '.'], { purpose: 'write the Vagrant box' });
  const sha256 = await sha256File(v.box);
  await writeFile(
    v.catalogue,
    renderVagrantCatalogue({ group: v.group, version: v.version, provider: v.provider, architecture: v.architecture, box: path.basename(v.box), sha256 }),
  );
}

/**
 * vagrant and vagrant_parallels both write flatcar_production_vagrant.json;
 * the SDK keeps one with every provider (V:1000-1020). The first vendor's file
 * gets the merged catalogue, the others' copies go.
 */
export async function shareVagrantCatalogue(results: VendorResult[], name: string): Promise<void> {
  const holders = results.flatMap((r) => {
    const output = r.ok ? r.outputs.find((o) => o.file === name) : undefined;
    return output ? [{ result: r, output }] : [];
  });
  if (holders.length < 2) return;
  const merged = mergeVagrantCatalogues(await Promise.all(holders.map((h) => readFile(h.output.workFile, 'utf8'))));
  const [keep, ...drop] = holders;
  await writeFile(keep!.output.workFile, merged);
  keep!.output.sha256 = await sha256SparseFile(keep!.output.workFile);
  keep!.output.size = (await stat(keep!.output.workFile)).size;
  for (const h of drop) {
    await rm(h.output.workFile);
    h.result.outputs = h.result.outputs.filter((o) => o !== h.output);
  }
}
