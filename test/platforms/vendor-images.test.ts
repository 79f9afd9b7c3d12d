/**
 * Vendor images end to end: a small synthetic release (real layout, real
 * filesystems, OEM sysexts) is built once, the heavy vendors are written in
 * one call, and every result is read back with qemu-img, sgdisk, dumpe2fs,
 * tar, cpio and a read-only mount.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSyntheticRelease, type SyntheticRelease } from '../../src/demo/synthetic-release.js';
import { DiskFormatError, InputError, UsageError } from '../../src/errors.js';
import { MountBackend } from '../../src/backend/mount.js';
import { acquirePrivileges } from '../../src/privileged/privileged.js';
import { quietReporter } from '../../src/util/report.js';
import { ResourceScope } from '../../src/util/scope.js';
import { InsufficientSpaceError } from '../../src/platforms/space.js';
import { writeVendorImages, type VendorResult, type WriteVendorImagesOptions } from '../../src/platforms/write.js';
import { vendorsDir } from '../../src/platforms/registry.js';
import { freePort } from '../helpers/free-port.js';
import { ext4Header, loopsUnder, mountsUnder, ok, partitionInfo, partitionNumber, qemuInfo, SECTOR, tool, withReadOnlyMount, xmlAttributeValues, xpath } from './helpers.js';

// A release whose SDK writes every vendor here with its OEM sysext (vendors.json releases: 4722 and later).
const VERSION = '4790.0.0';
const ALIGN = 258048;
const OEM_IDS = ['qemu', 'azure', 'gce', 'vmware', 'vagrant', 'virtualbox', 'hyperv', 'exoscale', 'openstack', 'digitalocean', 'hetzner'];
const HEAVY = ['qemu_uefi', 'azure', 'gce', 'vmware_ova', 'vagrant', 'virtualbox', 'hyperv_vhdx', 'exoscale', 'vmware', 'xen', 'pxe', 'iso', 'parallels', 'vagrant_parallels'];
/** write_hdd.sh: the constant id of a disk's first snapshot, part of the .hds name. */
const SNAPSHOT = '{5fbaabe3-6958-40ff-92a7-860e329aab41}';
const hds = (disk: string) => `${disk}/${disk}.0.${SNAPSHOT}.hds`;

let root: string;
let rel: SyntheticRelease;
let workDir: string;
let results: Map<string, VendorResult>;
const warnings: string[] = [];
/** The generic image as built: ROOT's place and size, the disk size. */
let base: { rootFirst: number; rootSectors: number; diskBytes: number; oemNumber: number };

function sha(file: string, algorithm = 'sha256'): Promise<string> {
  return readFile(file).then((b) => createHash(algorithm).update(b).digest('hex'));
}

function oemSysextOf(id: string): string {
  return path.join(rel.releaseDir, `oem-${id}.raw`);
}

async function write(vendors: string[], dir: string, extra: Partial<WriteVendorImagesOptions> = {}): Promise<Map<string, VendorResult>> {
  const scope = new ResourceScope();
  try {
    const list = await writeVendorImages({
      bakedImage: rel.imagePath,
      vendors,
      workDir: dir,
      version: VERSION,
      arch: 'x86-64',
      oemSysexts: new Map(OEM_IDS.map((id) => [id, oemSysextOf(id)])),
      backend: new MountBackend(await acquirePrivileges('vendor image tests')),
      scope,
      report: { ...quietReporter, warn: (text: string) => warnings.push(text) },
      concurrency: 2,
      ...extra,
    });
    return new Map(list.map((r) => [r.vendor, r]));
  } finally {
    await scope.release();
  }
}

function output(vendor: string, file: string): string {
  const r = results.get(vendor)!;
  expect(r.error?.message).toBeUndefined();
  const o = r.outputs.find((x) => x.file === file);
  if (!o) throw new Error(`${vendor} has no output ${file}: ${r.outputs.map((x) => x.file).join(', ')}`);
  return o.workFile;
}

/** Disk size a grown layout must have: the smallest multiple of 258048 holding ROOT and the backup GPT. */
function grownDiskBytes(rootSectors: number): number {
  const needed = base.rootFirst + rootSectors + 33;
  return Math.ceil(needed / ALIGN) * ALIGN * SECTOR;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'flatbake-vendor-e2e-'));
  rel = await buildSyntheticRelease({ root: path.join(root, 'release'), version: VERSION, oemIds: OEM_IDS });
  const rootNumber = await partitionNumber(rel.imagePath, 'ROOT');
  const r = await partitionInfo(rel.imagePath, rootNumber);
  base = { rootFirst: r.first, rootSectors: r.sectors, diskBytes: (await stat(rel.imagePath)).size, oemNumber: await partitionNumber(rel.imagePath, 'OEM') };
  workDir = path.join(root, 'work');
  // As if two sysexts were baked: pxe and iso say they lack them.
  results = await write(HEAVY, workDir, { bakedSysexts: ['hello', 'wasmtime'] });
});

afterAll(async () => {
  if (!root) return;
  // Nothing may stay attached or mounted from this run.
  expect(await loopsUnder(root)).toEqual([]);
  expect(await mountsUnder(root)).toEqual([]);
  await rm(root, { recursive: true, force: true });
});

interface DiskCase {
  vendor: string;
  /** The disk file, or a function extracting it from the bundle into a dir. */
  disk: string | ((dir: string) => Promise<string>);
  format: string;
  rootSectors: number;
  /** Expected virtual size (default: from the layout). */
  virtualSize?: number;
  oem: string | null;
  grubOemId?: string;
  checkable: boolean;
}

const extract = (vendor: string, bundle: string, member: string, gz: boolean) => async (dir: string) => {
  await ok('tar', [gz ? '-xzf' : '-xf', output(vendor, bundle), '-C', dir, member]);
  return path.join(dir, member);
};

