/**
 * The Secure Boot variables of the `<vendor>_secure` variant (the SDK's
 * qemu_uefi_secure): the firmware package's variables with Microsoft's keys,
 * and Flatcar's certificates added to db as the release's SDK adds them
 * (vendors.json `secureVariant`, certificates in vendors/secure-boot/).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { majorOf } from './releases.js';
import { vendorsDir } from './registry.js';
import { enrollCertificates } from './secure-boot-db.js';
import type { SecureVariantSpec } from './types.js';

export const SECURE_BOOT_CERTIFICATES_DIR = 'secure-boot';

/**
 * The certificate files the SDK of `version` adds to db; null where that SDK enrolled its keys in a way
 * flatbake does not write. A version without a major (a local image without VERSION_ID) gets the newest era.
 */
export function secureVariantDb(spec: SecureVariantSpec, version: string): { from: number; db: string[] | null } {
  const major = majorOf(version);
  let found = spec.eras.at(-1)!;
  if (major !== undefined) {
    const before = spec.eras.filter((e) => e.from <= major);
    found = before.at(-1) ?? { from: 0, db: null };
  }
  return found;
}

/** Writes `output`: the variable store `baseVars` with `certificates` (names in vendors/secure-boot/) added to db. */
export async function writeSecureBootVars(spec: SecureVariantSpec, certificates: readonly string[], baseVars: string, output: string, dir = vendorsDir()): Promise<void> {
  const files = await Promise.all(certificates.map(async (name) => ({ name, bytes: await readFile(path.join(dir, SECURE_BOOT_CERTIFICATES_DIR, name)) })));
  await writeFile(output, enrollCertificates(await readFile(baseVars), [{ database: 'db', owner: spec.owner, certificates: files }]));
}
