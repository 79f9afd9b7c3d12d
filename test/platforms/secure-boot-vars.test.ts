/**
 * The UEFI variable store editor against the real thing: Debian 12's OVMF_VARS_4M.ms.fd (ovmf
 * 2022.11, Microsoft's keys enrolled) and the certificates Flatcar's SDK adds to db
 * (vendors/secure-boot/, from flatcar/scripts). What we wrote is read back with openssl's DER and
 * dates and the byte layout the UEFI spec fixes (EFI_SIGNATURE_LIST, 32.4.1), not with the editor.
 * The firmware's own reading of the result (one boot): secure-boot-boot.test.ts.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskFormatError, InputError } from '../../src/errors.js';
import { diskAliases, loadVendorRegistry, vendorsDir } from '../../src/platforms/registry.js';
import { enrollCertificates, parseSignatureLists } from '../../src/platforms/secure-boot-db.js';
import { secureVariantDb, writeSecureBootVars } from '../../src/platforms/secure-variant.js';
import { parseVariableStore, serializeVariableStore } from '../../src/platforms/uefi-vars.js';
import type { SecureVariantSpec } from '../../src/platforms/types.js';

const MS_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const CERTS = path.join(vendorsDir(), 'secure-boot');
/** The SDK's `local owner="00000000-0000-0000-0000-000000000000"` (vm_image_util.sh 704 at HEAD). */
const ZERO_OWNER = Buffer.alloc(16);
/** EFI_CERT_X509_GUID a5c059a1-94e4-4aa7-87b5-ab155c2bf072 as the spec stores it (first three fields little-endian). */
const X509_TYPE = Buffer.from('a159c0a5e494a74a87b5ab155c2bf072', 'hex');
const haveOvmf = existsSync(MS_VARS);

async function der(file: string): Promise<Buffer> {
  return (await execa('openssl', ['x509', '-in', file, '-outform', 'DER'], { encoding: 'buffer', stripFinalNewline: false })).stdout as Buffer;
}

/** openssl's notBefore as the EFI_TIME bytes year(u16le) month day hour minute second. */
async function notBeforeBytes(file: string): Promise<Buffer> {
  const text = (await execa('openssl', ['x509', '-in', file, '-noout', '-startdate'])).stdout.replace(/^notBefore=/, '');
  const d = new Date(text);
  const b = Buffer.alloc(7);
  b.writeUInt16LE(d.getUTCFullYear(), 0);
  [d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()].forEach((v, i) => b.writeUInt8(v, 2 + i));
  return b;
}

/** Where the EFI_SIGNATURE_LIST holding `cert` with `owner` starts, checked byte by byte; -1 when it is not there. */
function signatureListOf(store: Buffer, cert: Buffer, owner: Buffer): number {
  const at = store.indexOf(Buffer.concat([owner, cert]));
  if (at < 0) return -1;
  const list = at - 28;
  expect(store.subarray(list, list + 16)).toEqual(X509_TYPE);
  expect(store.readUInt32LE(list + 16)).toBe(28 + 16 + cert.length); // SignatureListSize
  expect(store.readUInt32LE(list + 20)).toBe(0); // SignatureHeaderSize
  expect(store.readUInt32LE(list + 24)).toBe(16 + cert.length); // SignatureSize
  return list;
}

