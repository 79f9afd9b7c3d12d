/**
 * The OVF descriptor of vmware_ova (also the loose .ovf beside the .ova), as
 * Flatcar's SDK writes it: flatcar/scripts build_library/template_vmware.ovf,
 * filled in by vm_image_util.sh _write_ovf_vmware_conf (the template is the
 * same at lts-4081.3.10, stable-4593.2.5 and main of 2026-08). The facts and
 * the property texts below come from that template (flatcar/scripts,
 * BSD-3-Clause, Copyright The Chromium OS Authors and CoreOS, Inc.); the code
 * is ours. Pure.
 *
 * What makes the appliance usable: the ProductSection's guestinfo.*
 * properties (user-configurable, so vSphere asks for an Ignition config at
 * deploy time) and ovf:transport="com.vmware.guestInfo", which hands them to
 * the guest, where Ignition and afterburn read guestinfo.ignition.config.*.
 */
import { indent, xmlAttributes, xmlElement, type XmlAttributes } from './xml.js';

export interface VmwareOvfInput {
  /** VirtualSystem id, Name and VirtualSystemIdentifier (the SDK's `_dst_name`: no version). */
  name: string;
  /** VirtualSystemType, vmx-13 in the template (line 146). */
  system: string;
  diskFile: string;
  /** The VMDK's size in bytes (`du --bytes`). */
  diskFileBytes: number;
  /** The disk's virtual size in bytes. */
  capacityBytes: number;
  memoryMiB: number;
  cpus: number;
}

const CLOUDINIT = ' (only for coreos-cloudinit)';

/** [key, label, description, default value] of template lines 21-135; the coreos-cloudinit ones share label and description. */
const PROPERTIES: ReadonlyArray<readonly [string, string, string, string]> = [
  ['guestinfo.hostname', 'Hostname', 'Hostname', ''],
  ['guestinfo.ignition.config.data', 'Ignition/coreos-cloudinit data', 'Inline Ignition config or coreos-cloudinit data (cloud-config or script)', ''],
  ['guestinfo.ignition.config.data.encoding', 'Ignition/coreos-cloudinit data encoding', 'Encoding for Ignition config or coreos-cloudinit data (e.g., base64)', ''],
  ['guestinfo.ignition.config.url', 'Ignition/coreos-cloudinit config url', 'URL to Ignition config or coreos-cloudinit data (cloud-config or script)', ''],
  ...(
    [
      ['dns.server.0', 'Primary DNS', ''],
      ['dns.server.1', 'Secondary DNS', ''],
      ...[0, 1].flatMap((n) => {
        const which = `network interface ${n}`;
        const rows: Array<[string, string, string]> = [
          [`interface.${n}.name`, `Name for ${which}`, ''],
          [`interface.${n}.mac`, `MAC for ${which}`, ''],
          [`interface.${n}.dhcp`, `DHCP support for ${which}`, 'no'],
          [`interface.${n}.role`, `Role for ${which}`, n === 0 ? 'public' : 'private'],
          [`interface.${n}.ip.0.address`, `Main IP for ${which}`, ''],
        ];
        // Interface 0 has a second address and a second route; interface 1 has one route (template lines 76-100, 121-135).
        if (n === 0) rows.push([`interface.${n}.ip.1.address`, `Additional IP for ${which}`, '']);
        rows.push([`interface.${n}.route.0.gateway`, `Main route gateway for ${which}`, ''], [`interface.${n}.route.0.destination`, `Main route destination for ${which}`, '']);
        if (n === 0) rows.push([`interface.${n}.route.1.gateway`, `Additional route gateway for ${which}`, ''], [`interface.${n}.route.1.destination`, `Additional route destination for ${which}`, '']);
        return rows;
      }),
    ] as Array<[string, string, string]>
  ).map(([key, text, value]) => [`guestinfo.${key}`, text + CLOUDINIT, text + CLOUDINIT, value] as const),
];

/** The keys every test and README names: what Ignition reads. */
export const VMWARE_GUESTINFO_KEYS: readonly string[] = PROPERTIES.map(([key]) => key);

interface HardwareItem {
  required?: boolean;
  /** rasd:* fields in the template's (schema) order. */
  rasd: Array<[string, string | number]>;
  /** vmw:Config key/value pairs of the item. */
  config?: Array<[string, string]>;
}

