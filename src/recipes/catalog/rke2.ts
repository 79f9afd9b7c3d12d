/** RKE2 from its release tarball, which is laid out for /usr/local (bin/, lib/systemd/, share/). */
import type { Recipe } from '../recipe.js';

export const rke2: Recipe = {
  name: 'rke2',
  description: 'RKE2 (Rancher Kubernetes) with its server and agent units',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  // EXTENSION_RELOAD_MANAGER=1 as the bakery: systemd sees the units right after merging.
  reload: true,
  versionPattern: /^v\d+\.\d+\.\d+(-rc\d+)?\+rke2r\d+$/,
  versionExample: 'v1.31.1+rke2r1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const base = `https://github.com/rancher/rke2/releases/download/${version}`;
    return [{ id: 'rke2', url: `${base}/rke2.linux-${a}.tar.gz`, checksum: { url: `${base}/sha256sum-${a}.txt`, format: 'sha256sum' }, extract: 'tar.gz' }];
  },
  async install(ctx) {
    await ctx.source('rke2', 'bin/rke2');
    await ctx.installTree(ctx.dir('rke2'), 'usr/local');
    // An uninstall script cannot remove files from a read-only sysext: removing the sysext is the uninstall.
    await ctx.remove('usr/local/bin/rke2-uninstall.sh');
  },
};
