import { UsageError } from './errors.js';

/** The architectures Flatcar ships, as systemd names them (ARCHITECTURE=, the bakery's file names). */
export const ARCHES = ['x86-64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

/** The spellings users type (Go's, uname's, Debian's) for each of them. */
const ARCH_ALIASES: Readonly<Record<string, Arch>> = {
  'x86-64': 'x86-64',
  x86_64: 'x86-64',
  amd64: 'x86-64',
  arm64: 'arm64',
  aarch64: 'arm64',
};

/** An architecture as a user gave it (a flag, a config key, an ELF header's name) to systemd's name. */
export function normalizeArch(value: string): Arch {
  const arch = ARCH_ALIASES[value.trim().toLowerCase()];
  if (!arch) {
    throw new UsageError(`unknown architecture '${value}'`, 'use x86-64 or arm64 (aliases: amd64, x86_64, aarch64)');
  }
  return arch;
}
