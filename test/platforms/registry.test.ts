import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../../src/errors.js';
import { buildVendorRegistry, diskFileName, loadVendorRegistry, mergeRecords, outputNames, renderTemplate, vendorsDir } from '../../src/platforms/registry.js';
/** The vendor ids Flatcar's image_to_vm.sh knows (flatcar/scripts build_library/vm_image_util.sh VALID_IMG_TYPES), in our table's order. */
const FLATCAR_VENDOR_IDS = [
  'qemu_uefi', 'ami', 'ami_vmdk', 'azure', 'gce', 'openstack', 'openstack_mini', 'oraclecloud', 'proxmoxve', 'nutanix',
  'kubevirt', 'scaleway', 'stackit', 'cloudsigma', 'exoscale', 'digitalocean', 'akamai', 'hetzner', 'cloudstack',
  'cloudstack_vhd', 'hyperv', 'hyperv_vhdx', 'vmware', 'vmware_raw', 'vmware_ova', 'virtualbox', 'vagrant',
  'vagrant_parallels', 'parallels', 'xen', 'pxe', 'iso',
];

/**
 * Flatcar's per-vendor settings (flatcar/scripts build_library/vm_image_util.sh), transcribed column by column: disk format and
 * qemu-img options, extension, layout, OEM sysext / grub oem_id, config and bundle.
 */
