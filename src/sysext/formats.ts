/** Filesystems a sysext image can have (kept apart from create.ts so --help loads nothing else). */
export type SysextFormat = 'squashfs' | 'erofs' | 'ext4' | 'btrfs';
export const SYSEXT_FORMATS: readonly SysextFormat[] = ['squashfs', 'erofs', 'ext4', 'btrfs'];
