/**
 * The VirtualBox OVF (virtualbox and, as box.ovf, the vagrant box) as Flatcar's
 * SDK writes it: flatcar/scripts build_library/virtualbox_ovf.sh (main of
 * 2026-08; the script of the SDKs whose virtualbox and vagrant carry an OEM
 * sysext, Flatcar 4722 and later, which are the only ones flatbake writes).
 * Facts from that script (BSD-3-Clause, Copyright The Chromium OS Authors and
 * CoreOS, Inc.); the code is ours. Pure: the random parts (MAC, UUIDs, the
 * date) are inputs.
 *
 * What matters to a booting Flatcar (lines 109-117, 145-186): the disk on a
 * virtio-SCSI controller, a virtio NIC, EFI firmware (Flatcar's vm layout
 * boots through UEFI), the ICH9 chipset and an RTC in UTC.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { indent, xmlAttributes, xmlElement } from './xml.js';

export interface VirtualboxOvfInput {
  /** The versioned VM name (VM_NAME). */
  name: string;
  diskFile: string;
  /** The disk's virtual size in bytes. */
  capacityBytes: number;
  memoryMiB: number;
  cpus: number;
  /** 12 hex digits; VirtualBox's own prefix 080027 (line 39), see virtualboxMac(). */
  mac: string;
  diskUuid: string;
  machineUuid: string;
  /** lastStateChange, `YYYY-MM-DDTHH:MM:SSZ`. */
  date: string;
}

/** A MAC as VirtualBox makes them and the SDK's macgen (lines 37-42): 080027 and three random bytes, upper-case hex. */
export function virtualboxMac(): string {
  return `080027${randomBytes(3).toString('hex').toUpperCase()}`;
}

