/** k3s, with server and agent units (neither enabled: a node is one or the other). */
import type { Recipe } from '../recipe.js';

const unit = (mode: 'server' | 'agent', name: string) => `[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/usr/local/lib/systemd/system/${name}.env
KillMode=process
Delegate=yes
# Non-zero Limit*s cause accounting overhead in the kernel; cgroups do container-local accounting.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=/bin/sh -xc '! /usr/bin/systemctl is-enabled --quiet nm-cloud-setup.service 2>/dev/null'
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s ${mode}
`;

export const k3s: Recipe = {
  name: 'k3s',
  description: 'k3s lightweight Kubernetes with server and agent units',
  // Upstream asset names: k3s (amd64) and k3s-arm64; checksum lists per Go arch.
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  // EXTENSION_RELOAD_MANAGER=1 as the bakery: systemd sees the units right after merging.
  reload: true,
  versionPattern: /^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$/,
  versionExample: 'v1.31.1+k3s1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const base = `https://github.com/k3s-io/k3s/releases/download/${version}`;
    const asset = a === 'amd64' ? 'k3s' : `k3s-${a}`;
    return [{ id: 'k3s', url: `${base}/${asset}`, checksum: { url: `${base}/sha256sum-${a}.txt`, format: 'sha256sum', entry: asset } }];
  },
  async install(ctx) {
    await ctx.installFile(ctx.file('k3s'), 'usr/local/bin/k3s', 0o755);
    // k3s is a multi-call binary; the bakery links the tools it embeds.
    for (const tool of ['kubectl', 'ctr', 'crictl']) await ctx.symlink('./k3s', `usr/local/bin/${tool}`);
    await ctx.writeFile('usr/local/lib/systemd/system/k3s.service', unit('server', 'k3s.service'));
    await ctx.writeFile('usr/local/lib/systemd/system/k3s-agent.service', unit('agent', 'k3s-agent.service'));
  },
};
