/**
 * Secure Boot signature databases (PK, KEK, db): EFI_SIGNATURE_LISTs of
 * EFI_CERT_X509_GUID entries (UEFI spec 2.10, 32.4.1), and adding X.509
 * certificates to one inside an edk2 variable store the way Flatcar's SDK does
 * with `virt-fw-vars --add-db OWNER CERT` (build_library/vm_image_util.sh
 * _write_qemu_uefi_secure_conf): each certificate its own signature list
 * appended to the variable, one already there skipped, the variable's
 * timestamp moved forward to the newest notBefore of the certificates in it
 * (never back). A missing db is created with the attributes the UEFI spec
 * gives it. Our own code, after the formats virt-firmware reads and writes.
 */
import { X509Certificate } from 'node:crypto';
import { DiskFormatError, InputError } from '../errors.js';
import { guidFromBytes, guidToBytes } from '../gpt/guid.js';
import {
  compareTime,
  EFI_VARIABLE_BOOTSERVICE_ACCESS,
  EFI_VARIABLE_NON_VOLATILE,
  EFI_VARIABLE_RUNTIME_ACCESS,
  EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS,
  efiTimeOf,
  GLOBAL_VARIABLE_GUID,
  IMAGE_SECURITY_DATABASE_GUID,
  parseVariableStore,
  serializeVariableStore,
  type UefiVariable,
} from './uefi-vars.js';

/** EFI_CERT_X509_GUID: a signature list whose entries are DER certificates. */
export const EFI_CERT_X509_GUID = 'A5C059A1-94E4-4AA7-87B5-AB155C2BF072';

/** The signature databases, each under its vendor GUID. */
export const SIGNATURE_DATABASES = { PK: GLOBAL_VARIABLE_GUID, KEK: GLOBAL_VARIABLE_GUID, db: IMAGE_SECURITY_DATABASE_GUID, dbx: IMAGE_SECURITY_DATABASE_GUID } as const;
export type SignatureDatabase = keyof typeof SIGNATURE_DATABASES;

/** NV + BS + RT + time-based authenticated write: what the UEFI spec requires of PK, KEK, db and dbx. */
const DATABASE_ATTRIBUTES =
  EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS | EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS;

export interface SignatureList {
  type: string;
  header: Buffer;
  signatures: Array<{ owner: string; data: Buffer }>;
}

export function parseSignatureLists(data: Buffer): SignatureList[] {
  const lists: SignatureList[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (pos + 28 > data.length) throw new DiskFormatError(`a signature list at byte ${pos} of a signature database is cut short`);
    const listSize = data.readUInt32LE(pos + 16);
    const headerSize = data.readUInt32LE(pos + 20);
    const signatureSize = data.readUInt32LE(pos + 24);
    const body = pos + 28 + headerSize;
    if (listSize < 28 + headerSize || pos + listSize > data.length || signatureSize < 16 || (listSize - 28 - headerSize) % signatureSize !== 0) {
      throw new DiskFormatError(`the signature list at byte ${pos} of a signature database has inconsistent sizes`);
    }
    const signatures = [];
    for (let at = body; at < pos + listSize; at += signatureSize) {
      signatures.push({ owner: guidFromBytes(data, at), data: Buffer.from(data.subarray(at + 16, at + signatureSize)) });
    }
    lists.push({ type: guidFromBytes(data, pos), header: Buffer.from(data.subarray(pos + 28, body)), signatures });
    pos += listSize;
  }
  return lists;
}

export function serializeSignatureLists(lists: readonly SignatureList[]): Buffer {
  return Buffer.concat(
    lists.map((list) => {
      const signatureSize = 16 + (list.signatures[0]?.data.length ?? 0);
      const head = Buffer.alloc(28);
      guidToBytes(list.type).copy(head, 0);
      head.writeUInt32LE(28 + list.header.length + signatureSize * list.signatures.length, 16);
      head.writeUInt32LE(list.header.length, 20);
      head.writeUInt32LE(signatureSize, 24);
      return Buffer.concat([head, list.header, ...list.signatures.flatMap((s) => [guidToBytes(s.owner), s.data])]);
    }),
  );
}

/** A certificate file, PEM or DER, as its DER bytes and notBefore. */
export function readCertificate(bytes: Buffer, where: string): { der: Buffer; notBefore: Date } {
  try {
    const cert = new X509Certificate(bytes);
    return { der: Buffer.from(cert.raw), notBefore: cert.validFromDate };
  } catch (error) {
    throw new InputError(`${where} is not an X.509 certificate (${(error as Error).message})`, 'give a PEM or DER certificate file');
  }
}

export interface Enrollment {
  database: SignatureDatabase;
  /** The SignatureOwner GUID of each entry (the SDK's `owner`, all zeros). */
  owner: string;
  /** Certificate files' bytes (PEM or DER) with a name for errors. */
  certificates: Array<{ name: string; bytes: Buffer }>;
}

/** The variable store file with the certificates added; the input buffer is not changed. */
export function enrollCertificates(varsFile: Buffer, enrollments: readonly Enrollment[]): Buffer {
  const store = parseVariableStore(varsFile);
  const variables = [...store.variables];
  for (const { database, owner, certificates } of enrollments) {
    const vendorGuid = SIGNATURE_DATABASES[database];
    let index = variables.findIndex((v) => v.name === database && v.vendorGuid === vendorGuid);
    if (index < 0) {
      variables.push({ name: database, vendorGuid, attributes: DATABASE_ATTRIBUTES, monotonicCount: 0n, pubKeyIndex: 0, data: Buffer.alloc(0) });
      index = variables.length - 1;
    }
    const current: UefiVariable = variables[index]!;
    const lists = parseSignatureLists(current.data);
    for (const file of certificates) {
      const { der } = readCertificate(file.bytes, file.name);
      const present = lists.some((l) => l.type === EFI_CERT_X509_GUID && l.signatures.some((s) => s.data.equals(der)));
      if (!present) lists.push({ type: EFI_CERT_X509_GUID, header: Buffer.alloc(0), signatures: [{ owner, data: der }] });
    }
    let timestamp = current.timestamp;
    if (current.attributes & EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS) {
      for (const list of lists.filter((l) => l.type === EFI_CERT_X509_GUID)) {
        for (const s of list.signatures) {
          const t = efiTimeOf(readCertificate(s.data, `a certificate already in ${database}`).notBefore);
          if (compareTime(t, timestamp) > 0) timestamp = t;
        }
      }
    }
    variables[index] = { ...current, data: serializeSignatureLists(lists), ...(timestamp ? { timestamp } : {}) };
  }
  return serializeVariableStore(store, variables);
}
