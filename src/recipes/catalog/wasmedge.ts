/** The WasmEdge runtime: the CLI and its shared libraries. */
import type { Recipe } from '../recipe.js';
import { forVersion, type VersionRange } from '../versions.js';

/**
 * The tarball's top directory by version: `WasmEdge-<version>-Linux/` up to 0.14.x, none from
 * 0.15.0 on (bin/ and lib/ at the top). The bakery's wasmedge.sysext/create.sh switches at 0.15.0.
 */
const LAYOUTS: readonly VersionRange<{ top: (version: string) => string }>[] = [
  { top: (v) => `WasmEdge-${v}-Linux/` },
  { since: '0.15.0', top: () => '' },
];

export const wasmedge: Recipe = {
  name: 'wasmedge',
  description: 'the WasmEdge WebAssembly runtime',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: false,
  versionPattern: /^\d+\.\d+\.\d+(-(alpha|beta|rc)\.\d+)?$/,
  versionExample: '0.15.0',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    return [{ id: 'wasmedge', url: `https://github.com/WasmEdge/WasmEdge/releases/download/${version}/WasmEdge-${version}-ubuntu20.04_${a}.tar.gz`, extract: 'tar.gz' }];
  },
  async install(ctx) {
    const top = forVersion(LAYOUTS, ctx.version).top(ctx.version);
    await ctx.installFile(await ctx.source('wasmedge', `${top}bin/wasmedge`), 'usr/bin/wasmedge', 0o755);
    // libwasmedge.so and its version links: the CLI is linked against them.
    await ctx.installTree(await ctx.source('wasmedge', `${top}lib`), 'usr/lib');
  },
};
