/**
 * containerd from its static release tarball, with the runc version that containerd release
 * pins (script/setup/runc-version in its source tree), both verified against upstream checksums.
 */
import { InputError } from '../../errors.js';
import type { Recipe } from '../recipe.js';

const CONTAINERD_SERVICE = `[Unit]
Description=containerd container runtime
After=network.target

[Service]
Delegate=yes
Environment=CONTAINERD_CONFIG=/usr/share/containerd/config.toml
ExecStart=/usr/bin/containerd --config \${CONTAINERD_CONFIG}
KillMode=process
Restart=always
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
`;

const containerdConfig = (systemdCgroup: boolean) => `version = 3
# set containerd's OOM score
oom_score = -999
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = ${systemdCgroup}
`;

const RUNC_VERSION = /^v\d+\.\d+\.\d+(-rc\.?\d+)?$/;

export const containerd: Recipe = {
  name: 'containerd',
  description: 'containerd (static build) and the runc release it pins',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '1.7.23',
  options: {
    'runc-version': { description: 'runc release to bundle, e.g. v1.1.14 (default: the one the containerd release pins)', pattern: RUNC_VERSION },
  },
  source: import.meta.url,
  async resolve({ version, options }, fetchText) {
    if (options['runc-version']) return { runc: options['runc-version'] };
    const url = `https://raw.githubusercontent.com/containerd/containerd/refs/tags/v${version}/script/setup/runc-version`;
    const runc = (await fetchText(url)).trim();
    if (!RUNC_VERSION.test(runc)) throw new InputError(`${url} does not name a runc release ("${runc.slice(0, 40)}")`, 'pass the runc-version option, e.g. v1.1.14');
    return { runc };
  },
  downloads({ version, upstreamArch: a, params }) {
    const tarball = `https://github.com/containerd/containerd/releases/download/v${version}/containerd-static-${version}-linux-${a}.tar.gz`;
    const runcBase = `https://github.com/opencontainers/runc/releases/download/${params.runc}`;
    return [
      { id: 'containerd', url: tarball, checksum: { url: `${tarball}.sha256sum`, format: 'sha256sum' }, extract: 'tar.gz' },
      { id: 'runc', url: `${runcBase}/runc.${a}`, checksum: { url: `${runcBase}/runc.sha256sum`, format: 'sha256sum' } },
    ];
  },
  async install(ctx) {
    await ctx.source('containerd', 'bin/containerd');
    await ctx.installTree(await ctx.source('containerd', 'bin'), 'usr/bin');
    await ctx.installFile(ctx.file('runc'), 'usr/bin/runc', 0o755);
    await ctx.unit('containerd.service', CONTAINERD_SERVICE);
    await ctx.upholds('multi-user.target', 'containerd.service');
    await ctx.writeFile('usr/share/containerd/config.toml', containerdConfig(true));
    await ctx.writeFile('usr/share/containerd/config-cgroupfs.toml', containerdConfig(false));
  },
};
