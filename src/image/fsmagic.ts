/** Filesystem kinds a sysext image may have, told apart by their superblock magic. */
export type FilesystemKind = 'squashfs' | 'erofs' | 'ext4' | 'btrfs';

/** How many bytes of a file detectFilesystemKind needs to see. */
export const FS_MAGIC_PROBE_BYTES = 65536 + 64 + 8;

/** Pure: looks at the first bytes of an image; undefined when none matches. */
export function detectFilesystemKind(head: Buffer): FilesystemKind | undefined {
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'hsqs') return 'squashfs';
  if (head.length >= 1028 && head.readUInt32LE(1024) === 0xe0f5e1e2) return 'erofs';
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return 'ext4';
  if (head.length >= 65600 + 8 && head.toString('latin1', 65600, 65608) === '_BHRfS_M') return 'btrfs';
  return undefined;
}
