/**
 * Text of the configs and descriptors that go with vendor disks: VMware .vmx,
 * OVF, OVA manifest, Vagrant box files, xl config, isolinux.cfg. Pure: every
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
