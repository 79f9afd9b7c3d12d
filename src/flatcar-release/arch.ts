import { UsageError } from '../errors.js';

/** Architectures as systemd and the bakery name them. */
export type Arch = 'x86-64' | 'arm64';
export type Board = 'amd64-usr' | 'arm64-usr';

const ARCH_ALIASES: Record<string, Arch> = {
  'x86-64': 'x86-64',
  x86_64: 'x86-64',
  amd64: 'x86-64',
  arm64: 'arm64',
  aarch64: 'arm64',
};

export function normalizeArch(value: string): Arch {
  const arch = ARCH_ALIASES[value.trim().toLowerCase()];
  if (!arch) {
    throw new UsageError(`unknown architecture '${value}'`, 'use x86-64 or arm64 (aliases: amd64, x86_64, aarch64)');
  }
  return arch;
}

export function boardFor(arch: Arch): Board {
  return arch === 'x86-64' ? 'amd64-usr' : 'arm64-usr';
}

/** The names releases.json uses in its `architectures` lists. */
export function releaseIndexArchNames(arch: Arch): string[] {
  return arch === 'x86-64' ? ['amd64', 'x86-64', 'x86_64', 'amd64-usr'] : ['arm64', 'aarch64', 'arm64-usr'];
}
