/**
 * Text of the configs and descriptors that go with vendor disks: VMware .vmx,
 * OVF, OVA manifest, Vagrant box files, xl config, isolinux.cfg. Pure: every
 * function returns a string from typed inputs.
 */

function xml(value: string | number): string {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** VMDK adapter types qemu-img writes, and the controller a VM config pairs with each. */
export type DiskAdapter = 'ide' | 'lsilogic' | 'buslogic' | 'legacyESX';

export function diskAdapter(options: Record<string, unknown>): DiskAdapter {
  const value = options.adapter_type;
  // qemu-img's default adapter for VMDK is ide.
  return value === 'lsilogic' || value === 'buslogic' || value === 'legacyESX' ? value : 'ide';
}

export interface VmxInput {
  /** displayName: the versioned VM name. */
  name: string;
  diskFile: string;
  memoryMiB: number;
}

/**
 * The .vmx beside the vmware VMDK, key for key as vm_image_util.sh
 * _write_vmx_conf writes it (V:772-812): paravirtual SCSI (`pvscsi`) for the
 * disk, vmxnet3, `other26xlinux-64`, hot-add, soft power-off. (The VMDK's own
 * adapter hint is lsilogic, as in the SDK; VMware goes by the .vmx.)
 */
export function renderVmx(v: VmxInput): string {
  const q = (s: string | number) => `"${String(s).replace(/"/g, '|22')}"`;
  const lines: Array<[string, string]> = [
    ['.encoding', q('UTF-8')],
    ['config.version', q(8)],
    ['virtualHW.version', q(11)],
    ['cleanShutdown', q('TRUE')],
    ['displayName', q(v.name)],
    ['ethernet0.addressType', q('generated')],
    ['ethernet0.present', q('TRUE')],
    ['ethernet0.virtualDev', q('vmxnet3')],
    ['floppy0.present', q('FALSE')],
    ['guestOS', q('other26xlinux-64')],
    ['memsize', q(v.memoryMiB)],
    ['powerType.powerOff', q('soft')],
    ['powerType.powerOn', q('hard')],
    ['powerType.reset', q('hard')],
    ['powerType.suspend', q('hard')],
    ['scsi0.present', q('TRUE')],
    ['scsi0.virtualDev', q('pvscsi')],
    ['scsi0:0.fileName', q(v.diskFile)],
    ['scsi0:0.present', q('TRUE')],
    ['sound.present', q('FALSE')],
    ['usb.generic.autoconnect', q('FALSE')],
    ['usb.present', q('TRUE')],
    // Unquoted in the SDK's file (V:796), and VMware reads it either way.
    ['rtc.diffFromUTC', '0'],
    ['pciBridge0.present', q('TRUE')],
    // Four PCIe root ports with eight functions each (V:798-809), room for vmxnet3 and pvscsi.
    ...[4, 5, 6, 7].flatMap((n): Array<[string, string]> => [
      [`pciBridge${n}.present`, q('TRUE')],
      [`pciBridge${n}.virtualDev`, q('pcieRootPort')],
      [`pciBridge${n}.functions`, q(8)],
    ]),
    ['hpet0.present', q('TRUE')],
    ['vcpu.hotadd', q('TRUE')],
    ['mem.hotadd', q('TRUE')],
  ];
  return ['#!/usr/bin/vmware', ...lines.map(([k, val]) => `${k} = ${val}`)].join('\n') + '\n';
}

export interface OvfInput {
  name: string;
  /** VirtualSystemType, e.g. vmx-11 or virtualbox-2.2. */
  system: string;
  diskFile: string;
  diskFileBytes: number;
  capacityBytes: number;
  /** VMDK subformat as written (streamOptimized, monolithicSparse). */
  vmdkSubformat: string;
  adapter: DiskAdapter;
  memoryMiB: number;
  cpus: number;
}

/** OVF 1.0 descriptor of one VM with one VMDK, one NIC; rasd elements in schema (alphabetical) order. */
export function renderOvf(v: OvfInput): string {
  const vmware = v.system.startsWith('vmx-');
  const format = v.vmdkSubformat === 'streamOptimized' ? 'streamOptimized' : 'sparse';
  const item = (fields: Array<[string, string | number]>) =>
    ['      <Item>', ...fields.map(([k, val]) => `        <rasd:${k}>${xml(val)}</rasd:${k}>`), '      </Item>'].join('\n');
  const controller: Array<[string, string | number]> =
    v.adapter === 'ide'
      ? [['Address', 0], ['Description', 'IDE Controller'], ['ElementName', 'ideController0'], ['InstanceID', 3], ['ResourceType', 5]]
      : [['Address', 0], ['Description', 'SCSI Controller'], ['ElementName', 'scsiController0'], ['InstanceID', 3], ['ResourceSubType', v.adapter === 'legacyESX' ? 'lsilogic' : v.adapter], ['ResourceType', 6]];
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="${xml(v.diskFile)}" ovf:id="file1" ovf:size="${v.diskFileBytes}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="${v.capacityBytes}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#${format}"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${xml(v.name)}">
    <Info>Flatcar Container Linux</Info>
    <Name>${xml(v.name)}</Name>
    <OperatingSystemSection ovf:id="101">
      <Info>The kind of installed guest operating system</Info>
      <Description>Linux 64-bit</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${xml(v.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>${xml(v.system)}</vssd:VirtualSystemType>
      </System>
${item([['AllocationUnits', 'hertz * 10^6'], ['Description', 'Number of Virtual CPUs'], ['ElementName', `${v.cpus} virtual CPU(s)`], ['InstanceID', 1], ['ResourceType', 3], ['VirtualQuantity', v.cpus]])}
${item([['AllocationUnits', 'byte * 2^20'], ['Description', 'Memory Size'], ['ElementName', `${v.memoryMiB}MB of memory`], ['InstanceID', 2], ['ResourceType', 4], ['VirtualQuantity', v.memoryMiB]])}
${item(controller)}
${item([['AddressOnParent', 0], ['ElementName', 'disk0'], ['HostResource', 'ovf:/disk/vmdisk1'], ['InstanceID', 4], ['Parent', 3], ['ResourceType', 17]])}
${item([['AddressOnParent', 0], ['AutomaticAllocation', 'true'], ['Connection', 'VM Network'], ['ElementName', 'ethernet0'], ['InstanceID', 5], ['ResourceSubType', vmware ? 'VmxNet3' : 'E1000'], ['ResourceType', 10]])}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/** The OVA manifest: one `SHA1(file)= digest` line per file. */
export function renderOvaManifest(entries: ReadonlyArray<{ name: string; sha1: string }>): string {
  return entries.map((e) => `SHA1(${e.name})= ${e.sha1}\n`).join('');
}

/** Vagrant provider settings that keep a guest-tools-less Flatcar box from waiting for tools it does not have. */
const PROVIDER_SETTINGS: Record<string, string[]> = {
  virtualbox: ['  config.vm.provider :virtualbox do |vb|', '    vb.check_guest_additions = false', '    vb.functional_vboxsf = false', '  end'],
  parallels: ['  config.vm.provider :parallels do |prl|', '    prl.check_guest_tools = false', '    prl.functional_psf = false', '  end'],
};

/** The box's embedded Vagrantfile: defaults a project's Vagrantfile can override. */
export function renderVagrantfile(provider: string): string {
  const settings = PROVIDER_SETTINGS[provider];
  if (!settings) throw new RangeError(`no Vagrant settings for provider ${provider}`);
  return [
    '# -*- mode: ruby -*-',
    '# Defaults of the Flatcar Container Linux box; the Vagrantfile of a project overrides them.',
    'Vagrant.configure("2") do |config|',
    '  config.ssh.username = "core"',
    '  # Flatcar has no guest additions, so shared folders are off.',
    '  config.vm.synced_folder ".", "/vagrant", disabled: true',
    ...settings,
    'end',
    '',
  ].join('\n');
}

export function renderBoxMetadata(provider: string, architecture: string): string {
  return JSON.stringify({ provider, architecture }, null, 2) + '\n';
}

export interface XlInput {
  name: string;
  diskFile: string;
  memoryMiB: number;
  cpus: number;
}

/** An xl config that boots the raw disk as an HVM guest (grub on the disk does the rest). */
export function renderXlConfig(v: XlInput): string {
  return [
    `# Xen xl config for Flatcar Container Linux: xl create ${v.name}.cfg`,
    '# The disk path is relative to the directory xl runs in; make it absolute if you start it elsewhere.',
    `name = "${v.name}"`,
    'type = "hvm"',
    `memory = ${v.memoryMiB}`,
    `vcpus = ${v.cpus}`,
    `disk = [ "format=raw, vdev=xvda, access=rw, target=${v.diskFile}" ]`,
    'vif = [ "bridge=xenbr0" ]',
    'serial = "pty"',
    '',
  ].join('\n');
}

/** isolinux.cfg of the ISO: one entry booting the kernel with the initramfs. */
export function renderIsolinuxCfg(kernel: string, initrd: string, commandLine: string): string {
  return [
    'default flatcar',
    'prompt 1',
    'timeout 15',
    '',
    'label flatcar',
    '  menu default',
    `  kernel ${kernel}`,
    `  append initrd=${initrd}${commandLine ? ` ${commandLine}` : ''}`,
    '',
  ].join('\n');
}