function hardware(v: VmwareOvfInput): HardwareItem[] {
  return [
    { rasd: [['AllocationUnits', 'hertz * 10^6'], ['Description', 'Number of Virtual CPUs'], ['ElementName', `${v.cpus} virtual CPU(s)`], ['InstanceID', 1], ['ResourceType', 3], ['VirtualQuantity', v.cpus]] },
    { rasd: [['AllocationUnits', 'byte * 2^20'], ['Description', 'Memory Size'], ['ElementName', `${v.memoryMiB}MB of memory`], ['InstanceID', 2], ['ResourceType', 4], ['VirtualQuantity', v.memoryMiB]] },
    // The disk's controller: VMware paravirtual SCSI (template lines 164-171).
    { rasd: [['Address', 0], ['Description', 'SCSI Controller'], ['ElementName', 'SCSI Controller 0'], ['InstanceID', 3], ['ResourceSubType', 'VirtualSCSI'], ['ResourceType', 6]] },
    { rasd: [['Address', 1], ['Description', 'IDE Controller'], ['ElementName', 'VirtualIDEController 1'], ['InstanceID', 4], ['ResourceType', 5]] },
    { rasd: [['Address', 0], ['Description', 'IDE Controller'], ['ElementName', 'VirtualIDEController 0'], ['InstanceID', 5], ['ResourceType', 5]] },
    {
      required: false,
      rasd: [['AutomaticAllocation', 'false'], ['ElementName', 'VirtualVideoCard'], ['InstanceID', 6], ['ResourceType', 24]],
      config: [['enable3DSupport', 'false'], ['enableMPTSupport', 'false'], ['use3dRenderer', 'automatic'], ['useAutoDetect', 'false'], ['videoRamSizeInKB', '4096']],
    },
    {
      required: false,
      rasd: [['AutomaticAllocation', 'false'], ['ElementName', 'VirtualVMCIDevice'], ['InstanceID', 7], ['ResourceSubType', 'vmware.vmci'], ['ResourceType', 1]],
      config: [['allowUnrestrictedCommunication', 'false']],
    },
    {
      required: false,
      rasd: [['AddressOnParent', 0], ['AutomaticAllocation', 'false'], ['ElementName', 'CD-ROM 1'], ['InstanceID', 8], ['Parent', 4], ['ResourceSubType', 'vmware.cdrom.remotepassthrough'], ['ResourceType', 15]],
      config: [['backing.exclusive', 'false']],
    },
    {
      rasd: [['AddressOnParent', 0], ['ElementName', 'Hard Disk 1'], ['HostResource', 'ovf:/disk/vmdisk1'], ['InstanceID', 9], ['Parent', 3], ['ResourceType', 17]],
      config: [['backing.writeThrough', 'false']],
    },
    {
      required: false,
      rasd: [['AddressOnParent', 0], ['AutomaticAllocation', 'false'], ['Description', 'Floppy Drive'], ['ElementName', 'Floppy 1'], ['InstanceID', 10], ['ResourceSubType', 'vmware.floppy.remotedevice'], ['ResourceType', 14]],
    },
    {
      rasd: [
        ['AddressOnParent', 7], ['AutomaticAllocation', 'true'], ['Connection', 'VM Network'], ['Description', 'VmxNet3 ethernet adapter on "VM Network"'],
        ['ElementName', 'Ethernet 1'], ['InstanceID', 11], ['ResourceSubType', 'VmxNet3'], ['ResourceType', 10],
      ],
      config: [['wakeOnLanEnabled', 'true']],
    },
  ];
}

/** The VM-wide vmw:Config of template lines 244-260 (BIOS boot, hot-add, tools power operations). */
const VM_CONFIG: ReadonlyArray<readonly [string, string]> = [
  ['cpuHotAddEnabled', 'true'], ['cpuHotRemoveEnabled', 'true'], ['firmware', 'bios'], ['virtualICH7MPresent', 'false'],
  ['virtualSMCPresent', 'false'], ['memoryHotAddEnabled', 'true'], ['nestedHVEnabled', 'false'], ['powerOpInfo.powerOffType', 'preset'],
  ['powerOpInfo.resetType', 'preset'], ['powerOpInfo.standbyAction', 'checkpoint'], ['powerOpInfo.suspendType', 'preset'], ['tools.afterPowerOn', 'true'],
  ['tools.afterResume', 'true'], ['tools.beforeGuestShutdown', 'true'], ['tools.beforeGuestStandby', 'true'], ['tools.syncTimeWithHost', 'false'],
  ['tools.toolsUpgradePolicy', 'manual'],
];

