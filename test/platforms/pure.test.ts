/** The pure pieces of the vendor writer: OEM texts, descriptors, launch scripts, layout plans, qemu-img arguments. */
import { execa } from 'execa';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskFormatError } from '../../src/errors.js';
import { readGptFromFile } from '../../src/gpt/file.js';
import type { GptTable } from '../../src/gpt/types.js';
import { renderIsolinuxCfg, renderOvaManifest, renderOvfReadme, renderVmx, renderXenConfigs, renderXenReadme } from '../../src/platforms/descriptors.js';
import { qemuImgConvertArgs, qemuImgOptionString } from '../../src/platforms/formats.js';
import { renderBaseMac, renderVirtualboxOvf, virtualboxIdentity } from '../../src/platforms/ovf-virtualbox.js';
import { renderVmwareOvf, VMWARE_GUESTINFO_KEYS } from '../../src/platforms/ovf-vmware.js';
import { parseUpdateGroup, rewriteUpdateGroup } from '../../src/platforms/update-group.js';
import { mergeVagrantCatalogues, renderBoxMetadata, renderVagrantCatalogue } from '../../src/platforms/vagrant.js';
import { grubEfiPath } from '../../src/platforms/netboot.js';
import { fillTemplate, renderDiskDescriptor } from '../../src/platforms/parallels.js';
import { renderLaunchReadme, renderLaunchScript, type LaunchInput } from '../../src/platforms/launch-script.js';
import { planLayoutGrowth } from '../../src/platforms/layout.js';
import { oemReleaseFromExtensionRelease, oemSysextPaths, renderGrubCfg } from '../../src/platforms/oem-files.js';
import { loadVendorRegistry, outputNames } from '../../src/platforms/registry.js';
import { estimateVendorBytes } from '../../src/platforms/space.js';
import { FLATCAR_LAYOUT, makeFlatcarImage } from '../gpt/helpers.js';

describe('grub.cfg', () => {
  it('sets oem_id and linux_append (qemu)', () => {
    expect(renderGrubCfg({ oemId: 'qemu', linuxAppend: 'flatcar.autologin' })).toBe(
      '# Flatcar GRUB settings for this platform (written by flatbake)\n\nset oem_id="qemu"\nset linux_append="flatcar.autologin"\n',
    );
  });

  it('adds a serial console and terminal (azure)', () => {
    const text = renderGrubCfg({ oemId: 'azure', linuxConsole: 'console=ttyS0,115200n8', serial: { unit: 0, speed: 115200 } });
    expect(text).toContain('set oem_id="azure"\n');
    expect(text).toContain('set linux_console="console=ttyS0,115200n8"\n');
    expect(text).toContain('serial com0 --speed=115200 --word=8 --parity=no --stop=1\nterminal_input serial_com0\nterminal_output serial_com0\n');
    expect(text).not.toContain('linux_append');
    expect(text).not.toContain('grub_platform');
  });

  it('picks the console by $grub_cpu as oem/azure/grub.cfg 11-15 does, and adds ami\'s arm64 console (oem/ami/grub.cfg 15-17)', () => {
    const azure = renderGrubCfg({ oemId: 'azure', linuxConsole: 'console=tty1 console=ttyS0,115200n8', linuxConsoleArm64: 'console=tty1 console=ttyAMA0,115200n8', serial: { unit: 0, speed: 115200 } });
    expect(azure).toMatch(
      /terminal_output serial_com0\nif \[ "\$grub_cpu" = arm64 \]; then\n  set linux_console="console=tty1 console=ttyAMA0,115200n8"\nelse\n  set linux_console="console=tty1 console=ttyS0,115200n8"\nfi\n$/,
    );
    expect(azure.match(/linux_console/g)).toHaveLength(2);
    const ami = renderGrubCfg({ oemId: 'ec2', linuxConsole: 'console=ttyS0,115200n8', serial: { unit: 0, speed: 115200 }, consolePlatform: 'pc', linuxConsoleArm64: 'console=tty1 console=ttyS0,115200n8 earlycon' });
    expect(ami).toMatch(/\nfi\nif \[ "\$grub_cpu" = arm64 \]; then\n  set linux_console="console=tty1 console=ttyS0,115200n8 earlycon"\nfi\n$/);
  });

  it('limits console settings to one platform (ami on pc)', () => {
    const text = renderGrubCfg({ oemId: 'ec2', linuxAppend: 'a b', linuxConsole: 'console=ttyS0,115200n8', serial: { unit: 0, speed: 115200 }, consolePlatform: 'pc' });
    expect(text).toMatch(/set linux_append="a b"\n\nif \[ "\$grub_platform" = "pc" \]; then\n  set linux_console="console=ttyS0,115200n8"\n  serial com0 [^\n]+\n  terminal_input serial_com0\n  terminal_output serial_com0\nfi\n$/);
  });

  it('escapes what grub would interpret inside double quotes', () => {
    expect(renderGrubCfg({ oemId: 'x', linuxAppend: 'a="$b" \\c' })).toContain('set linux_append="a=\\"\\$b\\" \\\\c"\n');
  });
});