describe.skipIf(!haveOvmf)(`adding Flatcar's certificates to db${haveOvmf ? '' : ' (skipped: Debian\'s ovmf is not installed)'}`, () => {
  let dir: string;
  let base: Buffer;
  let spec: SecureVariantSpec;
  let dbCrt: Buffer;
  let devCa: Buffer;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-sbvars-'));
    base = await readFile(MS_VARS);
    spec = (await loadVendorRegistry()).get('qemu_uefi').config!.secureVariant!;
    dbCrt = await der(path.join(CERTS, 'DB.crt'));
    devCa = await der(path.join(CERTS, 'flatcar-sb-dev-ca.pem'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('vendors.json says which certificates each SDK adds (vm_image_util.sh _write_qemu_uefi_secure_conf at the release tags)', () => {
    expect(spec.owner).toBe('00000000-0000-0000-0000-000000000000');
    // lts-4081.3.0 V:860-873: cert-to-efi-sig-list + flash-var of Flatcar's own PK, KEK, db: not written.
    expect(secureVariantDb(spec, '4081.3.6').db).toBeNull();
    // alpha-4152.0.0 V:886-889 (stable-4593.2.0 the same): --add-db "${owner}" /usr/share/sb_keys/DB.crt.
    expect(secureVariantDb(spec, '4152.2.3').db).toEqual(['DB.crt']);
    expect(secureVariantDb(spec, '4593.2.0').db).toEqual(['DB.crt']);
    // alpha-4757.0.0 and HEAD V:723-733: also the temporary dev CA (flatcar-sb-dev-ca.pem).
    expect(secureVariantDb(spec, '4757.1.0').db).toEqual(['DB.crt', 'flatcar-sb-dev-ca.pem']);
    expect(secureVariantDb(spec, '4790.0.0').db).toEqual(['DB.crt', 'flatcar-sb-dev-ca.pem']);
    // An image without a version gets what today's SDK does.
    expect(secureVariantDb(spec, 'unknown').db).toEqual(['DB.crt', 'flatcar-sb-dev-ca.pem']);
  });

  it('adds each certificate as its own X.509 signature list with the SDK\'s owner, after Microsoft\'s, and touches nothing else', async () => {
    const out = path.join(dir, 'vars-4790.fd');
    await writeSecureBootVars(spec, secureVariantDb(spec, '4790.0.0').db!, MS_VARS, out);
    const written = await readFile(out);
    expect(written.length).toBe(base.length);
    const dbList = signatureListOf(written, dbCrt, ZERO_OWNER);
    const devList = signatureListOf(written, devCa, ZERO_OWNER);
    expect(dbList).toBeGreaterThan(0);
    // In the order given, the second right after the first (one variable's data).
    expect(devList).toBe(dbList + 28 + 16 + dbCrt.length);
    // Neither certificate was in Debian's store.
    expect(base.indexOf(dbCrt)).toBe(-1);
    expect(base.indexOf(devCa)).toBe(-1);
    // The variables: the same set, every one but db byte for byte the same; db = old lists + the two.
    const before = parseVariableStore(base).variables;
    const after = parseVariableStore(written).variables;
    expect(after.map((v) => `${v.vendorGuid}:${v.name}`)).toEqual(before.map((v) => `${v.vendorGuid}:${v.name}`));
    for (const [i, v] of after.entries()) {
      const was = before[i]!;
      if (v.name !== 'db') expect(v).toEqual(was);
      else {
        expect(v.attributes).toBe(0x27); // NV | BS | RT | TIME_BASED_AUTHENTICATED_WRITE_ACCESS, kept
        expect(v.data.subarray(0, was.data.length)).toEqual(was.data);
        expect(parseSignatureLists(v.data)).toHaveLength(parseSignatureLists(was.data).length + 2);
      }
    }
    // Everything past the variable store (edk2's FTW area) is the file's own.
    const { end } = parseVariableStore(base);
    expect(written.subarray(end)).toEqual(base.subarray(end));
  });

  it('moves db\'s timestamp forward to the newest notBefore (virt-fw-vars\' rule), never back', async () => {
    const both = enrollCertificates(base, [{ database: 'db', owner: spec.owner, certificates: [{ name: 'a', bytes: dbCrt }, { name: 'b', bytes: devCa }] }]);
    const header = (buf: Buffer) => {
      // The db variable's header: 60 bytes before its name "db\0" (UCS-2) and the IMAGE_SECURITY_DATABASE vendor GUID.
      const name = Buffer.from('db\0', 'utf16le');
      const guid = Buffer.from('cbb219d73a3d9645a3bcdad00e67656f', 'hex');
      const at = buf.indexOf(Buffer.concat([guid, name]));
      expect(at).toBeGreaterThan(0);
      return buf.subarray(at - 44, at + 16);
    };
    // The dev CA's notBefore (2026-04-16) is newer than Debian's db (2025-03-10): it becomes db's time.
    expect(header(both).subarray(16, 23)).toEqual(await notBeforeBytes(path.join(CERTS, 'flatcar-sb-dev-ca.pem')));
    // DB.crt alone (2015) is older: db keeps the time it had.
    const old = enrollCertificates(base, [{ database: 'db', owner: spec.owner, certificates: [{ name: 'a', bytes: dbCrt }] }]);
    expect(header(old).subarray(16, 32)).toEqual(header(base).subarray(16, 32));
  });

  it('skips a certificate db already holds, so enrolling twice changes nothing', async () => {
    const once = await readFile(path.join(dir, 'vars-4790.fd'));
    const pem = await readFile(path.join(CERTS, 'DB.crt'));
    const twice = enrollCertificates(once, [{ database: 'db', owner: spec.owner, certificates: [{ name: 'DB.crt', bytes: pem }] }]);
    expect(twice.equals(once)).toBe(true);
    // The live variables of a store we wrote read back as they were written (no deleted ones left to drop).
    expect(serializeVariableStore(parseVariableStore(once), parseVariableStore(once).variables).equals(once)).toBe(true);
  });

  it('creates db with the spec\'s attributes where the store has none (a blank OVMF_VARS_4M.fd)', async () => {
    const blank = await readFile('/usr/share/OVMF/OVMF_VARS_4M.fd');
    expect(parseVariableStore(blank).variables.some((v) => v.name === 'db')).toBe(false);
    const out = enrollCertificates(blank, [{ database: 'db', owner: spec.owner, certificates: [{ name: 'DB.crt', bytes: dbCrt }] }]);
    const db = parseVariableStore(out).variables.find((v) => v.name === 'db')!;
    expect(db.vendorGuid).toBe('D719B2CB-3D3A-4596-A3BC-DAD00E67656F');
    expect(db.attributes).toBe(0x27);
    expect(signatureListOf(out, dbCrt, ZERO_OWNER)).toBeGreaterThan(0);
  });

  it('refuses what is not a variable store, a certificate that is none, and a store too small, with one clear error each', async () => {
    const code = (await readFile('/usr/share/OVMF/OVMF_CODE_4M.secboot.fd')).subarray(0, 1 << 16);
    expect(() => enrollCertificates(code, [])).toThrow(DiskFormatError);
    expect(() => enrollCertificates(code, [])).toThrow(/not an edk2 UEFI variable store/);
    const corrupt = Buffer.from(base);
    corrupt[50] = corrupt[50]! ^ 0xff; // the firmware volume header's checksum no longer sums to 0
    expect(() => enrollCertificates(corrupt, [])).toThrow(/checksum/);
    expect(() => enrollCertificates(base, [{ database: 'db', owner: spec.owner, certificates: [{ name: 'junk.pem', bytes: Buffer.from('not a certificate') }] }])).toThrow(InputError);
    // 300 distinct certificates (about 230 KiB of lists) cannot fit a 256 KiB store already holding ~22 KiB.
    const many: Array<{ name: string; bytes: Buffer }> = [];
    for (let i = 0; i < 300; i++) {
      const key = path.join(dir, `k${i}.pem`);
      if (i === 0) await execa('openssl', ['genrsa', '-out', key, '2048']);
      const cert = (await execa('openssl', ['req', '-x509', '-key', path.join(dir, 'k0.pem'), '-subj', `/CN=filler ${i}/`, '-days', '1', '-outform', 'DER'], { encoding: 'buffer', stripFinalNewline: false })).stdout as Buffer;
      many.push({ name: `filler ${i}`, bytes: cert });
    }
    expect(() => enrollCertificates(base, [{ database: 'db', owner: spec.owner, certificates: many }])).toThrow(/do not fit their store/);
  }, 120_000);
});

describe('the SDK\'s other names of the qemu_uefi disk (vm_image_util.sh write_vm_disk, V:451-464 at HEAD)', () => {
  it('are flatcar_production_qemu_image.img on amd64 and flatcar_production_qemu_uefi_secure_image.img everywhere, from 3913', async () => {
    const registry = await loadVendorRegistry();
    const disk = registry.get('qemu_uefi').disk!;
    expect(diskAliases(registry.settings, disk, '4459.2.1', 'x86-64')).toEqual(['flatcar_production_qemu_image.img', 'flatcar_production_qemu_uefi_secure_image.img']);
    // `if [ "${BOARD}" = amd64-usr ]` around the qemu link only.
    expect(diskAliases(registry.settings, disk, '4459.2.1', 'arm64')).toEqual(['flatcar_production_qemu_uefi_secure_image.img']);
    // beta-3913.1.0 and alpha-3941.0.0 have the links; 3874 (qemu_uefi_secure still its own image type) does not.
    expect(diskAliases(registry.settings, disk, '3913.1.0', 'x86-64')).toHaveLength(2);
    expect(diskAliases(registry.settings, disk, '3874.0.0', 'x86-64')).toEqual([]);
    // No other vendor has any.
    for (const id of registry.ids) {
      const v = registry.get(id);
      if (id !== 'qemu_uefi' && v.disk) expect(diskAliases(registry.settings, v.disk, '4459.2.1', 'x86-64'), id).toEqual([]);
    }
  });
});
