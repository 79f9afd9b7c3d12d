import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/gpt/crc32.js';
import { guidFromBytes, guidToBytes, isGuid, isZeroGuidBytes, parseGuid, ZERO_GUID } from '../../src/gpt/guid.js';
import { InputError } from '../../src/errors.js';

describe('crc32', () => {
  it('matches the standard check value and other published vectors', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
    expect(crc32(Buffer.from('a'))).toBe(0xe8b7be43);
    expect(crc32(Buffer.from('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    expect(crc32(Buffer.alloc(32, 0))).toBe(0x190a55ad);
    expect(crc32(Buffer.alloc(32, 0xff))).toBe(0xff6cab0b);
  });

  it('continues across pieces', () => {
    const data = Buffer.from('GPT headers and entry arrays are checksummed with CRC-32');
    for (const cut of [0, 1, 7, data.length - 1, data.length]) {
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(crc32(data));
    }
  });

  it('is always an unsigned 32-bit value', () => {
    for (let i = 0; i < 64; i++) {
      const v = crc32(Buffer.from([i, i * 7, 255 - i]));
      expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
    }
  });
});

describe('guid', () => {
  // The EFI System Partition type as it appears on disk.
  const espBytes = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex');
  const esp = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

  it('decodes the mixed-endian layout', () => {
    expect(guidFromBytes(espBytes)).toBe(esp);
    const padded = Buffer.concat([Buffer.from([1, 2, 3]), espBytes]);
    expect(guidFromBytes(padded, 3)).toBe(esp);
  });

  it('encodes back to the same bytes', () => {
    expect(guidToBytes(esp).equals(espBytes)).toBe(true);
    expect(guidToBytes(esp.toLowerCase()).equals(espBytes)).toBe(true);
  });

  it('round-trips arbitrary bytes and strings', () => {
    for (let seed = 1; seed < 200; seed++) {
      const bytes = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) bytes[i] = (seed * 37 + i * 101) & 0xff;
      const text = guidFromBytes(bytes);
      expect(text).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
      expect(guidToBytes(text).equals(bytes)).toBe(true);
    }
  });

  it('parses and canonicalises, rejecting malformed strings', () => {
    expect(parseGuid('{7130c94a-213a-4e5a-8e26-6cce9662f132}')).toBe('7130C94A-213A-4E5A-8E26-6CCE9662F132');
    expect(parseGuid(' 7130c94a-213a-4e5a-8e26-6cce9662f132 ')).toBe('7130C94A-213A-4E5A-8E26-6CCE9662F132');
    for (const bad of ['', 'C12A7328F81F11D2BA4B00A0C93EC93B', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93', 'G12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'C12A7328-F81F-11D2-BA4B00-A0C93EC93B']) {
      expect(isGuid(bad)).toBe(false);
      expect(() => parseGuid(bad)).toThrow(InputError);
    }
    expect(isGuid(esp)).toBe(true);
  });

  it('recognises the all-zero GUID', () => {
    expect(isZeroGuidBytes(guidToBytes(ZERO_GUID))).toBe(true);
    expect(isZeroGuidBytes(espBytes)).toBe(false);
    const almost = Buffer.alloc(16);
    almost[15] = 1;
    expect(isZeroGuidBytes(almost)).toBe(false);
  });

  it('refuses to read past the buffer', () => {
    expect(() => guidFromBytes(Buffer.alloc(15))).toThrow(RangeError);
  });
});
