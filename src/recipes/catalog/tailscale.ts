/** Tailscale: the client and daemon with upstream's own unit and defaults file. */
import type { Recipe } from '../recipe.js';

export const tailscale: Recipe = {
  name: 'tailscale',
  description: 'the Tailscale client and tailscaled with its unit',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '1.76.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    return [{ id: 'tailscale', url: `https://pkgs.tailscale.com/stable/tailscale_${version}_${a}.tgz`, extract: 'tgz' }];
  },
  async install(ctx) {
    const top = `tailscale_${ctx.version}_${ctx.upstreamArch}`;
    await ctx.installFile(await ctx.source('tailscale', `${top}/tailscale`), 'usr/bin/tailscale', 0o755);
    // Upstream's unit runs /usr/sbin/tailscaled.
    await ctx.installFile(await ctx.source('tailscale', `${top}/tailscaled`), 'usr/sbin/tailscaled', 0o755);
    await ctx.installFile(await ctx.source('tailscale', `${top}/systemd/tailscaled.service`), 'usr/lib/systemd/system/tailscaled.service', 0o644);
    await ctx.installFile(await ctx.source('tailscale', `${top}/systemd/tailscaled.defaults`), 'usr/share/tailscale/tailscaled.defaults', 0o644);
    // The unit reads /etc/default/tailscaled; tmpfiles creates it from the shipped defaults once.
    await ctx.writeFile('usr/lib/tmpfiles.d/10-tailscale.conf', 'C /etc/default/tailscaled - - - - /usr/share/tailscale/tailscaled.defaults\n');
  },
};