describe('oem-release', () => {
  const release = [
    'ID=flatcar',
    'VERSION_ID=4459.2.1',
    'SYSEXT_LEVEL=1.0',
    'ARCHITECTURE=x86-64',
    '# a comment',
    'SYSEXT_SCOPE=system',
    'SYSEXT_ID=oem-azure',
    'SYSEXT_NAME="Microsoft Azure"',
    'SYSEXT_VERSION_ID=4459.2.1',
    '',
  ].join('\n');

  it('keeps only SYSEXT_* lines, maps SYSEXT_ID=oem-<id> to ID=<id> and drops the prefix of the others', () => {
    expect(oemReleaseFromExtensionRelease(release, 'azure')).toBe('LEVEL=1.0\nSCOPE=system\nID=azure\nNAME="Microsoft Azure"\nVERSION_ID=4459.2.1\n');
  });

  it('handles a quoted SYSEXT_ID', () => {
    expect(oemReleaseFromExtensionRelease('SYSEXT_ID="oem-gce"\n', 'gce')).toBe('ID="gce"\n');
  });

  it("refuses another OEM's sysext and one without SYSEXT_ID", () => {
    expect(() => oemReleaseFromExtensionRelease(release, 'gce')).toThrow(DiskFormatError);
    expect(() => oemReleaseFromExtensionRelease(release, 'gce')).toThrow(/SYSEXT_ID=oem-azure, but OEM 'gce' needs SYSEXT_ID=oem-gce/);
    expect(() => oemReleaseFromExtensionRelease('ID=flatcar\n', 'gce')).toThrow(/has no SYSEXT_ID/);
  });

  it('places the sysext and marker under /oem/sysext', () => {
    expect(oemSysextPaths('azure', '4459.2.1')).toEqual({ sysext: 'sysext/oem-azure-4459.2.1.raw', marker: 'sysext/active-oem-azure' });
  });
});