interface Row {
  format: string | null;
  options?: Record<string, string | boolean>;
  compressed?: boolean;
  ext: string | null;
  layout: string | null;
  oem: string | null;
  grubOemId: string | null;
  config?: string;
  bundle?: string;
  archive?: string;
  virtualSizeBytes?: number;
}
// qcow2 vendors: vm_image_util.sh (main, mid 2026) 476-477 `_write_qcow2_disk`: `qemu-img convert ... -O qcow2 -c -o compat=0.10`; 482 exoscale the same, then resized to 10G.
const TABLE: Record<string, Row> = {
  qemu_uefi: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'vm', oem: 'qemu', grubOemId: 'qemu', config: 'qemu-launch:sh' },
  ami: { format: 'raw', ext: 'bin', layout: 'vm', oem: 'ami', grubOemId: 'ec2' },
  // V:522-530 `_write_vmdk_stream_disk`: adapter_type=lsilogic, streamOptimized (vmdk-convert is not in Debian 12: qemu-img writes it).
  ami_vmdk: { format: 'vmdk', options: { adapter_type: 'lsilogic', subformat: 'streamOptimized' }, ext: 'vmdk', layout: 'vm', oem: 'ami', grubOemId: 'ec2' },
  azure: { format: 'vpc', options: { subformat: 'fixed', force_size: true }, ext: 'vhd', layout: 'azure', oem: 'azure', grubOemId: 'azure' },
  gce: { format: 'raw', ext: 'tar.gz', archive: 'disk.raw', layout: 'vm', oem: 'gce', grubOemId: 'gce' },
  openstack: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'vm', oem: 'openstack', grubOemId: 'openstack' },
  openstack_mini: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'base', oem: 'openstack', grubOemId: 'openstack' },
  oraclecloud: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'vm', oem: 'oraclecloud', grubOemId: 'oraclecloud' },
  proxmoxve: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'vm', oem: 'proxmoxve', grubOemId: 'proxmoxve' },
  nutanix: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'vm', oem: 'nutanix', grubOemId: 'nutanix' },
  kubevirt: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'qcow2', layout: 'vm', oem: 'kubevirt', grubOemId: 'kubevirt' },
  scaleway: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'qcow2', layout: 'vm', oem: 'scaleway', grubOemId: 'scaleway' },
  stackit: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'vm', oem: 'stackit', grubOemId: 'openstack' },
  cloudsigma: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'img', layout: 'base', oem: 'cloudsigma', grubOemId: 'cloudsigma' },
  exoscale: { format: 'qcow2', options: { compat: '0.10' }, compressed: true, ext: 'qcow2', layout: 'base', oem: 'exoscale', grubOemId: 'exoscale', virtualSizeBytes: 10 * 1024 ** 3 },
  digitalocean: { format: 'raw', ext: 'bin', layout: 'base', oem: 'digitalocean', grubOemId: 'digitalocean' },
  akamai: { format: 'raw', ext: 'bin', layout: 'vm', oem: 'akamai', grubOemId: 'akamai' },
  hetzner: { format: 'raw', ext: 'bin', layout: 'vm', oem: 'hetzner', grubOemId: 'hetzner' },
  cloudstack: { format: 'raw', ext: 'bin', layout: 'base', oem: 'cloudstack', grubOemId: 'cloudstack' },
  cloudstack_vhd: { format: 'vpc', options: { force_size: true }, ext: 'vhd', layout: 'base', oem: 'cloudstack', grubOemId: 'cloudstack' },
  hyperv: { format: 'vpc', options: { force_size: true }, ext: 'vhd', layout: 'base', oem: 'hyperv', grubOemId: 'hyperv' },
  hyperv_vhdx: { format: 'vhdx', options: { subformat: 'dynamic' }, ext: 'vhdx', layout: 'base', oem: 'hyperv', grubOemId: 'hyperv' },
  vmware: { format: 'vmdk', options: { adapter_type: 'lsilogic' }, ext: 'vmdk', layout: 'vm', oem: 'vmware', grubOemId: 'vmware', config: 'vmx:vmx' },
  vmware_raw: { format: 'raw', ext: 'bin', layout: 'base', oem: 'vmware', grubOemId: 'vmware' },
  // V:127-132: vmdk_stream disk, ovf_vmware conf (template_vmware.ovf), ova bundle.
  vmware_ova: { format: 'vmdk', options: { adapter_type: 'lsilogic', subformat: 'streamOptimized' }, ext: 'vmdk', layout: 'vm', oem: 'vmware', grubOemId: 'vmware', config: 'ovf:ovf', bundle: 'ova:ova' },
  virtualbox: { format: 'vmdk', options: { adapter_type: 'ide' }, ext: 'vmdk', layout: 'vm', oem: 'virtualbox', grubOemId: 'virtualbox', config: 'ovf:ovf' },
  vagrant: { format: 'vmdk', options: { adapter_type: 'ide' }, ext: 'vmdk', layout: 'vagrant', oem: 'vagrant', grubOemId: 'vagrant', bundle: 'box:box' },
  vagrant_parallels: { format: 'parallels', ext: 'hdd', layout: 'vagrant', oem: 'vagrant', grubOemId: 'vagrant', bundle: 'box:box' },
  parallels: { format: 'parallels', ext: 'hdd', layout: 'vm', oem: null, grubOemId: null, config: 'pvs:pvs', bundle: 'pvm:tgz' },
  xen: { format: 'raw', ext: 'bin', layout: 'base', oem: null, grubOemId: null, config: 'xl:cfg' },
  pxe: { format: null, ext: null, layout: null, oem: null, grubOemId: null, config: 'qemu-launch:sh' },
  iso: { format: null, ext: null, layout: null, oem: null, grubOemId: null, config: 'qemu-launch:sh' },
};
const LAYOUT_SECTORS: Record<string, number | null> = { base: null, vm: 12943360, azure: 50876416, vagrant: 33845248 };
/** OEMs vm_image_util.sh gives `linux_append="flatcar.autologin"`. */
const AUTOLOGIN = ['qemu', 'azure', 'openstack', 'proxmoxve', 'vmware'];

async function dataFiles() {
  const dir = vendorsDir();
  const read = async (name: string) => JSON.parse(await readFile(path.join(dir, name), 'utf8')) as Record<string, unknown>;
  return { defaults: await read('defaults.json'), oems: await read('oems.json'), vendors: await read('vendors.json') };
}

