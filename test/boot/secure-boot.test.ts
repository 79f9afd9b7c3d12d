/**
 * The qemu_uefi_secure variables as the firmware reads them: one boot (TCG) of Debian's
 * OVMF_CODE_4M.secboot.fd with the variables flatbake writes for Flatcar 4790 (Microsoft's keys,
 * plus DB.crt and flatcar-sb-dev-ca.pem in db as vm_image_util.sh 723-733 at HEAD adds them).
 * The guest is a unified kernel image (systemd-stub + the bootable synthetic release's Debian
 * kernel + a busybox /init) signed with a throwaway key whose certificate is added to the same db
 * by the same editor: OVMF starts it only if it reads our db, and the kernel lists every db
 * certificate it got from the firmware ("integrity: Loaded X.509 cert ..."), which is compared
 * with openssl's reading of the certificate files. Afterwards the store still holds them (OVMF
 * did not format it anew).
 */
import { execa } from 'execa';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBootParts } from '../../src/demo/bootable/index.js';
import { loadVendorRegistry, vendorsDir } from '../../src/platforms/registry.js';
import { enrollCertificates } from '../../src/platforms/secure-boot-db.js';
import { secureVariantDb, writeSecureBootVars } from '../../src/platforms/secure-variant.js';
import { bootPartsCache } from '../helpers/boot-parts.js';

/** Shared with boot.test.ts: the bootable parts are built once. */
const PARTS_CACHE = bootPartsCache();
const CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
const MS_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
/** systemd-boot-efi's stub: the unified kernel image's loader. */
const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const BOOT_TIMEOUT_MS = 600_000;
const MARK = 'FLATBAKE-SECURE-BOOT-INIT';

let dir: string;
let serial = '';
let varsAfter: Buffer;

async function openssl(args: string[]): Promise<string> {
  return (await execa('openssl', args)).stdout;
}

