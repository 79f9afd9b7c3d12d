import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGpt } from '../../src/gpt/parse.js';
import { GptError, type GptTable } from '../../src/gpt/types.js';
import { SECTOR, SparseDisk, fixCrcs, makeFlatcarImage, makeTempDir, setU32, setU64 } from './helpers.js';

/** xorshift32: deterministic, so a failing iteration can be replayed from its number. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }
}

const SEED = 20240601;
const ITERATIONS = 6000;

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let base: SparseDisk;

beforeAll(async () => {
  tmp = await makeTempDir();
  const path = join(tmp.dir, 'flatcar.bin');
  await makeFlatcarImage(path);
  base = await SparseDisk.fromFile(path);
});

afterAll(async () => {
  await tmp?.cleanup();
});

const HEAD_BYTES = 34 * SECTOR;
const TAIL_BYTES = 33 * SECTOR;

function interestingLba(rng: Rng, lastSector: number): bigint {
  const values: (number | bigint)[] = [
    0, 1, 2, 33, 34, 35, 4096, 2101247, 2101248, 12722176, lastSector - 34, lastSector - 33, lastSector - 32,
    lastSector - 1, lastSector, lastSector + 1, 0xffffffff, 2 ** 32, 2 ** 53 - 1, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n,
    rng.next(), rng.int(lastSector + 1),
  ];
  return BigInt(rng.pick(values));
}

function interestingU32(rng: Rng): number {
  return rng.pick([0, 1, 91, 92, 93, 127, 128, 129, 256, 500, 512, 513, 4096, 4097, 8192, 0x00010000, 0xffffffff, rng.next(), rng.int(300)]);
}

/** Byte offset somewhere in the stored GPT sectors, weighted towards the headers. */
function gptOffset(rng: Rng, disk: SparseDisk): number {
  const backupHeader = disk.chunks[1]!.offset + TAIL_BYTES - SECTOR;
  switch (rng.int(5)) {
    case 4:
      return 446 + rng.int(66); // MBR partition table and boot signature
    case 0:
      return SECTOR + rng.int(96); // primary header fields
    case 1:
      return backupHeader + rng.int(96);
    case 2:
      return rng.int(HEAD_BYTES);
    default:
      return disk.chunks[1]!.offset + rng.int(TAIL_BYTES);
  }
}

function flipBytes(rng: Rng, disk: SparseDisk, count: number): void {
  for (let i = 0; i < count; i++) {
    const off = gptOffset(rng, disk);
    disk.poke(off, Buffer.from([disk.peek(off, 1)[0]! ^ (1 + rng.int(255))]));
  }
}

function fixAll(disk: SparseDisk): void {
  fixCrcs(disk, SECTOR);
  fixCrcs(disk, disk.chunks[1]!.offset + TAIL_BYTES - SECTOR);
}

function mutateHeaderField(rng: Rng, disk: SparseDisk, lastSector: number): void {
  const header = rng.chance(0.7) ? SECTOR : disk.chunks[1]!.offset + TAIL_BYTES - SECTOR;
  const field = rng.pick([8, 12, 24, 32, 40, 48, 72, 80, 84]);
  if ([8, 12, 80, 84].includes(field)) setU32(disk, header + field, interestingU32(rng));
  else setU64(disk, header + field, interestingLba(rng, lastSector));
  fixCrcs(disk, header);
}

function mutateEntry(rng: Rng, disk: SparseDisk, lastSector: number): void {
  const n = 1 + rng.int(12);
  const arrays = [2 * SECTOR, disk.chunks[1]!.offset];
  const targets = rng.chance(0.9) ? arrays : [rng.pick(arrays)];
  const kind = rng.int(4);
  const value = kind < 2 ? interestingLba(rng, lastSector) : 0n;
  const bytes = Buffer.alloc(16);
  if (kind === 2 && rng.chance(0.5)) for (let i = 0; i < 16; i++) bytes[i] = rng.int(256);
  for (const array of targets) {
    const entry = array + (n - 1) * 128;
    if (kind === 0) setU64(disk, entry + 32, value);
    else if (kind === 1) setU64(disk, entry + 40, value);
    else if (kind === 2) disk.poke(entry, bytes); // type GUID: cleared (entry deleted) or random (entry created)
    else disk.poke(entry + 56 + rng.int(72), Buffer.from([rng.int(256)]));
  }
  fixAll(disk);
}

