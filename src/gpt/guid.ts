/**
 * GPT stores GUIDs "mixed-endian": the first three groups little-endian, the
 * last two as plain bytes. Strings are canonical uppercase
 * `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`.
 */
import { InputError } from '../errors.js';

export const GUID_BYTES = 16;
export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/** Decode the 16 bytes at `offset` of `buf`. */
export function guidFromBytes(buf: Uint8Array, offset = 0): string {
  if (offset < 0 || offset + GUID_BYTES > buf.length) {
    throw new RangeError(`a GUID needs ${GUID_BYTES} bytes at offset ${offset}, the buffer has ${buf.length}`);
  }
  const b = buf.subarray(offset, offset + GUID_BYTES);
  const le = (from: number, to: number) => hex(Uint8Array.from(b.subarray(from, to)).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/** Is `text` a GUID (any case, optional braces)? */
export function isGuid(text: string): boolean {
  return GUID_RE.test(text);
}

/** Validate a GUID string and return it in canonical uppercase form. */
export function parseGuid(text: string): string {
  const m = GUID_RE.exec(text.trim());
  if (!m) {
    throw new InputError(
      `"${text}" is not a GUID`,
      'write it as 8-4-4-4-12 hexadecimal digits, e.g. C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
    );
  }
  return m.slice(1).join('-').toUpperCase();
}

/** Encode a GUID string into its 16 on-disk bytes. */
export function guidToBytes(text: string): Buffer {
  const canonical = parseGuid(text);
  const [a, b, c, d, e] = canonical.split('-') as [string, string, string, string, string];
  const le = (h: string) => Buffer.from(h, 'hex').reverse();
  return Buffer.concat([le(a), le(b), le(c), Buffer.from(d + e, 'hex')]);
}

/** True when the 16 bytes at `offset` are all zero (GPT's "unused entry" marker). */
export function isZeroGuidBytes(buf: Uint8Array, offset = 0): boolean {
  for (let i = offset; i < offset + GUID_BYTES; i++) {
    if (buf[i] !== 0) return false;
  }
  return true;
}
