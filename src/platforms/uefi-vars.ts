/**
 * An edk2 UEFI variable store (OVMF_VARS*.fd, AAVMF_VARS*.fd), read and
 * rewritten: the firmware volume header (EFI_FIRMWARE_VOLUME_HEADER with the
 * NV-data file system GUID), the variable store header (authenticated format,
 * VARIABLE_STORE_HEADER) and its authenticated variables
 * (AUTHENTICATED_VARIABLE_HEADER, name, data, each header 4-byte aligned).
 * Layouts after edk2's MdePkg/Include/Pi/PiFirmwareVolume.h and
 * MdeModulePkg/Include/Guid/VariableFormat.h; our own code.
 *
 * Written back, the store holds only the live variables, in the order read,
 * the rest of it erased (0xff) as the firmware leaves free space; the bytes
 * past the store (edk2's fault-tolerant-write area) are kept as they were.
 * That is what virt-firmware's virt-fw-vars does, which Flatcar's SDK uses.
 */
import { DiskFormatError } from '../errors.js';
import { guidFromBytes, guidToBytes } from '../gpt/guid.js';

/** EFI_SYSTEM_NV_DATA_FV_GUID: the firmware volume that holds the variables. */
export const NV_DATA_FV_GUID = 'FFF12B8D-7696-4C8B-A985-2747075B4F50';
/** gEfiAuthenticatedVariableGuid: a store of AUTHENTICATED_VARIABLE_HEADERs (what OVMF with Secure Boot uses). */
export const AUTH_VARIABLE_STORE_GUID = 'AAF32C78-947B-439A-A180-2E144EC37792';
/** EFI_IMAGE_SECURITY_DATABASE_GUID: the vendor GUID of db and dbx. */
export const IMAGE_SECURITY_DATABASE_GUID = 'D719B2CB-3D3A-4596-A3BC-DAD00E67656F';
/** EFI_GLOBAL_VARIABLE: PK, KEK, SecureBoot, boot entries. */
export const GLOBAL_VARIABLE_GUID = '8BE4DF61-93CA-11D2-AA0D-00E098032B8C';

export const EFI_VARIABLE_NON_VOLATILE = 0x1;
export const EFI_VARIABLE_BOOTSERVICE_ACCESS = 0x2;
export const EFI_VARIABLE_RUNTIME_ACCESS = 0x4;
export const EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS = 0x20;

const FVH_SIGNATURE = 0x4856465f; // '_FVH'
const STORE_FORMATTED = 0x5a;
const STORE_HEALTHY = 0xfe;
const STORE_HEADER_BYTES = 28;
const VARIABLE_START_ID = 0x55aa;
/** State of a live variable; edk2 clears bits as a variable is replaced or deleted. */
const VAR_ADDED = 0x3f;
/** VAR_ADDED with VAR_IN_DELETED_TRANSITION cleared: live until its replacement (if any) is written. */
const VAR_ADDED_IN_TRANSITION = 0x3e;
const VARIABLE_HEADER_BYTES = 60;

export interface EfiTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanosecond: number;
}

export interface UefiVariable {
  name: string;
  vendorGuid: string;
  attributes: number;
  monotonicCount: bigint;
  /** EFI_TIME of a time-based authenticated variable; undefined where the header holds zeros. */
  timestamp?: EfiTime;
  pubKeyIndex: number;
  data: Buffer;
}

export interface VariableStore {
  /** The whole file, unchanged. */
  file: Buffer;
  /** Byte range of the variables (after the store header) within the file. */
  start: number;
  end: number;
  variables: UefiVariable[];
}

function fail(what: string): never {
  throw new DiskFormatError(`not an edk2 UEFI variable store: ${what}`, 'give the firmware\'s *_VARS*.fd file (raw, as the ovmf and qemu-efi-aarch64 packages ship it)');
}

function readTime(buf: Buffer, at: number): EfiTime | undefined {
  const year = buf.readUInt16LE(at);
  if (year === 0) return undefined;
  return { year, month: buf[at + 2]!, day: buf[at + 3]!, hour: buf[at + 4]!, minute: buf[at + 5]!, second: buf[at + 6]!, nanosecond: buf.readUInt32LE(at + 8) };
}

function writeTime(buf: Buffer, at: number, t: EfiTime | undefined): void {
  buf.fill(0, at, at + 16);
  if (!t) return;
  buf.writeUInt16LE(t.year, at);
  [t.month, t.day, t.hour, t.minute, t.second].forEach((v, i) => buf.writeUInt8(v, at + 2 + i));
  // Pad1 (at + 7), TimeZone, Daylight and Pad2 stay 0: UTC, as virt-fw-vars writes them.
  buf.writeUInt32LE(t.nanosecond, at + 8);
}

/** UCS-2 with its terminating NUL, as the variable header counts NameSize. */
function encodeName(name: string): Buffer {
  return Buffer.from(`${name}\0`, 'utf16le');
}