const vmwConfig = ([key, value]: readonly [string, string]) => xmlElement('vmw:Config', [['ovf:required', 'false'], ['vmw:key', key], ['vmw:value', value]]);

function renderItem(item: HardwareItem): string[] {
  const attrs: XmlAttributes = item.required === false ? [['ovf:required', 'false']] : [];
  return [`<Item${xmlAttributes(attrs)}>`, ...indent([...item.rasd.map(([k, v]) => xmlElement(`rasd:${k}`, [], v)), ...(item.config ?? []).map(vmwConfig)], 1), '</Item>'];
}

/** The template's Envelope attributes (line 2), its build id included: tools that read it see the same envelope as the SDK's. */
const ENVELOPE: XmlAttributes = [
  ['vmw:buildId', 'build-1474528'],
  ['xmlns', 'http://schemas.dmtf.org/ovf/envelope/1'],
  ['xmlns:cim', 'http://schemas.dmtf.org/wbem/wscim/1/common'],
  ['xmlns:ovf', 'http://schemas.dmtf.org/ovf/envelope/1'],
  ['xmlns:rasd', 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData'],
  ['xmlns:vmw', 'http://www.vmware.com/schema/ovf'],
  ['xmlns:vssd', 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData'],
  ['xmlns:xsi', 'http://www.w3.org/2001/XMLSchema-instance'],
];

export function renderVmwareOvf(v: VmwareOvfInput): string {
  const product = [
    '<ProductSection ovf:required="false">',
    '  <Info>Flatcar Container Linux Virtual Appliance</Info>',
    ...indent(
      PROPERTIES.flatMap(([key, label, description, value]) => [
        `<Property${xmlAttributes([['ovf:userConfigurable', 'true'], ['ovf:type', 'string'], ['ovf:key', key], ['ovf:value', value]])}>`,
        `  ${xmlElement('Label', [], label)}`,
        `  ${xmlElement('Description', [], description)}`,
        '</Property>',
      ]),
      1,
    ),
    '</ProductSection>',
  ];
  const system = [
    `<VirtualSystem${xmlAttributes([['ovf:id', v.name]])}>`,
    '  <Info>A virtual machine</Info>',
    `  ${xmlElement('Name', [], v.name)}`,
    ...indent(product, 1),
    // The template's OS id (line 137): 100 is "other", refined by VMware's own osType.
    '  <OperatingSystemSection ovf:id="100" vmw:osType="other3xLinux64Guest">',
    '    <Info>The kind of installed guest operating system</Info>',
    '  </OperatingSystemSection>',
    '  <VirtualHardwareSection ovf:transport="com.vmware.guestInfo">',
    '    <Info>Virtual hardware requirements</Info>',
    '    <System>',
    '      <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>',
    '      <vssd:InstanceID>0</vssd:InstanceID>',
    `      ${xmlElement('vssd:VirtualSystemIdentifier', [], v.name)}`,
    `      ${xmlElement('vssd:VirtualSystemType', [], v.system)}`,
    '    </System>',
    ...indent(hardware(v).flatMap(renderItem), 2),
    ...indent(VM_CONFIG.map(vmwConfig), 2),
    '  </VirtualHardwareSection>',
    '</VirtualSystem>',
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<Envelope${xmlAttributes(ENVELOPE)}>`,
    '  <References>',
    `    ${xmlElement('File', [['ovf:href', v.diskFile], ['ovf:id', 'file1'], ['ovf:size', v.diskFileBytes]])}`,
    '  </References>',
    '  <DiskSection>',
    '    <Info>Virtual disk information</Info>',
    `    ${xmlElement('Disk', [
      ['ovf:capacity', v.capacityBytes], ['ovf:capacityAllocationUnits', 'byte'], ['ovf:diskId', 'vmdisk1'], ['ovf:fileRef', 'file1'],
      ['ovf:format', 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized'], ['ovf:populatedSize', 0],
    ])}`,
    '  </DiskSection>',
    '  <NetworkSection>',
    '    <Info>The list of logical networks</Info>',
    '    <Network ovf:name="VM Network">',
    '      <Description>The VM Network network</Description>',
    '    </Network>',
    '  </NetworkSection>',
    ...indent(system, 1),
    '</Envelope>',
    '',
  ].join('\n');
}