function checkTable(t: GptTable, size: number): void {
  expect(t.diskSectors * t.sectorSize).toBeLessThanOrEqual(size);
  expect(t.firstUsableLba).toBeLessThanOrEqual(t.lastUsableLba);
  expect(t.lastUsableLba).toBeLessThan(t.diskSectors);
  expect(t.backupHeaderLba).toBeLessThan(t.diskSectors);
  let end = -1;
  for (const p of [...t.partitions].sort((a, b) => a.firstLba - b.firstLba)) {
    expect(Number.isSafeInteger(p.firstLba) && Number.isSafeInteger(p.lastLba)).toBe(true);
    expect(p.firstLba).toBeGreaterThan(end);
    expect(p.firstLba).toBeGreaterThanOrEqual(t.firstUsableLba);
    expect(p.lastLba).toBeLessThanOrEqual(t.lastUsableLba);
    end = p.lastLba;
  }
}

describe('parseGpt fuzz', () => {
  it(`gives a table or a GptError for ${ITERATIONS} mutated images, never reading outside the disk`, async () => {
    const rng = new Rng(SEED);
    const lastSector = base.size / SECTOR - 1;
    const outcomes = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const disk = base.clone();
      const strategy = rng.int(6);
      switch (strategy) {
        case 0: // raw damage, nothing repaired
          flipBytes(rng, disk, 1 + rng.int(4));
          break;
        case 1: // truncation, sometimes with damage
          disk.size = rng.pick([rng.int(HEAD_BYTES + SECTOR), rng.int(base.size), base.size - 1 - rng.int(TAIL_BYTES + SECTOR)]);
          if (rng.chance(0.3)) flipBytes(rng, disk, 1);
          break;
        case 2: // one header field changed, CRCs repaired so the field checks are reached
          mutateHeaderField(rng, disk, lastSector);
          break;
        case 3: // entries changed in both arrays, CRCs repaired so partition checks are reached
          mutateEntry(rng, disk, lastSector);
          break;
        case 4: // random damage, CRCs repaired
          flipBytes(rng, disk, 1 + rng.int(3));
          fixAll(disk);
          break;
        default: // several of the above
          mutateHeaderField(rng, disk, lastSector);
          mutateEntry(rng, disk, lastSector);
          if (rng.chance(0.3)) disk.size -= rng.int(TAIL_BYTES);
          break;
      }
      let outcome: string;
      try {
        const t = await parseGpt(disk.reader());
        checkTable(t, disk.size);
        outcome = 'valid';
      } catch (err) {
        if (!(err instanceof GptError)) {
          throw new Error(`iteration ${i} (strategy ${strategy}, seed ${SEED}): ${String(err)}`, { cause: err });
        }
        expect(err.message.length).toBeGreaterThan(20);
        outcome = err.code;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The mutations must reach the deep checks, not just bounce off the CRCs.
    for (const code of [
      'valid', 'no-protective-mbr', 'bad-signature', 'bad-revision', 'header-size', 'header-crc', 'bad-lba', 'entry-size',
      'entry-count', 'entries-crc', 'truncated', 'bad-partition', 'overlap', 'backup-header-crc', 'backup-entries-crc',
      'backup-mismatch', 'backup-bad-lba', 'backup-truncated',
    ]) {
      expect(outcomes.get(code) ?? 0, `outcome ${code} in ${JSON.stringify([...outcomes])}`).toBeGreaterThan(0);
    }
  }, 20_000);
});