export function parseVariableStore(file: Buffer): VariableStore {
  if (file.length < 0x48 + STORE_HEADER_BYTES) fail(`${file.length} bytes is too short`);
  if (guidFromBytes(file, 16) !== NV_DATA_FV_GUID) fail('its firmware volume is not the NV data volume');
  if (file.readUInt32LE(40) !== FVH_SIGNATURE) fail('no _FVH signature');
  const headerLength = file.readUInt16LE(48);
  let sum = 0;
  for (let i = 0; i < headerLength; i += 2) sum = (sum + file.readUInt16LE(i)) & 0xffff;
  if (sum !== 0) fail('the firmware volume header checksum is wrong');
  const storeAt = headerLength;
  if (guidFromBytes(file, storeAt) !== AUTH_VARIABLE_STORE_GUID) fail('the variable store is not in the authenticated format');
  const size = file.readUInt32LE(storeAt + 16);
  if (file[storeAt + 20] !== STORE_FORMATTED || file[storeAt + 21] !== STORE_HEALTHY) fail('the variable store is not formatted and healthy');
  const start = storeAt + STORE_HEADER_BYTES;
  const end = storeAt + size;
  if (end > file.length) fail('the variable store runs past the end of the file');

  const live = new Map<string, UefiVariable>();
  const inTransition = new Map<string, UefiVariable>();
  let pos = start;
  while (pos + VARIABLE_HEADER_BYTES <= end && file.readUInt16LE(pos) === VARIABLE_START_ID) {
    const state = file[pos + 2]!;
    const nameSize = file.readUInt32LE(pos + 36);
    const dataSize = file.readUInt32LE(pos + 40);
    const nameAt = pos + VARIABLE_HEADER_BYTES;
    if (nameAt + nameSize + dataSize > end) fail(`the variable at offset ${pos} runs past the store`);
    if (state === VAR_ADDED || state === VAR_ADDED_IN_TRANSITION) {
      const variable: UefiVariable = {
        name: file.toString('utf16le', nameAt, nameAt + nameSize).replace(/\0+$/, ''),
        vendorGuid: guidFromBytes(file, pos + 44),
        attributes: file.readUInt32LE(pos + 4),
        monotonicCount: file.readBigUInt64LE(pos + 8),
        timestamp: readTime(file, pos + 16),
        pubKeyIndex: file.readUInt32LE(pos + 32),
        data: Buffer.from(file.subarray(nameAt + nameSize, nameAt + nameSize + dataSize)),
      };
      (state === VAR_ADDED ? live : inTransition).set(`${variable.vendorGuid}:${variable.name}`, variable);
    }
    pos = (nameAt + nameSize + dataSize + 3) & ~3;
  }
  // A variable caught mid-update counts only where its new copy never got written (edk2's own rule).
  for (const [key, v] of inTransition) if (!live.has(key)) live.set(key, v);
  return { file, start, end, variables: [...live.values()] };
}

/** The file with the store's variables replaced by `variables`; throws when they do not fit. */
export function serializeVariableStore(store: VariableStore, variables: readonly UefiVariable[]): Buffer {
  const out = Buffer.from(store.file);
  out.fill(0xff, store.start, store.end);
  let pos = store.start;
  for (const v of variables) {
    const name = encodeName(v.name);
    const next = (pos + VARIABLE_HEADER_BYTES + name.length + v.data.length + 3) & ~3;
    if (next > store.end) {
      throw new DiskFormatError(`the UEFI variables do not fit their store (${store.end - store.start} bytes)`, 'enroll fewer or smaller certificates');
    }
    out.writeUInt16LE(VARIABLE_START_ID, pos);
    out.writeUInt8(VAR_ADDED, pos + 2);
    out.writeUInt8(0, pos + 3);
    out.writeUInt32LE(v.attributes, pos + 4);
    out.writeBigUInt64LE(v.monotonicCount, pos + 8);
    writeTime(out, pos + 16, v.timestamp);
    out.writeUInt32LE(v.pubKeyIndex, pos + 32);
    out.writeUInt32LE(name.length, pos + 36);
    out.writeUInt32LE(v.data.length, pos + 40);
    guidToBytes(v.vendorGuid).copy(out, pos + 44);
    name.copy(out, pos + VARIABLE_HEADER_BYTES);
    v.data.copy(out, pos + VARIABLE_HEADER_BYTES + name.length);
    pos = next;
  }
  return out;
}

export function compareTime(a: EfiTime | undefined, b: EfiTime | undefined): number {
  const key = (t: EfiTime | undefined) => (t ? [t.year, t.month, t.day, t.hour, t.minute, t.second, t.nanosecond] : []);
  const [x, y] = [key(a), key(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

export function efiTimeOf(date: Date): EfiTime {
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
    nanosecond: date.getUTCMilliseconds() * 1_000_000,
  };
}