describe('vendor registry against flatcar/scripts vm_image_util.sh', async () => {
  const registry = await loadVendorRegistry();

  it('has exactly the 32 vendors of the table (and of the CLI list)', () => {
    expect([...registry.ids].sort()).toEqual(Object.keys(TABLE).sort());
    expect([...registry.ids].sort()).toEqual([...FLATCAR_VENDOR_IDS].sort());
    expect(registry.ids).toHaveLength(32);
  });

  it.each(Object.entries(TABLE))('%s matches its row', (id, row) => {
    const v = registry.get(id);
    expect(v.disk?.format ?? null).toBe(row.format);
    expect(v.disk?.extension ?? null).toBe(row.ext);
    if (v.disk) {
      expect(v.disk.options).toEqual(row.options ?? {});
      expect(v.disk.compressed).toBe(row.compressed ?? false);
      expect(v.disk.archive?.member).toBe(row.archive);
      expect(v.disk.virtualSizeBytes).toBe(row.virtualSizeBytes);
    }
    expect(v.layout?.name ?? null).toBe(row.layout);
    if (row.layout) expect(v.layout!.rootSectors).toBe(LAYOUT_SECTORS[row.layout]);
    expect(v.oem?.id ?? null).toBe(row.oem);
    expect(v.oem?.sysext ?? null).toBe(row.oem ? `oem-${row.oem}` : null);
    expect(v.oem?.grub.oemId ?? null).toBe(row.grubOemId);
    expect(v.config ? `${v.config.kind}:${v.config.extension}` : undefined).toBe(row.config);
    expect(v.bundle ? `${v.bundle.kind}:${v.bundle.extension}` : undefined).toBe(row.bundle);
    expect(v.kind).toBe(id === 'pxe' || id === 'iso' ? id : 'disk');
    if (v.oem) {
      expect(v.oem.grub.linuxAppend === 'flatcar.autologin').toBe(AUTOLOGIN.includes(v.oem.id));
    }
  });

  it('gives ami, azure, gce and scaleway the grub console settings of vm_image_util.sh', () => {
    const ami = registry.get('ami').oem!.grub;
    expect(ami.linuxAppend).toBe('modprobe.blacklist=xen_fbfront net.ifnames=0 nvme_core.io_timeout=4294967295');
    expect(ami).toMatchObject({ linuxConsole: 'console=ttyS0,115200n8', serial: { unit: 0, speed: 115200 }, consolePlatform: 'pc' });
    for (const id of ['azure', 'gce']) {
      const grub = registry.get(id).oem!.grub;
      expect(grub.linuxConsole).toMatch(/^(console=tty1 )?console=ttyS0,115200n8/);
      expect(grub.serial).toEqual({ unit: 0, speed: 115200 });
      expect(grub.consolePlatform).toBeUndefined();
    }
    expect(registry.get('scaleway').oem!.grub.linuxConsole).toBe('console=ttyS0,115200n8 earlycon=ttyS0,115200');
    // oem/azure/grub.cfg 11-15 (main, mid 2026): per $grub_cpu; oem/ami/grub.cfg 15-17: arm64.
    expect(registry.get('azure').oem!.grub).toMatchObject({
      linuxConsole: 'console=tty1 console=ttyS0,115200n8 earlyprintk=ttyS0,115200',
      linuxConsoleArm64: 'console=tty1 console=ttyAMA0,115200n8 earlycon=pl011,0xeffec000',
    });
    expect(ami.linuxConsoleArm64).toBe('console=tty1 console=ttyS0,115200n8 earlycon');
    expect(registry.get('scaleway').oem!.grub.serial).toBeUndefined();
  });

  it('names outputs as vm_image_util.sh does', () => {
    const n = outputNames(registry.settings, 'azure');
    expect(n.image('vhd')).toBe('flatcar_production_azure_image.vhd');
    expect(n.companion('vmx')).toBe('flatcar_production_azure.vmx');
    expect(n.machine).toBe('flatcar_production_azure');
    expect(outputNames(registry.settings, 'qemu_uefi').firmware('code')).toBe('flatcar_production_qemu_uefi_efi_code.qcow2');
    expect(registry.settings.diskAlignmentSectors).toBe(258048);
    // gce: vm_image_util.sh _write_gce_conf (line 936 on main) and ci-automation/ci-config.env:88 GCE_IMAGE_NAME.
    expect(diskFileName(outputNames(registry.settings, 'gce'), registry.get('gce').disk!)).toBe('flatcar_production_gce.tar.gz');
    expect(diskFileName(outputNames(registry.settings, 'azure'), registry.get('azure').disk!)).toBe('flatcar_production_azure_image.vhd');
  });

  it('select() parses comma lists, keeps generic apart and rejects unknown ids with the known ones', () => {
    const s = registry.select(['generic,azure', ' gce ', 'azure']);
    expect(s.generic).toBe(true);
    expect(s.vendors.map((v) => v.id)).toEqual(['azure', 'gce']);
    expect(registry.select([]).generic).toBe(true);
    let error: unknown;
    try {
      registry.select(['azure,nope']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe("unknown vendor 'nope'");
    expect((error as UsageError).hint).toContain('qemu_uefi');
    expect((error as UsageError).hint).toContain('iso');
    expect(() => registry.get('nope')).toThrow(UsageError);
  });

  it('select() refuses a vendor with no image for the architecture', () => {
    expect(registry.select(['azure'], 'arm64').vendors).toHaveLength(1);
    expect(() => registry.select(['vmware'], 'arm64')).toThrow(/vendor 'vmware' has no arm64 image/);
  });
});

describe('vendor data validation', () => {
  it('merges objects key by key and lets scalars, arrays and null replace', () => {
    expect(mergeRecords({ a: { b: 1, c: 2 }, d: [1], e: 'x', $comment: 'drop' }, { a: { c: 3 }, d: [2], e: null })).toEqual({ a: { b: 1, c: 3 }, d: [2], e: null });
    // qemu-img options belong together: a child's set replaces the parent's.
    expect(mergeRecords({ disk: { format: 'vpc', options: { force_size: true } } }, { disk: { format: 'vhdx', options: { subformat: 'dynamic' } } })).toEqual({
      disk: { format: 'vhdx', options: { subformat: 'dynamic' } },
    });
    expect(renderTemplate('flatcar_production_{vendor}_image.{ext}', { vendor: 'gce', ext: 'tar.gz' })).toBe('flatcar_production_gce_image.tar.gz');
    expect(() => renderTemplate('{vendr}', { vendor: 'x' })).toThrow(/unknown placeholder \{vendr\}/);
  });

  it('lets a vendor extend another and state only what differs', async () => {
    const files = await dataFiles();
    files.vendors = {
      base1: { description: 'one', oem: 'qemu', disk: { format: 'qcow2', extension: 'img' }, releases: [{ from: 3637, oem: 'sysext' }] },
      child: { extends: 'base1', layout: 'base' },
    };
    const r = buildVendorRegistry(files);
    expect(r.get('child')).toMatchObject({ layout: { name: 'base', rootSectors: null }, description: 'one', oem: { id: 'qemu' }, disk: { format: 'qcow2', compressed: false } });
  });

  const broken: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown disk format', { x: { oem: 'qemu', disk: { format: 'vdi' } } }, /x\.disk\.format: must be one of raw, qcow2/],
    ['an unknown field', { x: { colour: 'red' } }, /x: unknown field 'colour'/],
    ['an unknown OEM', { x: { oem: 'nowhere' } }, /x\.oem: OEM 'nowhere' is not in oems\.json/],
    ['an extends cycle', { x: { extends: 'y' }, y: { extends: 'x' } }, /extends cycle: x -> y -> x/],
    ['compression of a non-qcow2 disk', { x: { oem: 'qemu', disk: { format: 'vpc', compressed: true } } }, /only qcow2 can be written compressed/],
    ['an OVA of a non-VMDK disk', { x: { oem: 'qemu', bundle: { kind: 'ova', extension: 'ova', system: 'vmx-11' } } }, /an OVA carries a VMDK disk/],
    ['a qemu-img option that smuggles another', { x: { oem: 'qemu', disk: { format: 'qcow2', options: { compat: '1.1,preallocation=full' } } } }, /x\.disk\.options\.compat/],
    ['a pxe vendor with a disk', { x: { kind: 'pxe', oem: null } }, /a pxe vendor has no disk/],
    ['a vendor named generic', { generic: {} }, /generic' is the plain image/],
    ['a vendor without releases', { x: { oem: 'qemu' } }, /x\.releases: must list the eras/],
    ['eras that do not rise', { x: { oem: 'qemu', releases: [{ from: 4000, oem: 'package' }, { from: 3900, oem: 'sysext' }] } }, /x\.releases\[1\]\.from: eras must rise/],
    ['an unknown OEM form', { x: { oem: 'qemu', releases: [{ from: 4000, oem: 'rpm' }] } }, /x\.releases\[0\]\.oem: must be one of sysext, package, none, absent/],
    ['a none era of a vendor with an OEM', { x: { oem: 'qemu', releases: [{ from: 4000, oem: 'none' }] } }, /a vendor with an OEM has no 'none' era/],
    ['an era widening the architectures', { x: { oem: 'qemu', architectures: ['x86-64'], releases: [{ from: 4000, oem: 'sysext', architectures: ['arm64'] }] } }, /arm64 is not one of the vendor's architectures/],
    ...secureVariantCases(),
    ['an alias on an unknown architecture', { x: { oem: 'qemu', disk: { format: 'qcow2', extension: 'img', aliases: [{ vendor: 'y', from: 1, architectures: ['mips'] }] }, releases: [{ from: 4000, oem: 'sysext' }] } }, /x\.disk\.aliases\[0\]\.architectures\[0\]/],
  ];
  /** qemu_uefi's secureVariant broken one way each (its good form: vendors.json). */
  function secureVariantCases(): Array<[string, Record<string, unknown>, RegExp]> {
    const vendor = (secureVariant: unknown) => ({
      x: { oem: 'qemu', config: { kind: 'qemu-launch', boot: 'uefi-disk', extension: 'sh', secureVariant }, releases: [{ from: 4000, oem: 'sysext' }] },
    });
    const owner = '00000000-0000-0000-0000-000000000000';
    return [
      ['secure variant eras out of order', vendor({ owner, eras: [{ from: 4757, db: ['a.crt'] }, { from: 4152, db: ['a.crt'] }] }), /x\.config\.secureVariant\.eras\[1\]\.from: eras must be in ascending order/],
      ['a secure variant owner that is no GUID', vendor({ owner: 'zero', eras: [{ from: 4152, db: ['a.crt'] }] }), /x\.config\.secureVariant\.owner/],
      ['a secure variant certificate path', vendor({ owner, eras: [{ from: 4152, db: ['../etc/passwd'] }] }), /x\.config\.secureVariant\.eras\[0\]\.db\[0\]/],
      ['a secure variant without eras', vendor({ owner, eras: [] }), /x\.config\.secureVariant\.eras: must be a non-empty list/],
    ];
  }

  it.each(broken)('rejects %s with the path of the problem', async (_what, vendors, message) => {
    const files = await dataFiles();
    files.vendors = vendors;
    let error: unknown;
    try {
      buildVendorRegistry(files);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/^vendors\/vendors\.json: /);
    expect((error as Error).message).toMatch(message);
  });

  it('rejects retired records that clash with a vendor, name an unknown successor or run backwards', async () => {
    const files = await dataFiles();
    const cases: Array<[unknown, RegExp]> = [
      [{ gce: { from: 3033, until: 3100, why: 'x', instead: null } }, /retired\.json: gce: is a vendor in vendors\.json/],
      [{ old: { from: 3033, until: 3100, why: 'x', instead: 'nope' } }, /retired\.json: old\.instead: 'nope' is not a vendor/],
      [{ old: { from: 3100, until: 3033, why: 'x', instead: null } }, /retired\.json: old\.until: ends \(3033\) before it starts/],
    ];
    for (const [retired, message] of cases) expect(() => buildVendorRegistry({ ...files, retired })).toThrow(message);
    expect(buildVendorRegistry({ ...files, retired: { old: { from: 3033, until: 3100, why: 'gone', instead: 'gce' } } }).retired).toEqual([
      { id: 'old', from: 3033, until: 3100, why: 'gone', instead: 'gce' },
    ]);
  });

  it('rejects a layout that is not a positive sector count', async () => {
    const files = await dataFiles();
    (files.defaults.layouts as Record<string, unknown>).vm = -1;
    expect(() => buildVendorRegistry(files)).toThrow(/vendors\/defaults\.json: layouts\.vm: must be a positive integer/);
  });

  it('finds vendors/ at the package root', () => {
    expect(vendorsDir()).toBe(path.join(path.resolve(import.meta.dirname, '../..'), 'vendors') + path.sep);
  });
});
