/**
 * LlamaEdge: the llama-api-server WebAssembly app and the WasmEdge WASI-NN (GGML) plugin it
 * needs; run it with the wasmedge runtime (the wasmedge sysext).
 */
import type { Recipe } from '../recipe.js';

export const llamaedge: Recipe = {
  name: 'llamaedge',
  description: 'the LlamaEdge API server (wasm) with the WasmEdge WASI-NN GGML plugin',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: false,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '0.14.16',
  options: {
    // The plugin must match the runtime's version; the bakery pins this one.
    'wasmedge-version': { description: 'WasmEdge release the WASI-NN plugin is taken from', default: '0.14.1', pattern: /^\d+\.\d+\.\d+$/ },
  },
  source: import.meta.url,
  downloads({ version, upstreamArch: a, options }) {
    const w = options['wasmedge-version']!;
    return [
      { id: 'plugin', url: `https://github.com/WasmEdge/WasmEdge/releases/download/${w}/WasmEdge-plugin-wasi_nn-ggml-${w}-ubuntu20.04_${a}.tar.gz`, extract: 'tar.gz' },
      { id: 'server', url: `https://github.com/LlamaEdge/LlamaEdge/releases/download/${version}/llama-api-server.wasm` },
    ];
  },
  async install(ctx) {
    // WasmEdge loads plugins from /usr/lib/wasmedge.
    await ctx.installFile(await ctx.source('plugin', 'libwasmedgePluginWasiNN.so'), 'usr/lib/wasmedge/libwasmedgePluginWasiNN.so', 0o755);
    await ctx.installFile(ctx.file('server'), 'usr/lib/wasmedge/wasm/llama-api-server.wasm', 0o644);
    // Which WasmEdge runtime the plugin was built for (the plugin must match the runtime's version).
    await ctx.writeFile('usr/share/llamaedge/wasmedge-version', ctx.options['wasmedge-version']!);
  },
};
