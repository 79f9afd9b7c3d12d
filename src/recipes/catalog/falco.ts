/**
 * Falco runtime security: the upstream binary tarball, its default configuration kept under
 * /usr/share/falco/etc and copied to /etc by tmpfiles on first boot (so users can edit it).
 */
import type { Recipe } from '../recipe.js';

const FALCO_MODERN_BPF = `[Unit]
Description=Falco: Container Native Runtime Security with modern ebpf
Documentation=https://falco.org/docs/
Before=falcoctl-artifact-follow.service
Wants=falcoctl-artifact-follow.service

[Service]
Type=simple
User=root
ExecStart=/usr/bin/falco -o engine.kind=modern_ebpf
ExecReload=kill -1 $MAINPID
UMask=0077
TimeoutSec=30
RestartSec=15s
Restart=on-failure
PrivateTmp=true
NoNewPrivileges=yes
ProtectHome=read-only
ProtectSystem=full
ProtectKernelTunables=true
RestrictRealtime=true
RestrictAddressFamilies=~AF_PACKET
StandardOutput=null

[Install]
WantedBy=multi-user.target
`;

const FALCOCTL_FOLLOW = `[Unit]
Description=Falcoctl Artifact Follow: automatic artifacts update service
Documentation=https://falco.org/docs/
PartOf=falco-bpf.service falco-kmod.service falco-modern-bpf.service falco-custom.service

[Service]
Type=simple
User=root
ExecStart=/usr/bin/falcoctl artifact follow --allowed-types=rulesfile
UMask=0077
TimeoutSec=30
RestartSec=15s
Restart=on-failure
PrivateTmp=true
NoNewPrivileges=yes
ProtectSystem=true
ReadWriteDirectories=/usr/share/falco
ProtectKernelTunables=true
RestrictRealtime=true

[Install]
WantedBy=multi-user.target
`;

export const falco: Recipe = {
  name: 'falco',
  description: 'Falco runtime security (modern eBPF) with falcoctl',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: true,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '0.39.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    return [{ id: 'falco', url: `https://download.falco.org/packages/bin/${a}/falco-${version}-${a}.tar.gz`, extract: 'tar.gz' }];
  },
  async install(ctx) {
    const top = `falco-${ctx.version}-${ctx.upstreamArch}`;
    await ctx.source('falco', `${top}/usr/bin/falco`);
    await ctx.installTree(await ctx.source('falco', `${top}/usr`), 'usr');
    // /etc is not part of a sysext: ship the defaults and let tmpfiles copy them once.
    for (const conf of ['falco', 'falcoctl']) {
      await ctx.installTree(await ctx.source('falco', `${top}/etc/${conf}`), `usr/share/falco/etc/${conf}`);
    }
    // C+ (the bakery's): copy the defaults into an /etc/falco that already exists but is empty.
    await ctx.writeFile('usr/lib/tmpfiles.d/10-falco.conf', 'C+ /etc/falco - - - - /usr/share/falco/etc/falco\n');
    // Not enabled: which engine (modern eBPF, kmod, ...) to run is the user's choice, as upstream.
    await ctx.writeFile('usr/local/lib/systemd/system/falco-modern-bpf.service', FALCO_MODERN_BPF);
    await ctx.writeFile('usr/local/lib/systemd/system/falcoctl-artifact-follow.service', FALCOCTL_FOLLOW);
  },
};
