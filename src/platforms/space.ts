/**
 * Free-space checks before a vendor starts. Vendors run in parallel, so each
 * reservation stays held until its vendor ends, and a check counts what the
 * others on the same filesystem may still write.
 */
import { stat, statfs } from 'node:fs/promises';
import { FlatbakeError } from '../errors.js';
import type { VendorRecord } from './types.js';

/** A vendor's work directory cannot hold what the vendor would write. */
export class InsufficientSpaceError extends FlatbakeError {}

const MiB = 1024 * 1024;
/** Firmware copies, configs, filesystem metadata written by resize2fs, archive headers. */
const MARGIN_BYTES = 64 * MiB;

/** Bytes a file really occupies (holes cost nothing). */
export async function allocatedBytes(file: string): Promise<number> {
  const st = await stat(file);
  return st.blocks * 512;
}

/**
 * Rough upper bound of what a vendor writes, from the bytes the baked image
 * really holds. Pure. A disk vendor holds the grown copy and the converted
 * disk at once, plus one more copy while it archives or bundles it; pxe and iso
 * hold a squashfs of /usr and its compressed cpio (and the ISO).
 */
export function estimateVendorBytes(vendor: VendorRecord, imageAllocated: number, oemSysextBytes: number): number {
  let copies: number;
  if (vendor.kind === 'disk') copies = 2 + (vendor.bundle || vendor.disk?.archive ? 1 : 0);
  else copies = vendor.kind === 'iso' ? 3 : 2;
  return copies * imageAllocated + oemSysextBytes + MARGIN_BYTES;
}

export class SpaceLedger {
  private readonly held = new Map<bigint, number>();

  /**
   * Reserves `bytes` on the filesystem of `dir`, or throws
   * InsufficientSpaceError naming what is needed and what is free.
   * Returns the release function.
   */
  async reserve(vendor: string, dir: string, bytes: number): Promise<() => void> {
    const [fs, st] = await Promise.all([statfs(dir, { bigint: true }), stat(dir, { bigint: true })]);
    const free = Number(fs.bavail * fs.bsize);
    const others = this.held.get(st.dev) ?? 0;
    if (free - others < bytes) {
      const mib = (n: number) => `${Math.ceil(n / MiB)} MiB`;
      throw new InsufficientSpaceError(
        `not enough free space for vendor ${vendor} in ${dir}: it needs about ${mib(bytes)}, ${mib(free)} are free${others > 0 ? ` and ${mib(others)} of it are held for other vendors being written` : ''}`,
        'free some space, write fewer vendors at once, or point --output at a bigger filesystem',
      );
    }
    this.held.set(st.dev, others + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.set(st.dev, (this.held.get(st.dev) ?? bytes) - bytes);
    };
  }
}