/** The kernel prints `<CN>: <subject key identifier, hex>` for each db certificate. */
async function kernelName(file: string): Promise<string> {
  const cn = /CN\s*=\s*(.+)$/.exec(await openssl(['x509', '-in', file, '-noout', '-subject', '-nameopt', 'oneline']))![1]!.trim();
  const skid = (await openssl(['x509', '-in', file, '-noout', '-ext', 'subjectKeyIdentifier'])).split('\n')[1]!.trim().replace(/:/g, '').toLowerCase();
  return `${cn}: ${skid}`;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-secure-boot-'));
  const parts = await prepareBootParts(PARTS_CACHE);
  // Production: the variables the bake ships for Flatcar 4790.
  const spec = (await loadVendorRegistry()).get('qemu_uefi').config!.secureVariant!;
  const vars = path.join(dir, 'vars.fd');
  await writeSecureBootVars(spec, secureVariantDb(spec, '4790.0.0').db!, MS_VARS, vars);
  // Test only: a throwaway signer in the same db, so a guest of ours can start under Secure Boot.
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'test.key'), '-out', path.join(dir, 'test.crt'), '-subj', '/CN=flatbake secure boot test/', '-days', '2']);
  const withSigner = enrollCertificates(await readFile(vars), [{ database: 'db', owner: spec.owner, certificates: [{ name: 'test.crt', bytes: await readFile(path.join(dir, 'test.crt')) }] }]);
  await writeFile(vars, withSigner);

  // The guest: /init says it ran and powers off; the kernel's db listing comes before it.
  const root = path.join(dir, 'initramfs');
  await mkdir(path.join(root, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', path.join(root, 'bin', 'busybox'));
  await writeFile(path.join(root, 'init'), `#!/bin/busybox sh\necho ${MARK}\n/bin/busybox poweroff -f\n`);
  await chmod(path.join(root, 'init'), 0o755);
  await chmod(path.join(root, 'bin', 'busybox'), 0o755);
  const cpio = await execa('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: root, input: '.\nbin\nbin/busybox\ninit\n', encoding: 'buffer', stripFinalNewline: false });
  await writeFile(path.join(dir, 'initrd.cpio'), cpio.stdout as Buffer);
  await writeFile(path.join(dir, 'cmdline'), 'console=ttyS0 panic=-1');
  await writeFile(path.join(dir, 'os-release'), 'ID=flatbake-secure-boot-test\n');
  const uki = path.join(dir, 'uki.efi');
  // The section layout systemd's documentation gives for a hand-made unified kernel image.
  await execa('objcopy', [
    '--add-section', `.osrel=${path.join(dir, 'os-release')}`, '--change-section-vma', '.osrel=0x20000',
    '--add-section', `.cmdline=${path.join(dir, 'cmdline')}`, '--change-section-vma', '.cmdline=0x30000',
    '--add-section', `.linux=${parts.kernel}`, '--change-section-vma', '.linux=0x2000000',
    '--add-section', `.initrd=${path.join(dir, 'initrd.cpio')}`, '--change-section-vma', '.initrd=0x3000000',
    STUB, uki,
  ]);
  await execa('sbsign', ['--key', path.join(dir, 'test.key'), '--cert', path.join(dir, 'test.crt'), '--output', `${uki}.signed`, uki]);
  const esp = path.join(dir, 'esp.img');
  await execa('truncate', ['-s', '48M', esp]);
  await execa('mformat', ['-i', esp, '-F', '::']);
  await execa('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT']);
  await execa('mcopy', ['-i', esp, `${uki}.signed`, '::/EFI/BOOT/BOOTX64.EFI']);

  const log = path.join(dir, 'serial.log');
  // As the launch script runs the secure variant: q35 with SMM, the code on a secure pflash.
  await execa('qemu-system-x86_64', [
    '-machine', 'q35,smm=on', '-accel', 'tcg', '-m', '512', '-display', 'none', '-nodefaults', '-no-reboot',
    '-global', 'driver=cfi.pflash01,property=secure,value=on',
    '-drive', `if=pflash,format=raw,unit=0,file=${CODE},readonly=on`,
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    '-drive', `file=${esp},format=raw,if=virtio`,
    '-serial', `file:${log}`,
  ], { timeout: BOOT_TIMEOUT_MS, forceKillAfterDelay: 5000 });
  serial = await readFile(log, 'latin1');
  varsAfter = await readFile(vars);
}, BOOT_TIMEOUT_MS + 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the qemu_uefi_secure variables under OVMF with Secure Boot', () => {
  it('boot with Secure Boot enforced: OVMF took the store (a formatted-anew one has no PK, so no Secure Boot)', () => {
    expect(serial).toContain('EFI stub: UEFI Secure Boot is enabled.');
    expect(serial).toMatch(/secureboot: Secure boot enabled/);
    // OVMF verified our signed image against db before starting it.
    expect(serial).toContain(MARK);
  });

  it('db as the firmware gives it to the kernel: Microsoft\'s two, then DB.crt and flatcar-sb-dev-ca.pem (the SDK\'s), then the test signer', async () => {
    const loaded = [...serial.matchAll(/integrity: Loading X\.509 certificate: UEFI:db\r?\n[^\n]*integrity: Loaded X\.509 cert '([^']+)'/g)].map((m) => m[1]!);
    const certs = path.join(vendorsDir(), 'secure-boot');
    expect(loaded).toHaveLength(5);
    expect(loaded[0]).toMatch(/^Microsoft Windows Production PCA 2011: /);
    expect(loaded[1]).toMatch(/^Microsoft Corporation UEFI CA 2011: /);
    expect(loaded.slice(2)).toEqual([
      await kernelName(path.join(certs, 'DB.crt')),
      await kernelName(path.join(certs, 'flatcar-sb-dev-ca.pem')),
      await kernelName(path.join(dir, 'test.crt')),
    ]);
  });

  it('the store still holds the certificates after the firmware wrote to it', async () => {
    for (const file of [path.join(vendorsDir(), 'secure-boot', 'DB.crt'), path.join(vendorsDir(), 'secure-boot', 'flatcar-sb-dev-ca.pem')]) {
      const der = (await execa('openssl', ['x509', '-in', file, '-outform', 'DER'], { encoding: 'buffer', stripFinalNewline: false })).stdout as Buffer;
      // The zero owner GUID right before the certificate (vm_image_util.sh 704: owner="00000000-...").
      expect(varsAfter.indexOf(Buffer.concat([Buffer.alloc(16), der])), file).toBeGreaterThan(0);
    }
  });
});
