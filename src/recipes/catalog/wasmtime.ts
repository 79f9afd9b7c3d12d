/** The wasmtime WebAssembly runtime CLI. */
import type { Recipe } from '../recipe.js';

export const wasmtime: Recipe = {
  name: 'wasmtime',
  description: 'the wasmtime WebAssembly runtime',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: false,
  // The bakery passes tags (v24.0.0) and names its files so; both spellings are accepted.
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v25.0.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const tag = `v${version.replace(/^v/, '')}`;
    return [{ id: 'wasmtime', url: `https://github.com/bytecodealliance/wasmtime/releases/download/${tag}/wasmtime-${tag}-${a}-linux.tar.xz`, extract: 'tar.xz' }];
  },
  async install(ctx) {
    const tag = `v${ctx.version.replace(/^v/, '')}`;
    const bin = await ctx.source('wasmtime', `wasmtime-${tag}-${ctx.upstreamArch}-linux/wasmtime`);
    await ctx.installFile(bin, 'usr/bin/wasmtime', 0o755);
  },
};