/** The random and dated parts of one OVF (the Vagrant box's base_mac.rb must carry the same MAC). */
export function virtualboxIdentity(now = new Date()): Pick<VirtualboxOvfInput, 'mac' | 'diskUuid' | 'machineUuid' | 'date'> {
  return { mac: virtualboxMac(), diskUuid: randomUUID(), machineUuid: randomUUID(), date: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

const NAMESPACES: ReadonlyArray<[string, string]> = [
  ['ovf:version', '1.0'],
  ['xml:lang', 'en-US'],
  ['xmlns', 'http://schemas.dmtf.org/ovf/envelope/1'],
  ['xmlns:ovf', 'http://schemas.dmtf.org/ovf/envelope/1'],
  ['xmlns:rasd', 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData'],
  ['xmlns:vssd', 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData'],
  ['xmlns:xsi', 'http://www.w3.org/2001/XMLSchema-instance'],
  ['xmlns:vbox', 'http://www.virtualbox.org/ovf/machine'],
];

const item = (fields: Array<[string, string | number]>) => ['<Item>', ...fields.map(([k, v]) => `  ${xmlElement(`rasd:${k}`, [], v)}`), '</Item>'];

export function renderVirtualboxOvf(v: VirtualboxOvfInput): string {
  const cpus = `${v.cpus} virtual CPUs`;
  const memory = `${v.memoryMiB} MB of memory`;
  const hardware = [
    '<Info>Virtual hardware requirements for a virtual machine</Info>',
    '<System>',
    '  <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>',
    '  <vssd:InstanceID>0</vssd:InstanceID>',
    `  ${xmlElement('vssd:VirtualSystemIdentifier', [], v.name)}`,
    '  <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>',
    '</System>',
    ...item([['Caption', cpus], ['Description', 'Number of virtual CPUs'], ['ElementName', cpus], ['InstanceID', 1], ['ResourceType', 3], ['VirtualQuantity', v.cpus]]),
    ...item([['AllocationUnits', 'MegaBytes'], ['Caption', memory], ['Description', 'Memory Size'], ['ElementName', memory], ['InstanceID', 2], ['ResourceType', 4], ['VirtualQuantity', v.memoryMiB]]),
    // Lines 109-117: the disk's controller is virtio-SCSI (ResourceType 20, "other storage device").
    ...item([['Address', 0], ['Caption', 'virtioSCSIController0'], ['Description', 'VirtioSCSI Controller'], ['ElementName', 'virtioSCSIController0'], ['InstanceID', 3], ['ResourceSubType', 'VirtioSCSI'], ['ResourceType', 20]]),
    ...item([['Address', 0], ['Caption', 'usb'], ['Description', 'USB Controller'], ['ElementName', 'usb'], ['InstanceID', 4], ['ResourceType', 23]]),
    ...item([['AutomaticAllocation', 'true'], ['Caption', "Ethernet adapter on 'NAT'"], ['Connection', 'NAT'], ['ElementName', "Ethernet adapter on 'NAT'"], ['InstanceID', 5], ['ResourceType', 10]]),
    ...item([['AddressOnParent', 0], ['Caption', 'disk1'], ['Description', 'Disk Image'], ['ElementName', 'disk1'], ['HostResource', '/disk/vmdisk1'], ['InstanceID', 6], ['Parent', 3], ['ResourceType', 17]]),
  ];
  // Lines 145-186: VirtualBox's own machine settings, which it prefers over the generic section above.
  const machine = [
    `<vbox:Machine${xmlAttributes([['ovf:required', 'false'], ['version', '1.19-linux'], ['uuid', `{${v.machineUuid}}`], ['name', v.name], ['OSType', 'Linux26_64'], ['snapshotFolder', 'Snapshots'], ['lastStateChange', v.date]])}>`,
    '  <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>',
    '  <Hardware>',
    ...indent(
      [
        xmlElement('Memory', [['RAMSize', v.memoryMiB]]),
        '<HID Pointing="USBTablet"/>',
        '<Display controller="VMSVGA"/>',
        '<Firmware type="EFI"/>',
        '<BIOS>',
        '  <IOAPIC enabled="true"/>',
        '  <SmbiosUuidLittleEndian enabled="true"/>',
        '  <AutoSerialNumGen enabled="true"/>',
        '</BIOS>',
        '<USB>',
        '  <Controllers>',
        '    <Controller name="OHCI" type="OHCI"/>',
        '  </Controllers>',
        '</USB>',
        '<Network>',
        `  <Adapter${xmlAttributes([['slot', 0], ['enabled', 'true'], ['MACAddress', v.mac], ['type', 'virtio']])}>`,
        '    <NAT localhost-reachable="true"/>',
        '  </Adapter>',
        '</Network>',
        '<AudioAdapter enabled="false"/>',
        '<Clipboard/>',
        '<StorageControllers>',
        '  <StorageController name="virtio" type="VirtioSCSI" PortCount="1" useHostIOCache="false" Bootable="true">',
        '    <AttachedDevice type="HardDisk" port="0" device="0">',
        `      ${xmlElement('Image', [['uuid', `{${v.diskUuid}}`]])}`,
        '    </AttachedDevice>',
        '  </StorageController>',
        '</StorageControllers>',
        '<RTC localOrUTC="UTC"/>',
        '<Chipset type="ICH9"/>',
        `<CPU${xmlAttributes([['count', v.cpus]])}>`,
        '  <HardwareVirtExLargePages enabled="false"/>',
        '  <PAE enabled="false"/>',
        '  <NestedHWVirt enabled="true"/>',
        '  <LongMode enabled="true"/>',
        '  <X2APIC enabled="true"/>',
        '</CPU>',
      ],
      2,
    ),
    '  </Hardware>',
    '</vbox:Machine>',
  ];
  return [
    '<?xml version="1.0"?>',
    `<Envelope${xmlAttributes(NAMESPACES)}>`,
    '  <References>',
    `    ${xmlElement('File', [['ovf:href', v.diskFile], ['ovf:id', 'file1']])}`,
    '  </References>',
    '  <DiskSection>',
    '    <Info>List of the virtual disks used in the package</Info>',
    // The SDK declares streamOptimized for its (monolithicSparse, vmdk_ide) disk too; VirtualBox reads the VMDK's own header.
    `    ${xmlElement('Disk', [['ovf:capacity', v.capacityBytes], ['ovf:diskId', 'vmdisk1'], ['ovf:fileRef', 'file1'], ['ovf:format', 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized'], ['vbox:uuid', v.diskUuid]])}`,
    '  </DiskSection>',
    '  <NetworkSection>',
    '    <Info>Logical networks used in the package</Info>',
    '    <Network ovf:name="NAT">',
    '      <Description>Logical network used by this appliance.</Description>',
    '    </Network>',
    '  </NetworkSection>',
    `  <VirtualSystem${xmlAttributes([['ovf:id', v.name]])}>`,
    '    <Info>A virtual machine</Info>',
    '    <OperatingSystemSection ovf:id="100">',
    '      <Info>The kind of installed guest operating system</Info>',
    '      <Description>Linux26_64</Description>',
    '      <vbox:OSType ovf:required="false">Linux26_64</vbox:OSType>',
    '    </OperatingSystemSection>',
    '    <VirtualHardwareSection>',
    ...indent(hardware, 3),
    '    </VirtualHardwareSection>',
    ...indent(machine, 2),
    '  </VirtualSystem>',
    '</Envelope>',
    '',
  ].join('\n');
}

/** The Vagrantfile snippet the SDK writes beside the OVF (lines 52-58) so Vagrant gives the VM the OVF's MAC. */
export function renderBaseMac(mac: string): string {
  return ['Vagrant.configure("2") do |config|', `  config.vm.base_mac = "${mac}"`, 'end', ''].join('\n');
}
