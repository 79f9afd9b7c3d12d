/** The WasmEdge runtime: the CLI and its shared libraries. */
import type { Recipe } from '../recipe.js';

export const wasmedge: Recipe = {
  name: 'wasmedge',
  description: 'the WasmEdge WebAssembly runtime',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: false,
  versionPattern: /^\d+\.\d+\.\d+(-(alpha|beta|rc)\.\d+)?$/,
  versionExample: '0.14.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    return [{ id: 'wasmedge', url: `https://github.com/WasmEdge/WasmEdge/releases/download/${version}/WasmEdge-${version}-ubuntu20.04_${a}.tar.gz`, extract: 'tar.gz' }];
  },
  async install(ctx) {
    const top = `WasmEdge-${ctx.version}-Linux`;
    await ctx.installFile(await ctx.source('wasmedge', `${top}/bin/wasmedge`), 'usr/bin/wasmedge', 0o755);
    // libwasmedge.so and its version links: the CLI is linked against them.
    await ctx.installTree(await ctx.source('wasmedge', `${top}/lib`), 'usr/lib');
  },
};
