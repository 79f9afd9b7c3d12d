/**
 * Tailscale: the client and daemon with upstream's own unit and defaults file, laid out as the
 * bakery's tailscale.sysext (flatcar/sysext-bakery, Apache-2.0): both programs in usr/bin, the
 * unit's /usr/sbin paths rewritten, networkd told to leave tailscale0 alone, tailscaled upheld.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import type { Recipe } from '../recipe.js';

// Without it systemd-networkd manages tailscale0 (Flatcar's catch-all .network files match it)
// and MagicDNS breaks. From the bakery's files/usr/lib/systemd/network/50-tailscale.network.
const TAILSCALE_NETWORK = `[Match]
Kind=tun
Name=tailscale*
[Link]
Unmanaged=yes
`;

export const tailscale: Recipe = {
  name: 'tailscale',
  description: 'the Tailscale client and tailscaled with its unit',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  // The bakery lists GitHub tags (v1.76.1); pkgs.tailscale.com names files without the v.
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v1.76.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    // pkgs.tailscale.com publishes no checksum list next to the tarballs.
    return [{ id: 'tailscale', url: `https://pkgs.tailscale.com/stable/tailscale_${version.replace(/^v/, '')}_${a}.tgz`, extract: 'tgz' }];
  },
  async install(ctx) {
    const top = `tailscale_${ctx.version.replace(/^v/, '')}_${ctx.upstreamArch}`;
    // Flatcar's /usr/sbin is a symlink to /usr/bin; a sysext must not ship a usr/sbin directory.
    await ctx.installFile(await ctx.source('tailscale', `${top}/tailscale`), 'usr/bin/tailscale', 0o755);
    await ctx.installFile(await ctx.source('tailscale', `${top}/tailscaled`), 'usr/bin/tailscaled', 0o755);
    const unit = await readFile(await ctx.source('tailscale', `${top}/systemd/tailscaled.service`), 'utf8');
    const rewritten = unit.replaceAll('/usr/sbin/tailscaled', '/usr/bin/tailscaled');
    if (!rewritten.includes('/usr/bin/tailscaled') || /\/usr\/sbin\//.test(rewritten)) {
      throw new InputError(`the tailscale ${ctx.version} unit does not run /usr/sbin/tailscaled as expected`, 'the upstream unit changed; the recipe needs an update');
    }
    await ctx.unit('tailscaled.service', rewritten);
    await ctx.installFile(await ctx.source('tailscale', `${top}/systemd/tailscaled.defaults`), 'usr/share/tailscale/tailscaled.defaults', 0o644);
    // The unit reads /etc/default/tailscaled; tmpfiles creates it from the shipped defaults once.
    await ctx.writeFile('usr/lib/tmpfiles.d/10-tailscale.conf', 'C /etc/default/tailscaled - - - - /usr/share/tailscale/tailscaled.defaults\n');
    await ctx.writeFile('usr/lib/systemd/network/50-tailscale.network', TAILSCALE_NETWORK);
    await ctx.upholds('multi-user.target', 'tailscaled.service');
  },
};
