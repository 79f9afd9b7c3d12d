/** The wasmtime WebAssembly runtime CLI. */
import type { Recipe } from '../recipe.js';

export const wasmtime: Recipe = {
  name: 'wasmtime',
  description: 'the wasmtime WebAssembly runtime',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: false,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '25.0.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    return [{ id: 'wasmtime', url: `https://github.com/bytecodealliance/wasmtime/releases/download/v${version}/wasmtime-v${version}-${a}-linux.tar.xz`, extract: 'tar.xz' }];
  },
  async install(ctx) {
    const bin = await ctx.source('wasmtime', `wasmtime-v${ctx.version}-${ctx.upstreamArch}-linux/wasmtime`);
    await ctx.installFile(bin, 'usr/bin/wasmtime', 0o755);
  },
};
