/**
 * Kubernetes node binaries (kubeadm, kubelet, kubectl) with the kubelet unit, the kubeadm drop-in
 * and the CNI plugins, laid out as the bakery's kubernetes sysext.
 */
import type { Recipe } from '../recipe.js';
import { latestReleaseTag } from '../versions.js';

const CNI_LATEST = 'https://api.github.com/repos/containernetworking/plugins/releases/latest';

const KUBELET_SERVICE = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/home/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`;

// kubeadm writes /var/lib/kubelet/kubeadm-flags.env and the kubeconfigs this drop-in points at;
// the ExecStartPre lines copy the CNI plugins to /opt/cni/bin where CNI configs expect them.
const KUBEADM_DROPIN = `# This drop-in only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# Written by "kubeadm init" and "kubeadm join": KUBELET_KUBEADM_ARGS.
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# Last-resort overrides by the user: KUBELET_EXTRA_ARGS.
EnvironmentFile=-/etc/sysconfig/kubelet
ExecStart=
ExecStartPre=/usr/bin/mkdir -p /opt/cni/bin
ExecStartPre=/usr/bin/cp -r /usr/local/bin/cni/. /opt/cni/bin/
ExecStartPre=/usr/bin/cp /usr/local/share/kubernetes-version /etc/kubernetes-version
ExecStartPre=/usr/bin/mkdir -p /var/kubernetes/kubelet-plugins/volume/exec/
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;

const BINARIES = ['kubectl', 'kubeadm', 'kubelet'] as const;

export const kubernetes: Recipe = {
  name: 'kubernetes',
  description: 'kubeadm, kubelet and kubectl with the kubelet unit and the CNI plugins',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^v\d+\.\d+\.\d+(-(alpha|beta|rc)\.\d+)?$/,
  versionExample: 'v1.31.1',
  options: {
    'cni-version': { description: 'CNI plugins release, e.g. v1.5.1 (default: the latest release)', pattern: /^v\d+\.\d+\.\d+$/ },
  },
  source: import.meta.url,
  async resolve(input, fetchText) {
    if (input.options['cni-version']) return { cni: input.options['cni-version'] };
    return { cni: await latestReleaseTag(fetchText, CNI_LATEST, /^v\d+\.\d+\.\d+$/, 'cni-version', 'v1.5.1') };
  },
  downloads({ version, upstreamArch: a, params }) {
    const bins = BINARIES.map((bin) => {
      const url = `https://dl.k8s.io/${version}/bin/linux/${a}/${bin}`;
      return { id: bin, url, checksum: { url: `${url}.sha256`, format: 'bare' as const } };
    });
    const cni = `https://github.com/containernetworking/plugins/releases/download/${params.cni}/cni-plugins-linux-${a}-${params.cni}.tgz`;
    return [...bins, { id: 'cni', url: cni, checksum: { url: `${cni}.sha256`, format: 'sha256sum' }, extract: 'tgz' }];
  },
  async install(ctx) {
    for (const bin of BINARIES) await ctx.installFile(ctx.file(bin), `usr/bin/${bin}`, 0o755);
    // Kept at /usr/local/bin/cni, where this extension has always put them (kubelet configs refer to it).
    await ctx.installTree(ctx.dir('cni'), 'usr/local/bin/cni');
    await ctx.writeFile('usr/local/share/kubernetes-version', ctx.version);
    await ctx.writeFile('usr/local/share/kubernetes-cni-version', ctx.params.cni!);
    // Flex volume plugins must be writable; /var/kubernetes/... is created by the kubelet unit.
    await ctx.symlink('/var/kubernetes/kubelet-plugins/volume/exec', 'usr/libexec/kubernetes/kubelet-plugins/volume/exec');
    await ctx.unit('kubelet.service', KUBELET_SERVICE);
    await ctx.unitDropIn('kubelet.service', '10-kubeadm.conf', KUBEADM_DROPIN);
    await ctx.upholds('multi-user.target', 'kubelet.service');
  },
};
