/**
 * Every vendor image is a copy of the same baked image, so their OEM and
 * USR-A filesystems share one btrfs fsid. Kernels before temp-fsid support
 * (6.7) refuse to mount a second device with an fsid already mounted, so
 * btrfs mounts of parallel vendors take turns. The sections are short
 * (a few file copies, or one mksquashfs), and they run in parallel with the
 * other vendors' conversions.
 */
let tail: Promise<unknown> = Promise.resolve();

export function withBtrfsMountLock<T>(fn: () => Promise<T>): Promise<T> {
  const result = tail.then(fn, fn);
  // The next waiter starts when this one settles, whatever the outcome.
  tail = result.catch(() => undefined);
  return result;
}