describe('qemu-img arguments', () => {
  it('renders options, booleans as on/off', () => {
    expect(qemuImgOptionString({ subformat: 'fixed', force_size: true, lazy_refcounts: false })).toBe('subformat=fixed,force_size=on,lazy_refcounts=off');
    expect(qemuImgOptionString({})).toBe('');
  });

  it('converts from raw with -c and -o only when the record says so', async () => {
    const registry = await loadVendorRegistry();
    expect(qemuImgConvertArgs(registry.get('qemu_uefi').disk!, 'in', 'out')).toEqual(['convert', '-f', 'raw', '-O', 'qcow2', '-c', '-o', 'compat=0.10', 'in', 'out']);
    // Every qcow2 vendor, not only qemu_uefi (vm_image_util.sh 476-477 `_write_qcow2_disk`).
    expect(qemuImgConvertArgs(registry.get('openstack').disk!, 'in', 'out')).toEqual(['convert', '-f', 'raw', '-O', 'qcow2', '-c', '-o', 'compat=0.10', 'in', 'out']);
    expect(qemuImgConvertArgs(registry.get('ami').disk!, 'in', 'out')).toEqual(['convert', '-f', 'raw', '-O', 'raw', 'in', 'out']);
    expect(qemuImgConvertArgs(registry.get('azure').disk!, 'in', 'out')).toEqual(['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', 'in', 'out']);
    expect(qemuImgConvertArgs(registry.get('vagrant').disk!, 'in', 'out')).toEqual(['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'adapter_type=ide', 'in', 'out']);
    // V:522-530 `_write_vmdk_stream_disk` (vmware_ova, ami_vmdk): adapter_type=lsilogic; streamOptimized by qemu-img, as Debian 12 has no vmdk-convert.
    for (const id of ['vmware_ova', 'ami_vmdk']) {
      expect(qemuImgConvertArgs(registry.get(id).disk!, 'in', 'out')).toEqual(['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'adapter_type=lsilogic,subformat=streamOptimized', 'in', 'out']);
    }
    expect(() => qemuImgConvertArgs(registry.get('parallels').disk!, 'in', 'out')).toThrow(DiskFormatError);
  });

  it('estimates more space for bundled or archived disks than for plain ones', async () => {
    const registry = await loadVendorRegistry();
    const plain = estimateVendorBytes(registry.get('openstack'), 100 << 20, 0);
    expect(estimateVendorBytes(registry.get('gce'), 100 << 20, 0)).toBe(plain + (100 << 20));
    expect(estimateVendorBytes(registry.get('vmware_ova'), 100 << 20, 5)).toBe(plain + (100 << 20) + 5);
  });
});

describe('layout plan', () => {
  let dir: string;
  let table: GptTable;
  const root = FLATCAR_LAYOUT.find((p) => p.label === 'ROOT')!;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-vendor-layout-'));
    await makeFlatcarImage(path.join(dir, 'disk.bin'));
    table = await readGptFromFile(path.join(dir, 'disk.bin'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([
    ['vm', 12943360],
    ['azure', 50876416],
    ['vagrant', 33845248],
  ])('grows ROOT to the %s size on the smallest aligned disk that holds it and the backup GPT', (_name, sectors) => {
    const plan = planLayoutGrowth(table, sectors, 258048);
    expect(plan.changes).toBe(true);
    expect(plan.rootFirstLba).toBe(root.first);
    expect(plan.rootLastLba - plan.rootFirstLba + 1).toBe(sectors);
    expect(plan.diskSectors % 258048).toBe(0);
    expect(plan.diskSectors).toBeGreaterThanOrEqual(plan.rootLastLba + 1 + 33);
    expect(plan.diskSectors - 258048).toBeLessThan(plan.rootLastLba + 1 + 33);
  });

  it('keeps the base layout as it is, or sets an exact disk size', () => {
    expect(planLayoutGrowth(table, null, 258048)).toMatchObject({ changes: false, diskSectors: table.diskSectors, rootSectors: root.size });
    const exact = planLayoutGrowth(table, null, 258048, (10 * 1024 ** 3) / 512);
    expect(exact).toMatchObject({ changes: true, diskSectors: 20971520, rootLastLba: root.last });
  });

  it('never shrinks ROOT or the disk', () => {
    expect(() => planLayoutGrowth(table, root.size - 4096, 258048)).toThrow(/layouts only grow ROOT/);
    expect(() => planLayoutGrowth(table, null, 258048, 1000)).toThrow(/more than the 1000 the vendor requires/);
  });
});

describe('descriptors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-vendor-desc-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function xmllint(text: string): Promise<{ exitCode: number; stderr: string }> {
    const file = path.join(dir, 'check.ovf');
    await writeFile(file, text);
    const r = await execa('xmllint', ['--noout', file], { reject: false });
    return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr) };
  }

  /** The document as xmllint canonicalises it, reformatted: indentation (whitespace-only text) is all that may differ. */
  async function canonical(name: string, text: string): Promise<string> {
    await writeFile(path.join(dir, name), text);
    const c14n = await execa('xmllint', ['--c14n', path.join(dir, name)]);
    await writeFile(path.join(dir, `${name}.c14n`), c14n.stdout);
    return (await execa('xmllint', ['--noblanks', '--format', path.join(dir, `${name}.c14n`)])).stdout;
  }

  const sdkFixture = (name: string) => readFile(path.join(import.meta.dirname, '../fixtures/flatcar-sdk', name), 'utf8');

  it('writes the VirtualBox OVF as virtualbox_ovf.sh does (same canonical XML), and base_mac.rb with its MAC', async () => {
    const input = {
      name: 'flatcar_production_virtualbox-4790-0-0', diskFile: 'flatcar_production_virtualbox_image.vmdk', capacityBytes: 8589934592, memoryMiB: 2048, cpus: 2,
      ...virtualboxIdentity(new Date('2026-08-22T02:24:13.123Z')),
    };
    expect(input.date).toBe('2026-08-22T02:24:13Z');
    expect(input.mac).toMatch(/^080027[0-9A-F]{6}$/);
    // The heredoc of virtualbox_ovf.sh lines 62-188, filled as the script fills it (CPUs are fixed at 2 there).
    const filled = (await sdkFixture('virtualbox-ovf-heredoc.txt'))
      .replaceAll('${DISK_NAME}', input.diskFile)
      .replaceAll('${DISK_SIZE_BYTES}', String(input.capacityBytes))
      .replaceAll('${DISK_UUID}', input.diskUuid)
      .replaceAll('${FLAGS_vm_name}', input.name)
      .replaceAll('${FLAGS_memory_size}', String(input.memoryMiB))
      .replaceAll('${PRIMARY_MAC}', input.mac)
      .replace('$(uuidgen)', input.machineUuid)
      .replace('$(datez)', input.date);
    expect(filled).not.toMatch(/\$[({]/);
    const sdk = await canonical('sdk-vbox.ovf', filled);
    for (const fact of ['<Firmware type="EFI"/>', '<Chipset type="ICH9"/>', '<RTC localOrUTC="UTC"/>', 'type="virtio"', 'type="VirtioSCSI"']) expect(sdk).toContain(fact);
    expect(await canonical('ours-vbox.ovf', renderVirtualboxOvf(input))).toBe(sdk);
    expect(renderOvfReadme('d.vmdk', 'v.ovf')).toBe('Copy d.vmdk and v.ovf to a VirtualBox host and run:\nVBoxManage import v.ovf\n'); // V:882-885
    expect(renderBaseMac(input.mac)).toBe((await sdkFixture('virtualbox-vagrant-heredoc.txt')).replace('${PRIMARY_MAC}', input.mac));
  });

  it('writes the vmware_ova OVF as the SDK fills template_vmware.ovf (same canonical XML)', async () => {
    const input = { name: 'flatcar_production_vmware_ova', system: 'vmx-13', diskFile: 'flatcar_production_vmware_ova_image.vmdk', diskFileBytes: 123456, capacityBytes: 8589934592, memoryMiB: 2048, cpus: 2 };
    // vm_image_util.sh _write_ovf_vmware_conf (V:950-957) fills these placeholders with sed.
    const filled = (await sdkFixture('template_vmware.ovf'))
      .replaceAll('@@NAME@@', input.name)
      .replaceAll('@@VMDK_FILE_NAME@@', input.diskFile)
      .replaceAll('@@VMDK_FILE_SIZE@@', String(input.diskFileBytes))
      .replaceAll('@@VMDK_CAPACITY@@', String(input.capacityBytes))
      .replaceAll('@@NUM_CPUS@@', String(input.cpus))
      .replaceAll('@@MEM_SIZE@@', String(input.memoryMiB));
    const ours = renderVmwareOvf(input);
    expect(await xmllint(ours)).toEqual({ exitCode: 0, stderr: '' });
    const sdk = await canonical('sdk.ovf', filled);
    expect(sdk).toContain('<VirtualHardwareSection ovf:transport="com.vmware.guestInfo">');
    expect(await canonical('ours.ovf', ours)).toBe(sdk);
    expect(VMWARE_GUESTINFO_KEYS.slice(0, 4)).toEqual(['guestinfo.hostname', 'guestinfo.ignition.config.data', 'guestinfo.ignition.config.data.encoding', 'guestinfo.ignition.config.url']);
    // Names are escaped, not pasted into the XML as sed would.
    expect(renderVmwareOvf({ ...input, name: 'a<b&c' })).toContain('<Name>a&lt;b&amp;c</Name>');
  });

  it('writes manifest lines as SHA1(name)= digest', () => {
    expect(renderOvaManifest([{ name: 'a.ovf', sha1: 'ab' }, { name: 'b.vmdk', sha1: 'cd' }])).toBe('SHA1(a.ovf)= ab\nSHA1(b.vmdk)= cd\n');
  });

  it('writes the .vmx key for key as vm_image_util.sh _write_vmx_conf (V:772-812)', async () => {
    const heredoc = await readFile(path.join(import.meta.dirname, '../fixtures/flatcar-sdk/vmx-heredoc.txt'), 'utf8');
    const name = 'flatcar_production_vmware-4790-0-0';
    const sdk = heredoc.replaceAll('${VM_NAME}', name).replaceAll('${vm_mem}', '2048').replaceAll('${dst_name}', 'flatcar_production_vmware_image.vmdk');
    expect(sdk).toContain('scsi0.virtualDev = "pvscsi"\n');
    expect(sdk).toContain('guestOS = "other26xlinux-64"\n');
    expect(renderVmx({ name, diskFile: 'flatcar_production_vmware_image.vmdk', memoryMiB: 2048 })).toBe(sdk);
    expect(renderVmx({ name: 'a"b', diskFile: 'd', memoryMiB: 1 })).toContain('displayName = "a|22b"\n');
  });

  it('names VMs with the version, hostname-safe, as set_vm_paths does (V:298-303)', async () => {
    const registry = await loadVendorRegistry();
    const names = outputNames(registry.settings, 'vmware', '4790.0.0+dev-1');
    expect(names.vm).toBe('flatcar_production_vmware-4790-0-0-dev-1');
    expect(names.machine).toBe('flatcar_production_vmware');
  });

  it('writes the Xen pygrub and pvgrub configs and README as _write_xl_conf (V:820-864), and isolinux.cfg', () => {
    const xen = renderXenConfigs({ name: 'flatcar_production_xen-4790-0-0', diskFile: 'flatcar_production_xen_image.bin', diskFormat: 'raw', memoryMiB: 2048, cpus: 2 });
    // V:839-849: the shared part, after each loader's lines (V:831-836).
    const common = '\nbuilder = "generic"\nname = "flatcar_production_xen-4790-0-0"\n\nmemory = "2048"\nvcpus = 2\n# TODO(marineam): networking...\nvif = [ ]\ndisk = [ \'flatcar_production_xen_image.bin,raw,xvda\' ]\n';
    expect(xen.pygrub).toBe(`# Xen PV config using pygrub\nbootloader = "pygrub"\n${common}`);
    expect(xen.pvgrub).toBe(`# Xen PV config using pvgrub\nkernel = "/usr/lib/xen/boot/pv-grub-x86_64.gz"\nextra = "(hd0,0)/boot/grub/menu.lst"\n${common}`);
    const readme = renderXenReadme('vm-1', 'a_pygrub.cfg', 'a_pvgrub.cfg');
    expect(readme).toContain('xl create -c "a_pygrub.cfg"\n\nOr with pvgrub instead:\nxl create -c "a_pvgrub.cfg"\n');
    expect(readme).toMatch(/xl console vm-1\n\nKill the vm with:\nxl destroy vm-1\n$/);
    expect(renderIsolinuxCfg('/k', '/i', 'flatcar.autologin')).toContain('  kernel /k\n  append initrd=/i flatcar.autologin\n');
  });

  it('writes box metadata and the Vagrant catalogue as the SDK\'s jq does (V:991, V:1007-1020)', () => {
    expect(renderBoxMetadata('virtualbox', 'amd64')).toBe('{\n  "provider": "virtualbox",\n  "architecture": "amd64"\n}\n');
    const json = renderVagrantCatalogue({ group: 'stable', version: '4593.2.5', provider: 'virtualbox', architecture: 'amd64', box: 'flatcar_production_vagrant.box', sha256: 'ab'.repeat(32) });
    expect(JSON.parse(json)).toEqual({
      name: 'flatcar-stable',
      description: 'Flatcar stable',
      versions: [
        {
          version: '4593.2.5',
          providers: [
            { name: 'virtualbox', url: 'https://bincache.flatcar-linux.net/images/amd64/4593.2.5/flatcar_production_vagrant.box', checksum_type: 'sha256', checksum: 'ab'.repeat(32), architecture: 'amd64' },
          ],
        },
      ],
    });
    // jq's layout: two spaces, keys in the order of the filter.
    expect(json.split('\n').slice(0, 4)).toEqual(['{', '  "name": "flatcar-stable",', '  "description": "Flatcar stable",', '  "versions": [']);
  });

  it('reads and rewrites GROUP= of update.conf as the SDK (V:390-393, V:544-545)', () => {
    const conf = 'SERVER=https://public.update.flatcar-linux.net/v1/update/\nGROUP=stable\n';
    expect(parseUpdateGroup(conf)).toBe('stable');
    expect(parseUpdateGroup(`${conf}GROUP="beta"\n`)).toBe('beta');
    expect(parseUpdateGroup('SERVER=x\n')).toBeUndefined();
    expect(rewriteUpdateGroup(conf, 'lts')).toBe('SERVER=https://public.update.flatcar-linux.net/v1/update/\nGROUP=lts\n');
  });
});

describe('pxe GRUB path per era (vendors/defaults.json netboot.grubEfi)', () => {
  it('follows the SDK: core.efi before 4012, grubx64.efi / bootaa64.efi from 4012, the newest for an unknown version', async () => {
    const eras = (await loadVendorRegistry()).settings.netboot.grubEfi;
    // stable-3975.2.2 vm_image_util.sh :724-730; beta-4012.1.0 and alpha-4790.0.0 (V:577-584).
    expect(grubEfiPath(eras, 'x86-64', '3975.2.2')).toBe('/flatcar/grub/x86_64-efi/core.efi');
    expect(grubEfiPath(eras, 'arm64', '3033.3.18')).toBe('/flatcar/grub/arm64-efi/core.efi');
    expect(grubEfiPath(eras, 'x86-64', '4012.1.0')).toBe('/EFI/boot/grubx64.efi');
    expect(grubEfiPath(eras, 'arm64', '4790.0.0')).toBe('/EFI/boot/bootaa64.efi');
    expect(grubEfiPath(eras, 'x86-64', 'unknown')).toBe('/EFI/boot/grubx64.efi');
  });
});

describe('parallels and vagrant catalogue pieces', () => {
  it('fills DiskDescriptor.xml as write_hdd.sh computes it (sectors, cylinders of 16 heads x 32 sectors)', async () => {
    const text = await renderDiskDescriptor('d.hdd', 6 * 1024 ** 3, 'uid');
    expect(text).toContain('<Disk_size>12582912</Disk_size>');
    expect(text).toContain('<Cylinders>24576</Cylinders>');
    expect(text).toContain('<End>12582912</End>');
    expect(text).toContain('<File>d.hdd.0.{5fbaabe3-6958-40ff-92a7-860e329aab41}.hds</File>');
    expect(text).not.toContain('@@');
  });

  it('refuses a template placeholder without a value and escapes values', () => {
    expect(() => fillTemplate('<a>@@X@@</a>', {}, 't')).toThrow(/no value for @@X@@/);
    expect(fillTemplate('<a>@@X@@</a>', { X: 'a<b' }, 't')).toBe('<a>a&lt;b</a>');
  });

  it('merges two providers of one version into one catalogue', () => {
    const one = (provider: string) => renderVagrantCatalogue({ group: 'alpha', version: '1.0.0', provider, architecture: 'amd64', box: `${provider}.box`, sha256: provider });
    const merged = JSON.parse(mergeVagrantCatalogues([one('virtualbox'), one('parallels')])) as { versions: Array<{ providers: Array<{ name: string }> }> };
    expect(merged.versions).toHaveLength(1);
    expect(merged.versions[0]!.providers.map((p) => p.name)).toEqual(['virtualbox', 'parallels']);
  });
});

describe('launch script', () => {
  let dir: string;
  let registryArch: LaunchInput['arch'];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake vendor,launch-'));
    registryArch = (await loadVendorRegistry()).settings.architectures['x86-64'];
    // A stand-in for qemu that records its arguments one per line.
    await writeFile(path.join(dir, 'fake-qemu'), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$ARGS_OUT"\n');
    await chmod(path.join(dir, 'fake-qemu'), 0o755);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function runScript(input: LaunchInput, args: string[]) {
    const script = path.join(dir, `${input.name}.sh`);
    await writeFile(script, renderLaunchScript(input));
    await chmod(script, 0o755);
    const out = path.join(dir, 'args');
    await rm(out, { force: true });
    const r = await execa(script, args, { reject: false, env: { QEMU: path.join(dir, 'fake-qemu'), ARGS_OUT: out } });
    const recorded = await readFile(out, 'utf8').catch(() => '');
    return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr), args: recorded.split('\n').filter(Boolean) };
  }

  const uefi = (): LaunchInput => ({
    name: 'fc',
    boot: 'uefi-disk',
    arch: registryArch,
    memoryMiB: 2048,
    cpus: 2,
    kernelCommandLine: '',
    files: { image: { file: 'fc_image.img', format: 'qcow2' }, efiCode: 'fc_efi_code.qcow2', efiVars: 'fc_efi_vars.qcow2' },
  });

  it('prints usage with -h and rejects unknown options', async () => {
    const help = await runScript(uefi(), ['-h']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: fc\.sh \[options\]/);
    expect(help.stdout).toContain('-i FILE');
    expect(help.args).toEqual([]);
    const bad = await runScript(uefi(), ['-z']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('unknown option -z');
    expect((await runScript(uefi(), ['-m', 'lots'])).exitCode).toBe(2);
  });

  it('boots the disk with the firmware pair beside it (commas in the directory doubled for qemu)', async () => {
    const r = await runScript(uefi(), ['-p', '2345', '-m', '1024', '-s', '--', '-extra']);
    expect(r.exitCode).toBe(0);
    const escaped = dir.replace(/,/g, ',,');
    expect(r.args).toContain(`if=pflash,unit=0,format=qcow2,readonly=on,file=${escaped}/fc_efi_code.qcow2`);
    expect(r.args).toContain(`if=pflash,unit=1,format=qcow2,file=${escaped}/fc_efi_vars.qcow2`);
    expect(r.args).toContain(`if=virtio,format=qcow2,file=${escaped}/fc_image.img`);
    expect(r.args).toContain('user,id=eth0,hostfwd=tcp::2345-:22');
    expect(r.args.slice(r.args.indexOf('-m'), r.args.indexOf('-m') + 2)).toEqual(['-m', '1024']);
    expect(r.args).toContain('-snapshot');
    expect(r.args.at(-1)).toBe('-extra');
  });

  it('passes an Ignition config through fw_cfg and refuses an unreadable one', async () => {
    const ign = path.join(dir, 'config.ign');
    await writeFile(ign, '{}');
    const r = await runScript(uefi(), ['-i', ign]);
    expect(r.args).toContain(`name=opt/org.flatcar-linux/config,file=${ign.replace(/,/g, ',,')}`);
    const missing = await runScript(uefi(), ['-i', path.join(dir, 'nope.ign')]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('cannot read the Ignition config');
  });

  it('boots a kernel with its initramfs and console, or an ISO', async () => {
    const pxe = await runScript({ ...uefi(), boot: 'kernel', kernelCommandLine: 'flatcar.autologin', files: { kernel: 'k.vmlinuz', initrd: 'i.cpio.gz' } }, []);
    expect(pxe.args).toContain(`${dir}/k.vmlinuz`);
    expect(pxe.args).toContain(`${dir}/i.cpio.gz`);
    expect(pxe.args).toContain('flatcar.autologin console=ttyS0');
    const iso = await runScript({ ...uefi(), boot: 'cdrom', files: { iso: 'x.iso' } }, []);
    expect(iso.args).toContain(`media=cdrom,format=raw,readonly=on,file=${dir.replace(/,/g, ',,')}/x.iso`);
    expect(() => renderLaunchScript({ ...uefi(), files: {} })).toThrow(/needs a disk image/);
  });

  it('runs Secure Boot firmware that needs SMM on a q35 with smm=on and a secure pflash', async () => {
    const r = await runScript({ ...uefi(), secureBoot: { smm: true } }, []);
    expect(r.args.slice(r.args.indexOf('-machine'), r.args.indexOf('-machine') + 2)).toEqual(['-machine', 'q35,smm=on']);
    expect(r.args.slice(r.args.indexOf('-global'), r.args.indexOf('-global') + 2)).toEqual(['-global', 'driver=cfi.pflash01,property=secure,value=on']);
    const plain = await runScript({ ...uefi(), secureBoot: { smm: false } }, ['-a', 'tcg']);
    expect(plain.args).not.toContain('kvm');
    expect((await runScript(uefi(), ['-a', 'kvm'])).args.join(' ')).toContain('-accel kvm -cpu host');
    expect((await runScript(uefi(), ['-a', 'hvf'])).exitCode).toBe(2);
    expect(plain.args).not.toContain('-global');
    expect(plain.args).toContain('q35');
  });

  it('lists the files in the README', () => {
    expect(renderLaunchReadme(uefi(), ['a.img', 'b.sh'])).toContain('  a.img\n  b.sh\n');
  });
});
