/**
 * CRC-32 as used by GPT headers and entry arrays (IEEE 802.3: reflected
 * polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF).
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 of `data`. Pass the result of a previous call as `previous` to
 * continue over data split in pieces: crc32(b, crc32(a)) === crc32(a ++ b).
 */
export function crc32(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) {
    // Both indexes are in range by construction; the `!` only quiets noUncheckedIndexedAccess.
    crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}
