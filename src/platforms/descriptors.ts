/**
 * Text of the configs and descriptors that go with vendor disks: VMware .vmx,
 * OVA manifest, READMEs, Xen PV configs, isolinux.cfg. Pure: every
 * function returns a string from typed inputs.
 */

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

/** The README beside the VirtualBox VMDK and OVF, as _write_ovf_virtualbox_conf writes it (V:882-885). */
export function renderOvfReadme(disk: string, ovf: string): string {
  return `Copy ${disk} and ${ovf} to a VirtualBox host and run:\nVBoxManage import ${ovf}\n`;
}

/** The OVA manifest: one `SHA1(file)= digest` line per file. */
export function renderOvaManifest(entries: ReadonlyArray<{ name: string; sha1: string }>): string {
  return entries.map((e) => `SHA1(${e.name})= ${e.sha1}\n`).join('');
}

export interface XenInput {
  /** The versioned VM name. */
  name: string;
  diskFile: string;
  /** The disk's format as xl names it (raw). */
  diskFormat: string;
  memoryMiB: number;
  cpus: number;
}

/**
 * The two Xen PV configs of vm_image_util.sh _write_xl_conf (V:820-849): one
 * booting through pygrub in dom0, one through pv-grub; the rest is shared.
 */
export function renderXenConfigs(v: XenInput): { pygrub: string; pvgrub: string } {
  const common = ['', 'builder = "generic"', `name = "${v.name}"`, '', `memory = "${v.memoryMiB}"`, `vcpus = ${v.cpus}`, '# TODO(marineam): networking...', 'vif = [ ]', `disk = [ '${v.diskFile},${v.diskFormat},xvda' ]`, ''];
  return {
    pygrub: ['# Xen PV config using pygrub', 'bootloader = "pygrub"', ...common].join('\n'),
    pvgrub: ['# Xen PV config using pvgrub', 'kernel = "/usr/lib/xen/boot/pv-grub-x86_64.gz"', 'extra = "(hd0,0)/boot/grub/menu.lst"', ...common].join('\n'),
  };
}

/** The README beside them (V:851-864); the SDK's `cd` names its build directory, this one the directory the files are in. */
export function renderXenReadme(name: string, pygrub: string, pvgrub: string): string {
  return [
    'If this is a Xen Dom0 host with pygrub you can start the vm with:',
    'cd path/to/image',
    `xl create -c "${pygrub}"`,
    '',
    'Or with pvgrub instead:',
    `xl create -c "${pvgrub}"`,
    '',
    'Detach from the console with ^] and reattach with:',
    `xl console ${name}`,
    '',
    'Kill the vm with:',
    `xl destroy ${name}`,
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
