import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli } from '../helpers/cli.js';
import { coreutilsChunkedSha256, leftovers } from '../helpers/disk.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import type { Manifest } from '../../src/bake/manifest.js';
import { vendorsDir } from '../../src/platforms/registry.js';
import { schemaErrors } from '../helpers/schemas.js';

describe('vendor images from one bake', () => {
  let served: ServedRelease;
  let scratch: string;
  let hello: string;
  beforeAll(async () => {
    // azure's OEM sysext is deliberately not published.
    served = await serveSyntheticRelease({ oemIds: ['qemu', 'gce'] });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-vendors-e2e-'));
    hello = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
  });
  afterAll(async () => {
    await served?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('writes the generic image, qemu_uefi and gce from one download, with OEM sysexts fetched and signature-checked', async () => {
    const output = path.join(scratch, 'ok');
    const before = served.server.requests.length;
    const r = await runCli([...served.args({ output, cacheDir: path.join(scratch, 'cache') }), '--fetch', '--vendor', 'generic,qemu_uefi,gce', `hello:${hello}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/oem-qemu\.raw, signature good/);
    const files = (await readdir(output)).sort();
    expect(files).toEqual(
      [
        'flatbake-manifest.json',
        'flatcar_production_gce.tar.gz',
        'flatcar_production_image.bin',
        'flatcar_production_qemu_uefi.sh',
        'flatcar_production_qemu_uefi_efi_code.qcow2',
        'flatcar_production_qemu_uefi_efi_vars.qcow2',
        'flatcar_production_qemu_uefi_image.img',
        // The SDK's qemu_uefi_secure variant beside it (V:689-735 at alpha-4790.0.0): its own
        // script and Secure Boot firmware for the same disk.
        'flatcar_production_qemu_uefi_secure.sh',
        'flatcar_production_qemu_uefi_secure_efi_code.qcow2',
        'flatcar_production_qemu_uefi_secure_efi_vars.qcow2',
        // The SDK's other names of the disk, relative symlinks (write_vm_disk, V:451-464 at HEAD; amd64 has both).
        'flatcar_production_qemu_image.img',
        'flatcar_production_qemu_uefi_secure_image.img',
      ].concat(files.filter((f) => /README/i.test(f))).sort(),
    );
    for (const alias of ['flatcar_production_qemu_image.img', 'flatcar_production_qemu_uefi_secure_image.img']) {
      expect((await execa('readlink', [path.join(output, alias)])).stdout).toBe('flatcar_production_qemu_uefi_image.img');
    }
    // The secure variant's db holds DB.crt (the synthetic release is 4459: vm_image_util.sh --add-db at
    // stable-4459.2.0 V:886-889), owner all zeros; read back through qemu-img and openssl.
    const secureVars = path.join(scratch, 'secure-vars.raw');
    await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path.join(output, 'flatcar_production_qemu_uefi_secure_efi_vars.qcow2'), secureVars]);
    const der = (await execa('openssl', ['x509', '-in', path.join(vendorsDir(), 'secure-boot', 'DB.crt'), '-outform', 'DER'], { encoding: 'buffer', stripFinalNewline: false })).stdout as Buffer;
    expect((await readFile(secureVars)).indexOf(Buffer.concat([Buffer.alloc(16), der]))).toBeGreaterThan(0);
    // One download of the image for all three.
    const imageGets = served.server.requests.slice(before).filter((q) => q.path.endsWith('flatcar_production_image.bin.bz2') && q.method === 'GET');
    expect(imageGets.length).toBe(1);
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', path.join(output, 'flatcar_production_qemu_uefi_image.img')])).stdout);
    expect(info.format).toBe('qcow2');
    expect(info['format-specific'].data.compat).toBe('0.10');
    expect((await execa('tar', ['-tzf', path.join(output, 'flatcar_production_gce.tar.gz')])).stdout.trim()).toBe('disk.raw');
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.vendors).toEqual(['generic', 'qemu_uefi', 'gce']);
    for (const o of manifest.outputs) {
      if (o.vendor === 'generic') expect(await coreutilsChunkedSha256(path.join(output, o.file))).toBe(o.chunkedSha256);
      else expect((await execa('sha256sum', [path.join(output, o.file)])).stdout.split(' ')[0]).toBe(o.sha256);
    }
    expect(manifest.outputs.map((o) => o.vendor)).toEqual(expect.arrayContaining(['generic', 'qemu_uefi', 'gce']));
    expect(manifest.outputs.find((o) => o.file === 'flatcar_production_qemu_uefi_image.img')?.aliases).toEqual(['flatcar_production_qemu_image.img', 'flatcar_production_qemu_uefi_secure_image.img']);
    expect(schemaErrors('manifest', manifest)).toEqual([]);
    expect(await leftovers(scratch)).toEqual({ loops: [], mounts: [] });
  });

  it('inspect reads the qcow2 written above; the OEM sysext is named as such, not "unlinked"', async () => {
    const output = path.join(scratch, 'ok');
    const inspected = await runCli(['inspect', '--json', path.join(output, 'flatcar_production_qemu_uefi_image.img')]);
    expect(inspected.exitCode, inspected.stderr).toBe(0);
    const report = JSON.parse(inspected.stdout);
    expect(schemaErrors('inspect', report)).toEqual([]);
    expect(report.format).toBe('qcow2');
    expect(report.sysexts.map((s: { name: string; present: boolean }) => [s.name, s.present])).toEqual([['hello', true]]);
    expect(report.oemSysexts).toEqual([{ file: expect.stringMatching(/^\/sysext\/oem-qemu-.+\.raw$/), id: 'qemu', active: true }]);
    expect(report.unlinkedFiles).toEqual([]);
    const text = await runCli(['inspect', path.join(output, 'flatcar_production_qemu_uefi_image.img')]);
    expect(text.stdout).toMatch(/^OEM sysext qemu: oem:\/sysext\/oem-qemu-.+\.raw \(active\)$/m);
    expect(text.stdout).not.toMatch(/unlinked|not linked/);
  }, 240_000);

  it('a vendor whose OEM sysext is missing fails alone: the others are written, the exit status names it', async () => {
    const output = path.join(scratch, 'partial');
    const r = await runCli([...served.args({ output }), '--json', '--fetch', '--vendor', 'qemu_uefi,azure', `hello:${hello}`]);
    expect(r.exitCode).toBe(1);
    // --json: the manifest of what was written is on stdout too, not only on disk.
    const printed = JSON.parse(r.stdout) as Manifest;
    expect(schemaErrors('manifest', printed)).toEqual([]);
    expect(printed.failedVendors).toEqual([{ vendor: 'azure', error: expect.stringMatching(/oem-azure\.raw/) }]);
    expect(r.stderr).toMatch(/flatbake: error: 1 of 2 vendor image\(s\) failed: azure \(vendor azure needs the OEM sysext oem-azure\.raw/);
    const files = await readdir(output);
    expect(files).toContain('flatcar_production_qemu_uefi_image.img');
    expect(files.some((f) => f.includes('azure'))).toBe(false);
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.failedVendors).toEqual([{ vendor: 'azure', error: expect.stringMatching(/oem-azure\.raw/) }]);
  });

  it('--no-oem-sysext writes the vendor anyway and warns', async () => {
    const output = path.join(scratch, 'nooem');
    // digitalocean: its OEM sysext is not published either, and its disk is small (base layout)
    const r = await runCli([...served.args({ output }), '--fetch', '--no-oem-sysext', '--vendor', 'digitalocean', `hello:${hello}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARNING: vendor digitalocean: --no-oem-sysext/);
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', path.join(output, 'flatcar_production_digitalocean_image.bin')])).stdout);
    expect(info.format).toBe('raw');
    expect(await readdir(output)).not.toContain('flatcar_production_image.bin');
  });

  it("refuses a vendor the release's SDK writes with an OEM package after reading releases.json only, naming the releases that have it", async () => {
    // The synthetic release is 4459.2.1 (stable); Flatcar 4459's vm_image_util.sh has IMG_virtualbox_OEM_PACKAGE=oem-virtualbox.
    const before = served.server.requests.length;
    const output = path.join(scratch, 'refused');
    const r = await runCli([...served.args({ output }), '--fetch', '--release', 'stable', '--vendor', 'qemu_uefi,virtualbox', `hello:${hello}`]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr.split('\n')).toContain(
      'flatbake: error: Flatcar 4459 writes virtualbox with an OEM package, not an OEM sysext (no oem-virtualbox.raw is published), and flatbake can only install OEM sysexts',
    );
    expect(r.stderr).toMatch(/hint: .*virtualbox \(x86-64\) is written for Flatcar 4722 and later/);
    expect(served.server.requests.slice(before).map((q) => q.path)).toEqual(['/releases.json']);
    expect((await readdir(output).catch(() => [])).filter((f) => !f.startsWith('.'))).toEqual([]);
  });

  it('refuses a vendor missing from a --release version, and an amd64-only OEM on arm64, without any request', async () => {
    const before = served.server.requests.length;
    const absent = await runCli([...served.args({ output: path.join(scratch, 'absent') }), '--release', '4593.2.5', '--vendor', 'oraclecloud', `hello:${hello}`]);
    expect(absent.exitCode).toBe(2);
    expect(absent.stderr.split('\n')[0]).toMatch(/Flatcar 4593 has no oraclecloud image/);
    const arm = await runCli([...served.args({ output: path.join(scratch, 'arm') }), '--arch', 'arm64', '--vendor', 'gce', `hello:${hello}`]);
    expect(arm.exitCode).toBe(2);
    expect(arm.stderr.split('\n')[0]).toMatch(/vendor 'gce' has no arm64 image: its OEM \(oem-gce\) is built for x86-64 only/);
    expect(served.server.requests.length).toBe(before);
  });

  it('refuses an unknown vendor before anything happens', async () => {
    const r = await runCli([...served.args({ output: path.join(scratch, 'bad') }), '--vendor', 'qemu_uefi,nosuchcloud', 'x:y.raw']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/unknown vendor 'nosuchcloud'/);
  });
});