const DISKS: DiskCase[] = [
  { vendor: 'qemu_uefi', disk: 'flatcar_production_qemu_uefi_image.img', format: 'qcow2', rootSectors: 12943360, oem: 'qemu', checkable: true },
  { vendor: 'azure', disk: 'flatcar_production_azure_image.vhd', format: 'vpc', rootSectors: 50876416, oem: 'azure', checkable: false },
  { vendor: 'gce', disk: extract('gce', 'flatcar_production_gce.tar.gz', 'disk.raw', true), format: 'raw', rootSectors: 12943360, oem: 'gce', checkable: false },
  {
    vendor: 'vmware_ova',
    disk: 'flatcar_production_vmware_ova_image.vmdk',
    format: 'vmdk',
    rootSectors: 12943360,
    oem: 'vmware',
    checkable: true,
  },
  { vendor: 'vagrant', disk: extract('vagrant', 'flatcar_production_vagrant.box', './flatcar_production_vagrant_image.vmdk', true), format: 'vmdk', rootSectors: 33845248, oem: 'vagrant', checkable: true },
  { vendor: 'hyperv_vhdx', disk: 'flatcar_production_hyperv_vhdx_image.vhdx', format: 'vhdx', rootSectors: -1, oem: 'hyperv', checkable: true },
  { vendor: 'exoscale', disk: 'flatcar_production_exoscale_image.qcow2', format: 'qcow2', rootSectors: -1, virtualSize: 10 * 1024 ** 3, oem: 'exoscale', checkable: true },
  { vendor: 'vmware', disk: 'flatcar_production_vmware_image.vmdk', format: 'vmdk', rootSectors: 12943360, oem: 'vmware', checkable: true },
  { vendor: 'xen', disk: 'flatcar_production_xen_image.bin', format: 'raw', rootSectors: -1, oem: null, checkable: false },
  {
    vendor: 'parallels',
    disk: extract('parallels', 'flatcar_production_parallels.tgz', `./${hds('flatcar_production_parallels_image.hdd')}`, true),
    format: 'parallels',
    rootSectors: 12943360,
    oem: null,
    checkable: true,
  },
  {
    vendor: 'vagrant_parallels',
    disk: extract('vagrant_parallels', 'flatcar_production_vagrant_parallels.box', `./tmp.pvm/${hds('flatcar_production_vagrant_parallels_image.hdd')}`, true),
    format: 'parallels',
    rootSectors: 33845248,
    oem: 'vagrant',
    checkable: true,
  },
];

describe.each(DISKS)('$vendor disk', (c) => {
  let scratch: string;
  let disk: string;
  let raw: string;
  const rootSectors = () => (c.rootSectors === -1 ? base.rootSectors : c.rootSectors);

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(root, `check-${c.vendor}-`));
    disk = typeof c.disk === 'string' ? output(c.vendor, c.disk) : await c.disk(scratch);
    raw = path.join(scratch, 'back.raw');
    await ok('qemu-img', ['convert', '-f', c.format, '-O', 'raw', disk, raw]);
  });
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('has the format and virtual size of the vendor', async () => {
    const info = await qemuInfo(disk, c.format);
    expect(info.format).toBe(c.format);
    const expected = c.virtualSize ?? (c.rootSectors === -1 ? base.diskBytes : grownDiskBytes(c.rootSectors));
    expect(info['virtual-size']).toBe(expected);
    expect(expected % (c.virtualSize ? SECTOR : ALIGN * SECTOR)).toBe(0);
    if (c.checkable) {
      const check = await tool('qemu-img', ['check', '-f', c.format, disk]);
      expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    }
    if (c.format === 'qcow2') {
      // Every qcow2 vendor as vm_image_util.sh 476-477 and 482 write it: `-c -o compat=0.10`.
      expect(info['format-specific']?.data.compat).toBe('0.10');
      const check = JSON.parse(await ok('qemu-img', ['check', '-f', 'qcow2', '--output=json', disk])) as { 'compressed-clusters'?: number };
      expect(check['compressed-clusters']).toBeGreaterThan(0);
    }
  });

  it('has a valid GPT with ROOT at the layout size and the ext4 grown to fill it', async () => {
    expect(await ok('sgdisk', ['-v', raw])).toContain('No problems found');
    const p = await partitionInfo(raw, await partitionNumber(raw, 'ROOT'));
    expect(p.name).toBe('ROOT');
    expect(p.first).toBe(base.rootFirst);
    expect(p.sectors).toBe(rootSectors());
    const fs = await ext4Header(raw, p.first * SECTOR);
    expect(Number(fs['Block count']) * Number(fs['Block size'])).toBe(rootSectors() * SECTOR);
    expect(fs['Filesystem volume name']).toBe('ROOT');
    // e2fsck -n reads without writing: the grown filesystem is clean.
    expect((await tool('e2fsck', ['-f', '-n', `${raw}?offset=${p.first * SECTOR}`])).exitCode).toBe(0);
  });

  it(c.oem ? 'holds grub.cfg, the OEM sysext, its marker and oem-release on OEM' : 'leaves OEM empty (no OEM for this vendor)', async () => {
    const p = await partitionInfo(raw, base.oemNumber);
    await withReadOnlyMount(raw, p.first * SECTOR, p.sectors * SECTOR, 'btrfs', async (dir) => {
      if (!c.oem) {
        expect(await readdir(dir)).toEqual([]);
        return;
      }
      expect((await readdir(dir)).sort()).toEqual(['grub.cfg', 'oem-release', 'sysext']);
      expect((await readdir(path.join(dir, 'sysext'))).sort()).toEqual([`active-oem-${c.oem}`, `oem-${c.oem}-${VERSION}.raw`]);
      expect(await sha(path.join(dir, 'sysext', `oem-${c.oem}-${VERSION}.raw`))).toBe(await sha(oemSysextOf(c.oem)));
      expect((await stat(path.join(dir, 'sysext', `active-oem-${c.oem}`))).size).toBe(0);
      const grub = await readFile(path.join(dir, 'grub.cfg'), 'utf8');
      expect(grub).toContain(`set oem_id="${c.oem}"\n`);
      const release = await readFile(path.join(dir, 'oem-release'), 'utf8');
      expect(release).toContain(`\nID=${c.oem}\n`);
      expect(release).toContain(`VERSION_ID=${VERSION}\n`);
      expect(release).not.toMatch(/SYSEXT_|ID=flatcar|ARCHITECTURE/);
    });
  });
});

