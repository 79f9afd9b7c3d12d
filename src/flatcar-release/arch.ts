import type { Arch } from '../arch.js';

export type Board = 'amd64-usr' | 'arm64-usr';

export function boardFor(arch: Arch): Board {
  return arch === 'x86-64' ? 'amd64-usr' : 'arm64-usr';
}

/** The names releases.json uses in its `architectures` lists. */
export function releaseIndexArchNames(arch: Arch): string[] {
  return arch === 'x86-64' ? ['amd64', 'x86-64', 'x86_64', 'amd64-usr'] : ['arm64', 'aarch64', 'arm64-usr'];
}