describe('vendor extras', () => {
  it('reports every output with its sha256 and size, under the final name', async () => {
    for (const r of results.values()) {
      expect(r.ok, `${r.vendor}: ${r.error?.message}`).toBe(true);
      for (const o of r.outputs) {
        expect(path.basename(o.workFile)).toBe(o.file);
        expect(o.file).toMatch(new RegExp(`^flatcar_production_${r.vendor}[._]`));
        expect(o.size).toBe((await stat(o.workFile)).size);
        if (o.size < 64 << 20) expect(o.sha256).toBe(await sha(o.workFile));
      }
    }
    // No scratch left over beside the outputs.
    for (const vendor of HEAVY) expect((await readdir(path.join(workDir, vendor))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('qemu_uefi: compressed qcow2 compat 0.10, OVMF as qcow2, a launch script that boots them', async () => {
    const info = await qemuInfo(output('qemu_uefi', 'flatcar_production_qemu_uefi_image.img'));
    expect(info['format-specific']?.data.compat).toBe('0.10');
    const check = await ok('qemu-img', ['check', output('qemu_uefi', 'flatcar_production_qemu_uefi_image.img')]);
    expect(check).toMatch(/[1-9][\d.]*% compressed clusters/);
    for (const part of ['code', 'vars']) expect((await qemuInfo(output('qemu_uefi', `flatcar_production_qemu_uefi_efi_${part}.qcow2`))).format).toBe('qcow2');
    const script = output('qemu_uefi', 'flatcar_production_qemu_uefi.sh');
    const help = await tool(script, ['-h']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: flatcar_production_qemu_uefi.sh');
    // `echo` as qemu: the script's command line, with every file it names present beside it.
    const line = await ok(script, [], { env: { QEMU: 'echo' } });
    const files = [...line.matchAll(/file=([^ ,\n]+)/g)].map((m) => m[1]!);
    expect(files.map((f) => path.basename(f)).sort()).toEqual([
      'flatcar_production_qemu_uefi_efi_code.qcow2',
      'flatcar_production_qemu_uefi_efi_vars.qcow2',
      'flatcar_production_qemu_uefi_image.img',
    ]);
    expect(line).not.toContain('smm=on');
    for (const f of files) await stat(f);
    // The SDK's other names of the disk: relative symlinks beside it (write_vm_disk, V:451-464 at HEAD), in the result.
    const disk = results.get('qemu_uefi')!.outputs.find((o) => o.file === 'flatcar_production_qemu_uefi_image.img')!;
    expect(disk.aliases).toEqual(['flatcar_production_qemu_image.img', 'flatcar_production_qemu_uefi_secure_image.img']);
    for (const alias of disk.aliases!) expect((await ok('readlink', [path.join(path.dirname(disk.workFile), alias)])).trim()).toBe('flatcar_production_qemu_uefi_image.img');
    expect(await readFile(output('qemu_uefi', 'flatcar_production_qemu_uefi.README'), 'utf8')).toContain('flatcar_production_qemu_uefi_efi_vars.qcow2');
  });

  it('qemu_uefi_secure beside qemu_uefi: its script boots the same disk with Debian\'s Secure Boot firmware (the SDK\'s variant, V:689-735 at alpha-4790.0.0)', async () => {
    // The code is Debian's secboot build, converted to qcow2 without a change.
    const code = output('qemu_uefi', 'flatcar_production_qemu_uefi_secure_efi_code.qcow2');
    expect((await qemuInfo(code)).format).toBe('qcow2');
    expect(await ok('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', code, '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd'])).toContain('Images are identical');
    // The variables are Debian's Microsoft-key store with what 4790's SDK adds to db (V:723-733 at HEAD):
    // DB.crt and flatcar-sb-dev-ca.pem, owner all zeros, found as openssl writes their DER.
    const vars = output('qemu_uefi', 'flatcar_production_qemu_uefi_secure_efi_vars.qcow2');
    expect((await qemuInfo(vars)).format).toBe('qcow2');
    expect((await tool('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', vars, '/usr/share/OVMF/OVMF_VARS_4M.ms.fd'])).exitCode).toBe(1);
    const rawVars = path.join(root, 'secure-vars.raw');
    await ok('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', vars, rawVars]);
    const varsBytes = await readFile(rawVars);
    for (const cert of ['DB.crt', 'flatcar-sb-dev-ca.pem']) {
      const der = (await execa('openssl', ['x509', '-in', path.join(vendorsDir(), 'secure-boot', cert), '-outform', 'DER'], { encoding: 'buffer', stripFinalNewline: false })).stdout as Buffer;
      expect(varsBytes.indexOf(Buffer.concat([Buffer.alloc(16), der])), cert).toBeGreaterThan(0);
    }
    await rm(rawVars);
    const script = output('qemu_uefi', 'flatcar_production_qemu_uefi_secure.sh');
    const line = await ok(script, [], { env: { QEMU: 'echo' } });
    expect([...line.matchAll(/file=([^ ,\n]+)/g)].map((m) => path.basename(m[1]!)).sort()).toEqual([
      'flatcar_production_qemu_uefi_image.img',
      'flatcar_production_qemu_uefi_secure_efi_code.qcow2',
      'flatcar_production_qemu_uefi_secure_efi_vars.qcow2',
    ]);
    const readme = await readFile(output('qemu_uefi', 'flatcar_production_qemu_uefi.README'), 'utf8');
    expect(readme).toContain('./flatcar_production_qemu_uefi_secure.sh boots the same disk');
    expect(readme).toContain('flatcar_production_qemu_uefi_secure_efi_vars.qcow2');
    expect(readme.replace(/\s+/g, ' ')).toContain('with Microsoft\'s keys enrolled, and in db also DB.crt, flatcar-sb-dev-ca.pem, as Flatcar\'s SDK adds them');
    // Real qemu (TCG) runs the script beside a copy of the disk whose EFI-SYSTEM holds an unsigned GRUB (grub-mkimage):
    // the firmware starts (SMM and the secure pflash are set), finds the loader, and refuses it.
    const run = await mkdtemp(path.join(root, 'secure-boot-'));
    for (const f of ['flatcar_production_qemu_uefi_secure.sh', 'flatcar_production_qemu_uefi_secure_efi_code.qcow2', 'flatcar_production_qemu_uefi_secure_efi_vars.qcow2']) {
      await ok('cp', ['--sparse=always', output('qemu_uefi', f), path.join(run, f)]);
    }
    const raw = path.join(run, 'disk.raw');
    await ok('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', output('qemu_uefi', 'flatcar_production_qemu_uefi_image.img'), raw]);
    const esp = `${raw}@@${(await partitionInfo(raw, await partitionNumber(raw, 'EFI-SYSTEM'))).first * SECTOR}`;
    await ok('grub-mkimage', ['-O', 'x86_64-efi', '-p', '/EFI/boot', '-o', path.join(run, 'grub.efi'), 'normal']);
    await tool('mmd', ['-D', 's', '-i', esp, '::/EFI', '::/EFI/boot']);
    await ok('mcopy', ['-o', '-i', esp, path.join(run, 'grub.efi'), '::/EFI/boot/bootx64.efi']);
    await ok('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, path.join(run, 'flatcar_production_qemu_uefi_image.img')]);
    await rm(raw);
    // A port of its own for the script's ssh forward: its default, 2222, may be held by another test's qemu.
    const child = execa(path.join(run, 'flatcar_production_qemu_uefi_secure.sh'), ['-a', 'tcg', '-s', '-m', '512', '-p', String(await freePort())], { reject: false, all: true, forceKillAfterDelay: 2000 });
    let seen = '';
    const verdict = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), 240_000);
      child.all!.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        if (/failed to (load|start) Boot\d+ "UEFI Misc Device".*: (Access Denied|Security Violation)/.test(seen)) {
          clearTimeout(timer);
          resolve('refused');
        }
      });
      void child.then(() => resolve('exited'));
    });
    child.kill('SIGTERM');
    await child;
    expect(verdict, seen.slice(-2000)).toBe('refused');
  }, 300_000);

  it('azure: a fixed VHD of the whole disk', async () => {
    const vhd = output('azure', 'flatcar_production_azure_image.vhd');
    expect((await qemuInfo(vhd, 'vpc'))['format-specific']).toBeUndefined();
    // Fixed VHD: the raw disk followed by a 512-byte footer starting with "conectix".
    const size = (await stat(vhd)).size;
    expect(size).toBe(grownDiskBytes(50876416) + 512);
    const footer = await ok('tail', ['-c', '512', vhd]);
    expect(footer.startsWith('conectix')).toBe(true);
  });

  it('gce: a sparse oldgnu tar.gz holding only disk.raw', async () => {
    const listing = await ok('tar', ['-tvzf', output('gce', 'flatcar_production_gce.tar.gz')]);
    expect(listing.trim().split('\n')).toHaveLength(1);
    expect(listing).toMatch(/ disk\.raw\n$/);
    expect(listing).toContain(String(grownDiskBytes(12943360)));
    // gzip'd oldgnu: the magic "ustar  \0" at offset 257 of the first header.
    const header = await ok('sh', ['-c', `gzip -dc '${output('gce', 'flatcar_production_gce.tar.gz')}' | head -c 265 | tail -c 8 | od -An -c`]);
    expect(header.replace(/\s+/g, ' ').trim()).toBe('u s t a r \\0');
  });

  // flatcar/scripts build_library/vm_image_util.sh (main 2026-08; the same at stable-4593.2.5 and lts-4081.3.10):
  // _write_ova_bundle (V:1025-1039) tars OVF, .mf, VMDK and publishes the OVA, the .ovf and the VMDK;
  // _write_ovf_vmware_conf (V:943-960) fills build_library/template_vmware.ovf.
  it('vmware_ova: the OVA of the SDK (OVF, manifest, VMDK), with the OVF and VMDK beside it', async () => {
    const names = ['flatcar_production_vmware_ova.ovf', 'flatcar_production_vmware_ova.mf', 'flatcar_production_vmware_ova_image.vmdk'];
    const ova = output('vmware_ova', 'flatcar_production_vmware_ova.ova');
    expect(results.get('vmware_ova')!.outputs.map((o) => o.file).sort()).toEqual([names[2], names[0], 'flatcar_production_vmware_ova.ova'].sort());
    expect((await ok('tar', ['-tf', ova])).trim().split('\n')).toEqual(names);
    const dir = await mkdtemp(path.join(root, 'ova-'));
    await ok('tar', ['-xf', ova, '-C', dir]);
    const [ovf, mf, vmdk] = names.map((n) => path.join(dir, n)) as [string, string, string];
    // V:1033-1034: the VMDK's line first, then the OVF's.
    expect(await readFile(mf, 'utf8')).toBe(`SHA1(${names[2]})= ${await sha(vmdk, 'sha1')}\nSHA1(${names[0]})= ${await sha(ovf, 'sha1')}\n`);
    expect(await sha(ovf)).toBe(await sha(output('vmware_ova', names[0]!)));
    expect(await sha(vmdk)).toBe(await sha(output('vmware_ova', names[2]!)));
    expect((await tool('xmllint', ['--noout', ovf])).exitCode).toBe(0);
    expect(await xmlAttributeValues(ovf, 'File', 'href')).toEqual([names[2]]);
    expect(await xmlAttributeValues(ovf, 'File', 'size')).toEqual([String((await stat(vmdk)).size)]);
    expect(await xmlAttributeValues(ovf, 'Disk', 'capacity')).toEqual([String(grownDiskBytes(12943360))]);
    // template_vmware.ovf 19-40: user-configurable guestinfo properties Ignition reads at deploy time.
    const keys = await xmlAttributeValues(ovf, 'Property', 'key');
    expect(keys.slice(0, 4)).toEqual(['guestinfo.hostname', 'guestinfo.ignition.config.data', 'guestinfo.ignition.config.data.encoding', 'guestinfo.ignition.config.url']);
    expect(keys).toHaveLength(23); // template lines 21-135
    expect(new Set(await xmlAttributeValues(ovf, 'Property', 'userConfigurable'))).toEqual(new Set(['true']));
    expect(await xpath(ovf, "string(//*[local-name()='ProductSection']/@*[local-name()='required'])")).toBe('false');
    // Line 140: the properties reach the guest through VMware's guestinfo; 146: vmx-13; 137: the OS id.
    expect(await xmlAttributeValues(ovf, 'VirtualHardwareSection', 'transport')).toEqual(['com.vmware.guestInfo']);
    expect(await xpath(ovf, "string(//*[local-name()='VirtualSystemType'])")).toBe('vmx-13');
    expect(await xmlAttributeValues(ovf, 'OperatingSystemSection', 'id')).toEqual(['100']);
    expect(await xmlAttributeValues(ovf, 'OperatingSystemSection', 'osType')).toEqual(['other3xLinux64Guest']);
    // Lines 164-171 and 215-223: the disk hangs off the paravirtual SCSI controller, not IDE.
    const item = (cond: string, field: string) => xpath(ovf, `string(//*[local-name()='Item'][${cond}]/*[local-name()='${field}'])`);
    const scsi = await item("*[local-name()='ResourceSubType']='VirtualSCSI'", 'InstanceID');
    expect(await item("*[local-name()='InstanceID']=" + scsi, 'ResourceType')).toBe('6');
    expect(await item("*[local-name()='ResourceType']='17'", 'Parent')).toBe(scsi);
    expect(await item("*[local-name()='ResourceType']='17'", 'HostResource')).toBe('ovf:/disk/vmdisk1');
    expect(await item("*[local-name()='ResourceType']='10'", 'ResourceSubType')).toBe('VmxNet3');
    // V:522-530: adapter_type=lsilogic, streamOptimized.
    expect((await qemuInfo(vmdk))['format-specific']?.data['create-type']).toBe('streamOptimized');
    expect(await ok('sh', ['-c', `head -c 4096 '${vmdk}' | strings`])).toContain('ddb.adapterType = "lsilogic"');
  });

  // build_library/virtualbox_ovf.sh (main 2026-08) 62-188 and vm_image_util.sh _write_ovf_virtualbox_conf (V:868-888).
  it('virtualbox: the VMDK, the OVF of virtualbox_ovf.sh (virtio SCSI and NIC, EFI, ICH9, UTC) and the README', async () => {
    const vmdk = output('virtualbox', 'flatcar_production_virtualbox_image.vmdk');
    const ovf = output('virtualbox', 'flatcar_production_virtualbox.ovf');
    expect(await readFile(output('virtualbox', 'flatcar_production_virtualbox.README'), 'utf8')).toBe(
      'Copy flatcar_production_virtualbox_image.vmdk and flatcar_production_virtualbox.ovf to a VirtualBox host and run:\nVBoxManage import flatcar_production_virtualbox.ovf\n',
    );
    expect((await tool('xmllint', ['--noout', ovf])).exitCode).toBe(0);
    expect(await xmlAttributeValues(ovf, 'File', 'href')).toEqual(['flatcar_production_virtualbox_image.vmdk']);
    expect(await xmlAttributeValues(ovf, 'Disk', 'capacity')).toEqual([String((await qemuInfo(vmdk))['virtual-size'])]);
    const name = `flatcar_production_virtualbox-${VERSION.replace(/\./g, '-')}`;
    expect(await xmlAttributeValues(ovf, 'VirtualSystem', 'id')).toEqual([name]);
    expect(await xmlAttributeValues(ovf, 'Machine', 'name')).toEqual([name]);
    // Lines 109-117 and 134-143: the disk hangs off the virtio-SCSI controller.
    const item = (cond: string, field: string) => xpath(ovf, `string(//*[local-name()='Item'][${cond}]/*[local-name()='${field}'])`);
    const controller = await item("*[local-name()='ResourceSubType']='VirtioSCSI'", 'InstanceID');
    expect(await item("*[local-name()='ResourceType']='17'", 'Parent')).toBe(controller);
    // Lines 151, 163, 170, 176, 177: EFI, a virtio NIC, the VirtioSCSI storage controller, RTC in UTC, ICH9.
    expect(await xmlAttributeValues(ovf, 'Firmware', 'type')).toEqual(['EFI']);
    expect(await xmlAttributeValues(ovf, 'Adapter', 'type')).toEqual(['virtio']);
    expect(await xmlAttributeValues(ovf, 'Adapter', 'MACAddress')).toEqual([expect.stringMatching(/^080027[0-9A-F]{6}$/)]);
    expect(await xmlAttributeValues(ovf, 'StorageController', 'type')).toEqual(['VirtioSCSI']);
    expect(await xmlAttributeValues(ovf, 'RTC', 'localOrUTC')).toEqual(['UTC']);
    expect(await xmlAttributeValues(ovf, 'Chipset', 'type')).toEqual(['ICH9']);
    // The disk's UUID is the one the machine attaches.
    const [uuid] = await xmlAttributeValues(ovf, 'Disk', 'uuid');
    expect(await xmlAttributeValues(ovf, 'Image', 'uuid')).toEqual([`{${uuid}}`]);
    // V:505-508 vmdk_ide.
    expect(await ok('sh', ['-c', `head -c 4096 '${vmdk}' | strings`])).toContain('ddb.adapterType = "ide"');
  });

  // vm_image_util.sh _copy_vagrant_files, _write_vagrant_conf, _write_box_bundle (V:890-1023), build_library/oem/vagrant/build/box/*.
  it('vagrant: the box of the SDK (its Vagrantfile, configure_networks.rb, base_mac.rb with the OVF\'s MAC, box.ovf, the VMDK) and flatcar_production_vagrant.json', async () => {
    const box = output('vagrant', 'flatcar_production_vagrant.box');
    const vmdk = 'flatcar_production_vagrant_image.vmdk';
    // tar -czf box -C dir . (V:994)
    expect((await ok('tar', ['-tzf', box])).trim().split('\n').sort()).toEqual(
      ['./', './Vagrantfile', './base_mac.rb', './box.ovf', './configure_networks.rb', './metadata.json', `./${vmdk}`].sort(),
    );
    const member = (name: string) => ok('tar', ['-xzOf', box, `./${name}`]);
    expect(JSON.parse(await member('metadata.json'))).toEqual({ provider: 'virtualbox', architecture: 'amd64' });
    const vagrantfile = await member('Vagrantfile');
    for (const line of [
      'Vagrant.require_version ">= 2.2.5"',
      "require_relative 'configure_networks.rb'",
      "require_relative 'base_mac.rb'",
      'config.ssh.insert_key = false',
      'vb.customize ["guestproperty", "set", :id, "/Ignition/Config", File.read("config.ign")]',
    ]) expect(vagrantfile).toContain(line);
    expect(vagrantfile).toMatch(/^# flatbake ships this file unchanged[^\n]*\n# flatcar\/scripts build_library\/oem\/vagrant\/build\/box\/Vagrantfile/);
    expect(await member('configure_networks.rb')).toContain('configure_networks_cloud_init(machine, networks)');
    const dir = await mkdtemp(path.join(root, 'box-'));
    await ok('tar', ['-xzf', box, '-C', dir, './box.ovf']);
    const ovf = path.join(dir, 'box.ovf');
    expect(await xmlAttributeValues(ovf, 'File', 'href')).toEqual([vmdk]);
    expect(await xmlAttributeValues(ovf, 'StorageController', 'type')).toEqual(['VirtioSCSI']);
    const [mac] = await xmlAttributeValues(ovf, 'Adapter', 'MACAddress');
    expect(await member('base_mac.rb')).toBe(`Vagrant.configure("2") do |config|\n  config.vm.base_mac = "${mac}"\nend\n`);
    // The catalogue: named after the update group of the image's /usr/share/flatcar/update.conf (4790.0.0: alpha).
    const catalogue = JSON.parse(await readFile(output('vagrant', 'flatcar_production_vagrant.json'), 'utf8')) as Record<string, unknown>;
    expect(catalogue).toEqual({
      name: 'flatcar-alpha',
      description: 'Flatcar alpha',
      versions: [
        {
          version: VERSION,
          providers: [
            { name: 'virtualbox', url: `https://bincache.flatcar-linux.net/images/amd64/${VERSION}/flatcar_production_vagrant.box`, checksum_type: 'sha256', checksum: await sha(box), architecture: 'amd64' },
            // vagrant_parallels, written in the same run, shares the catalogue (see its test).
            {
              name: 'parallels',
              url: `https://bincache.flatcar-linux.net/images/amd64/${VERSION}/flatcar_production_vagrant_parallels.box`,
              checksum_type: 'sha256',
              checksum: await sha(output('vagrant_parallels', 'flatcar_production_vagrant_parallels.box')),
              architecture: 'amd64',
            },
          ],
        },
      ],
    });
  });

  /** Fills the SDK's heredoc (test/fixtures/flatcar-sdk) as the script's shell would, with `values` for each $(...)/${...} in order. */
  async function sdkHeredoc(fixture: string, fill: Record<string, Array<string | number>>): Promise<string> {
    let text = await readFile(new URL(`../fixtures/flatcar-sdk/${fixture}`, import.meta.url), 'utf8');
    for (const [expr, values] of Object.entries(fill)) for (const value of values) text = text.replace(expr, String(value));
    return text;
  }

  async function unpack(vendor: string, bundle: string): Promise<string> {
    const dir = await mkdtemp(path.join(root, `${vendor}-unpacked-`));
    await ok('tar', ['-xzf', output(vendor, bundle), '-C', dir]);
    return dir;
  }

  /** DiskDescriptor.xml and config.pvs of a pvm directory, compared with write_hdd.sh (53-92) and parallels_pvs.sh (55-572) at alpha-4790.0.0. */
  async function checkPvm(pvm: string, disk: string, vmName: string, template: 0 | 1): Promise<void> {
    const snapshot = path.join(pvm, hds(disk));
    const virtual = (await qemuInfo(snapshot, 'parallels'))['virtual-size'];
    const descriptor = path.join(pvm, disk, 'DiskDescriptor.xml');
    expect(await tool('xmllint', ['--noout', descriptor])).toMatchObject({ exitCode: 0 });
    // The disk in 512-byte sectors, 16 heads, 32 sectors per track (write_hdd.sh 57-61).
    expect(await xpath(descriptor, 'string(//Disk_size)')).toBe(String(virtual / 512));
    expect(await xpath(descriptor, 'string(//Cylinders)')).toBe(String(virtual / 512 / 512));
    expect(await xpath(descriptor, 'string(//StorageData/Storage/Image/File)')).toBe(path.basename(hds(disk)));
    const uid = await xpath(descriptor, 'string(//UID)');
    expect(uid).toMatch(/^\{[0-9a-f-]{36}\}$/);
    const sectors = virtual / 16 / 32;
    expect(await readFile(descriptor, 'utf8')).toBe(
      await sdkHeredoc('write-hdd-heredoc.txt', {
        '$((DISK_VIRTUAL_SIZE_BYTES / 16 / 32 / 512))': [sectors / 512],
        '$((DISK_VIRTUAL_SIZE_BYTES / 16 / 32))': [sectors, sectors],
        '{$(uuidgen)}': [uid],
        '${snapshot_uuid}': [SNAPSHOT, SNAPSHOT, SNAPSHOT],
        '${disk_name}': [disk],
      }),
    );
    expect(await readdir(path.join(pvm, disk))).toEqual(expect.arrayContaining([disk, 'DiskDescriptor.xml', path.basename(hds(disk))]));
    expect((await stat(path.join(pvm, disk, disk))).size).toBe(0);

    const pvs = path.join(pvm, 'config.pvs');
    expect(await tool('xmllint', ['--noout', pvs])).toMatchObject({ exitCode: 0 });
    const get = (x: string) => xpath(pvs, `string(${x})`);
    const macs = [await get('//NetworkAdapter/MAC'), await get('//NetworkAdapter/HostMAC')];
    for (const mac of macs) expect(mac).toMatch(/^001C42[0-9A-F]{6}$/);
    const created = await get('//VmCreationDate');
    expect(created).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(await get('//VmName')).toBe(vmName);
    expect(await get('//Hdd/SystemName')).toBe(disk);
    expect(await readFile(pvs, 'utf8')).toBe(
      await sdkHeredoc('parallels-pvs-heredoc.txt', {
        '{$(uuidgen)}': [await get('//VmUuid'), await get('//SourceVmUuid'), await get('//Hdd/Uuid')],
        '${FLAGS_vm_name}': [vmName],
        '$(datep)': [created, created],
        '${template}': [template],
        '${FLAGS_memory_size}': [2048],
        '${DISK_NAME}': [disk, disk],
        '$((DISK_VIRTUAL_SIZE_BYTES / 1024 / 1024))': [Math.floor(virtual / 1024 / 1024)],
        // parallels_pvs.sh 33: du --bytes of the snapshot.
        '$((DISK_ACTUAL_SIZE_BYTES / 1024 / 1024))': [Math.floor((await stat(snapshot)).size / 1024 / 1024)],
        '$(macgen)': macs,
      }),
    );
  }

  // _write_hdd_disk, _write_pvs_conf, _write_pvm_tgz_bundle (V:515-520, V:922-931, V:1041-1052): no Parallels tool.
  it('parallels: a tgz of the .hdd directory (qemu-img parallels snapshot + DiskDescriptor.xml) and config.pvs, as write_hdd.sh and parallels_pvs.sh write them', async () => {
    const disk = 'flatcar_production_parallels_image.hdd';
    expect(results.get('parallels')!.outputs.map((o) => o.file)).toEqual(['flatcar_production_parallels.tgz']);
    expect((await ok('tar', ['-tzf', output('parallels', 'flatcar_production_parallels.tgz')])).trim().split('\n').sort()).toEqual(
      ['./', './config.pvs', `./${disk}/`, `./${disk}/${disk}`, `./${disk}/DiskDescriptor.xml`, `./${hds(disk)}`].sort(),
    );
    await checkPvm(await unpack('parallels', 'flatcar_production_parallels.tgz'), disk, `flatcar_production_parallels-${VERSION.replace(/\./g, '-')}`, 0);
  });

  // _write_vagrant_parallels_conf (V:909-920: parallels_pvs.sh --template) and _write_box_bundle (V:983-994: the pvm as tmp.pvm).
  it('vagrant_parallels: the SDK\'s box with tmp.pvm (the .hdd directory and a template config.pvs), sharing flatcar_production_vagrant.json with vagrant', async () => {
    const disk = 'flatcar_production_vagrant_parallels_image.hdd';
    const box = output('vagrant_parallels', 'flatcar_production_vagrant_parallels.box');
    expect((await ok('tar', ['-tzf', box])).trim().split('\n').sort()).toEqual(
      ['./', './Vagrantfile', './base_mac.rb', './configure_networks.rb', './metadata.json', './tmp.pvm/', './tmp.pvm/config.pvs', `./tmp.pvm/${disk}/`, `./tmp.pvm/${disk}/${disk}`, `./tmp.pvm/${disk}/DiskDescriptor.xml`, `./tmp.pvm/${hds(disk)}`].sort(),
    );
    const dir = await unpack('vagrant_parallels', 'flatcar_production_vagrant_parallels.box');
    expect(JSON.parse(await readFile(path.join(dir, 'metadata.json'), 'utf8'))).toEqual({ provider: 'parallels', architecture: 'amd64' });
    // base_mac.rb stays the SDK's file: only virtualbox_ovf.sh rewrites it.
    expect(await readFile(path.join(dir, 'base_mac.rb'), 'utf8')).toBe(await readFile(new URL('../../vendors/vagrant-box/base_mac.rb', import.meta.url), 'utf8'));
    await checkPvm(path.join(dir, 'tmp.pvm'), disk, `flatcar_production_vagrant_parallels-${VERSION.replace(/\./g, '-')}`, 1);
    // One catalogue with both providers, as the SDK's jq keeps the other provider's entry (V:1000-1004).
    expect(results.get('vagrant_parallels')!.outputs.map((o) => o.file)).toEqual(['flatcar_production_vagrant_parallels.box']);
    const catalogue = output('vagrant', 'flatcar_production_vagrant.json');
    const providers = (JSON.parse(await readFile(catalogue, 'utf8')) as { versions: Array<{ providers: Array<{ name: string; url: string; checksum: string }> }> }).versions[0]!.providers;
    expect(providers.map((p) => [p.name, p.url.split('/').at(-1), p.checksum])).toEqual([
      ['virtualbox', 'flatcar_production_vagrant.box', await sha(output('vagrant', 'flatcar_production_vagrant.box'))],
      ['parallels', 'flatcar_production_vagrant_parallels.box', await sha(box)],
    ]);
    const listed = results.get('vagrant')!.outputs.find((o) => o.file === 'flatcar_production_vagrant.json')!;
    expect(listed.sha256).toBe(await sha(catalogue));
  });

  // V:510-513 (vmdk_scsi: adapter_type=lsilogic) and V:772-812 (_write_vmx_conf: pvscsi, other26xlinux-64, the versioned VM_NAME of V:298-303).
  it('vmware: a .vmx with pvscsi naming the lsilogic VMDK beside it and the versioned VM name', async () => {
    const vmx = await readFile(output('vmware', 'flatcar_production_vmware.vmx'), 'utf8');
    expect(vmx).toContain('scsi0.virtualDev = "pvscsi"');
    expect(vmx).toContain('guestOS = "other26xlinux-64"');
    expect(vmx).toContain(`displayName = "flatcar_production_vmware-${VERSION.replace(/\./g, '-')}"`);
    expect(vmx).toContain('scsi0:0.fileName = "flatcar_production_vmware_image.vmdk"');
    expect(await ok('sh', ['-c', `head -c 4096 '${output('vmware', 'flatcar_production_vmware_image.vmdk')}' | strings`])).toContain('ddb.adapterType = "lsilogic"');
  });

  it('xen: the baked image unchanged and an xl config naming it', async () => {
    // V:820-866: pygrub and pvgrub configs naming the disk, and the README.
    expect(results.get('xen')!.outputs.map((o) => o.file).sort()).toEqual(
      ['flatcar_production_xen.README', 'flatcar_production_xen_image.bin', 'flatcar_production_xen_pvgrub.cfg', 'flatcar_production_xen_pygrub.cfg'],
    );
    expect(await readFile(output('xen', 'flatcar_production_xen_pygrub.cfg'), 'utf8')).toContain("bootloader = \"pygrub\"\n");
    expect(await readFile(output('xen', 'flatcar_production_xen_pvgrub.cfg'), 'utf8')).toContain("disk = [ 'flatcar_production_xen_image.bin,raw,xvda' ]\n");
    expect(await readFile(output('xen', 'flatcar_production_xen.README'), 'utf8')).toContain(`xl destroy flatcar_production_xen-${VERSION.replace(/\./g, '-')}\n`);
    // Base layout and no OEM: the raw disk is the baked image, byte for byte.
    expect(results.get('xen')!.outputs.find((o) => o.file === 'flatcar_production_xen_image.bin')!.sha256).toBe(rel.imageSha256);
  });

  it('pxe: the kernel from EFI-SYSTEM and a cpio.gz holding usr.squashfs of USR-A', async () => {
    const dir = await mkdtemp(path.join(root, 'pxe-'));
    const espNumber = await partitionNumber(rel.imagePath, 'EFI-SYSTEM');
    const esp = await partitionInfo(rel.imagePath, espNumber);
    await ok('mcopy', ['-i', `${rel.imagePath}@@${esp.first * SECTOR}`, '::/flatcar/vmlinuz-a', path.join(dir, 'kernel')], { env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(await sha(output('pxe', 'flatcar_production_pxe.vmlinuz'))).toBe(await sha(path.join(dir, 'kernel')));
    // _write_cpio_disk (V:567-584 at alpha-4790.0.0): the image's GRUB (EFI/boot/grubx64.efi from 4012) as flatcar_production_pxe_grub.efi.
    await ok('mcopy', ['-i', `${rel.imagePath}@@${esp.first * SECTOR}`, '::/EFI/boot/grubx64.efi', path.join(dir, 'grub.efi')], { env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(await readFile(path.join(dir, 'grub.efi'), 'utf8')).toBe('synthetic GRUB EFI for x86-64\n');
    expect(await sha(output('pxe', 'flatcar_production_pxe_grub.efi'))).toBe(await sha(path.join(dir, 'grub.efi')));
    expect(results.get('pxe')!.outputs.map((o) => o.file)).toEqual([
      'flatcar_production_pxe_grub.efi',
      'flatcar_production_pxe.vmlinuz',
      'flatcar_production_pxe_image.cpio.gz',
      'flatcar_production_pxe.sh',
      'flatcar_production_pxe.README',
    ]);
    const cpio = output('pxe', 'flatcar_production_pxe_image.cpio.gz');
    expect((await ok('sh', ['-c', `gzip -dc '${cpio}' | cpio -t --quiet`])).trim()).toBe('usr.squashfs');
    await ok('sh', ['-c', `gzip -dc '${cpio}' | cpio -id --quiet`], { cwd: dir });
    const listing = await ok('unsquashfs', ['-l', path.join(dir, 'usr.squashfs')]);
    expect(listing).toContain('squashfs-root/lib/os-release');
    const osRelease = await ok('unsquashfs', ['-cat', path.join(dir, 'usr.squashfs'), 'lib/os-release']);
    expect(osRelease).toContain(`VERSION_ID=${VERSION}`);
    // V:540-546: /usr/.noupdate (0444 root, empty) keeps update-engine and locksmithd off a diskless boot; update.conf names the image's group.
    const long = await ok('unsquashfs', ['-lln', path.join(dir, 'usr.squashfs')]);
    expect(long).toMatch(/^-r--r--r-- 0\/0\s+0 \S+ \S+ squashfs-root\/\.noupdate$/m);
    expect(long).toMatch(/^-rw-r--r-- 0\/0\s+\d+ \S+ \S+ squashfs-root\/share\/flatcar\/update\.conf$/m);
    expect(await ok('unsquashfs', ['-cat', path.join(dir, 'usr.squashfs'), 'share/flatcar/update.conf'])).toBe('SERVER=https://public.update.flatcar-linux.net/v1/update/\nGROUP=alpha\n');
    expect(warnings.filter((w) => w.startsWith('vendor pxe:'))).toEqual([
      'vendor pxe: the baked sysexts (hello, wasmtime) do not reach the pxe image, which boots only /usr from its initramfs; deliver them with Ignition: `flatbake butane` writes the config',
    ]);
    const line = await ok(output('pxe', 'flatcar_production_pxe.sh'), [], { env: { QEMU: 'echo' } });
    expect(line).toContain(`-kernel ${output('pxe', 'flatcar_production_pxe.vmlinuz')} -initrd ${cpio}`);
  });

  it('iso: a hybrid ISO with isolinux booting the same kernel and initramfs', async () => {
    const iso = output('iso', 'flatcar_production_iso_image.iso');
    const files = await ok('xorriso', ['-indev', iso, '-find', '/', '-type', 'f']);
    for (const f of ['/flatcar/vmlinuz', '/flatcar/cpio.gz', '/isolinux/isolinux.bin', '/isolinux/ldlinux.c32', '/isolinux/isolinux.cfg']) expect(files).toContain(`'${f}'`);
    const eltorito = await ok('xorriso', ['-indev', iso, '-report_el_torito', 'plain']);
    expect(eltorito).toMatch(/El Torito boot img\s*:\s*1\s+BIOS/);
    // Hybrid: an MBR boot signature, so the same file boots from a USB stick.
    expect(await ok('sh', ['-c', `head -c 512 '${iso}' | tail -c 2 | od -An -tx1`])).toMatch(/55 aa/);
    const dir = await mkdtemp(path.join(root, 'iso-'));
    await ok('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/flatcar/cpio.gz', path.join(dir, 'cpio.gz')]);
    expect((await ok('sh', ['-c', `gzip -dc '${path.join(dir, 'cpio.gz')}' | cpio -t --quiet`])).trim()).toBe('usr.squashfs');
    expect(await ok(output('iso', 'flatcar_production_iso.sh'), [], { env: { QEMU: 'echo' } })).toContain(`file=${iso}`);
  });
});

describe('vendor failures', () => {
  it('rejects an unknown vendor before writing anything, listing the known ones', async () => {
    const dir = path.join(root, 'unknown');
    const error = await write(['azure', 'nope'], dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe("unknown vendor 'nope'");
    expect((error as UsageError).hint).toMatch(/known vendors: generic, qemu_uefi, .*, iso/);
    expect(await stat(dir).catch(() => undefined)).toBeUndefined();
  });

  it('fails a vendor whose OEM sysext is missing or wrong, and writes the others', async () => {
    const dir = path.join(root, 'missing-oem');
    const oemSysexts = new Map([
      ['digitalocean', oemSysextOf('digitalocean')],
      // azure gets another OEM's sysext: it must notice.
      ['azure', oemSysextOf('openstack')],
    ]);
    const r = await write(['hetzner', 'digitalocean', 'openstack_mini'], dir, { oemSysexts: (id) => oemSysexts.get(id) ?? (id === 'openstack' ? path.join(root, 'nowhere.raw') : undefined) });
    expect(r.get('hetzner')!.ok).toBe(false);
    expect(r.get('hetzner')!.error).toBeInstanceOf(InputError);
    expect(r.get('hetzner')!.error!.message).toBe('vendor hetzner needs the OEM sysext oem-hetzner.raw (OEM id hetzner): none was given');
    expect(r.get('openstack_mini')!.error!.message).toContain(`${path.join(root, 'nowhere.raw')} does not exist`);
    expect(r.get('digitalocean')!.ok).toBe(true);
    expect(await readdir(dir)).toEqual(['digitalocean']);

    const wrong = await write(['azure'], path.join(root, 'wrong-oem'), { oemSysexts });
    expect(wrong.get('azure')!.error).toBeInstanceOf(DiskFormatError);
    expect(wrong.get('azure')!.error!.message).toMatch(/is not the oem-azure sysext: cannot read \/usr\/lib\/extension-release\.d\/extension-release\.oem-azure/);
    expect(await readdir(path.join(root, 'wrong-oem'))).toEqual([]);
  });

  it('fails only the vendor whose work directory is too small, leaving it empty', async () => {
    const dir = path.join(root, 'disk-full');
    const small = path.join(dir, 'digitalocean');
    await mkdir(small, { recursive: true });
    await chmod(dir, 0o755); // btrfs-progs of unprivileged tests stat every mount point
    await ok('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    try {
      const r = await write(['digitalocean', 'openstack_mini'], dir);
      const failed = r.get('digitalocean')!;
      expect(failed.ok).toBe(false);
      expect(failed.error).toBeInstanceOf(InsufficientSpaceError);
      expect(failed.error!.message).toMatch(new RegExp(`^not enough free space for vendor digitalocean in ${small}: it needs about \\d+ MiB, 4 MiB are free`));
      expect(await readdir(small)).toEqual([]);
      expect(r.get('openstack_mini')!.ok).toBe(true);
      expect(r.get('openstack_mini')!.outputs.map((o) => o.file)).toEqual(['flatcar_production_openstack_mini_image.img']);
    } finally {
      await ok('umount', [small]);
    }
  });
});
