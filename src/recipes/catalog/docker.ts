/**
 * Docker from the static release tarball: docker, dockerd and helpers plus the containerd and
 * runc that tarball bundles. Variants drop one half, as the bakery's ONLY_DOCKER / ONLY_CONTAINERD
 * (later --without) do.
 */
import type { RecipeContext } from '../context.js';
import type { Recipe } from '../recipe.js';

const DOCKER_PROGRAMS = ['docker', 'dockerd', 'docker-init', 'docker-proxy'];
/** containerd-shim (v1) was dropped from newer tarballs; it is removed only when present. */
const CONTAINERD_PROGRAMS = ['containerd', 'containerd-shim', 'containerd-shim-runc-v2', 'ctr', 'runc'];

const DOCKER_SOCKET = `[Unit]
PartOf=docker.service
Description=Docker Socket for the API

[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
`;

const DOCKER_SERVICE = `[Unit]
Description=Docker Application Container Engine
After=containerd.service docker.socket network-online.target
Wants=network-online.target
Requires=containerd.service docker.socket

[Service]
Type=notify
EnvironmentFile=-/run/flannel/flannel_docker_opts.env
Environment=DOCKER_SELINUX=--selinux-enabled=true
ExecStart=/usr/bin/dockerd --host=fd:// --containerd=/run/containerd/containerd.sock $DOCKER_SELINUX $DOCKER_OPTS $DOCKER_CGROUPS $DOCKER_OPT_BIP $DOCKER_OPT_MTU $DOCKER_OPT_IPMASQ
ExecReload=/bin/kill -s HUP $MAINPID
LimitNOFILE=1048576
# Non-zero Limit*s cause accounting overhead in the kernel; cgroups do container-local accounting.
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
# systemd must not reset the cgroups of docker containers
Delegate=yes
# kill only the docker process, not all processes in the cgroup
KillMode=process
Restart=on-failure
StartLimitBurst=3
StartLimitInterval=60s

[Install]
WantedBy=multi-user.target
`;

const CONTAINERD_SERVICE = `[Unit]
Description=containerd container runtime
After=network.target

[Service]
Delegate=yes
Environment=CONTAINERD_CONFIG=/usr/share/containerd/config.toml
ExecStartPre=mkdir -p /run/docker/libcontainerd
ExecStartPre=ln -fs /run/containerd/containerd.sock /run/docker/libcontainerd/docker-containerd.sock
ExecStart=/usr/bin/containerd --config \${CONTAINERD_CONFIG}
KillMode=process
Restart=always
# (lack of) limits from the upstream docker service unit
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
`;

const containerdConfig = (systemdCgroup: boolean) => `version = 2
# set containerd's OOM score
oom_score = -999
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
# setting runc.options unsets parent settings
runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
SystemdCgroup = ${systemdCgroup}
`;

async function installDocker(ctx: RecipeContext): Promise<void> {
  await ctx.unit('docker.socket', DOCKER_SOCKET);
  await ctx.unit('docker.service', DOCKER_SERVICE);
  // Socket activation: docker.service starts on the first API call.
  await ctx.upholds('sockets.target', 'docker.socket');
}

async function installContainerd(ctx: RecipeContext): Promise<void> {
  await ctx.unit('containerd.service', CONTAINERD_SERVICE);
  await ctx.upholds('multi-user.target', 'containerd.service');
  await ctx.writeFile('usr/share/containerd/config.toml', containerdConfig(true));
  await ctx.writeFile('usr/share/containerd/config-cgroupfs.toml', containerdConfig(false));
}

export const docker: Recipe = {
  name: 'docker',
  description: 'Docker, containerd and runc from the static Docker release tarball',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  // Like every bakery image since 2024 (its lib/generate.sh defaults to --os _any): no
  // SYSEXT_LEVEL and ID=_any, so it merges on any release of any OS, not only Flatcar.
  os: '_any',
  reload: true,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '27.3.1',
  variants: {
    'only-docker': 'Docker only: containerd and runc come from the OS or another sysext',
    'only-containerd': 'containerd and runc only, without Docker',
  },
  source: import.meta.url,
  downloads({ version, upstreamArch }) {
    // download.docker.com publishes no checksums for the static tarballs.
    return [{ id: 'docker', url: `https://download.docker.com/linux/static/stable/${upstreamArch}/docker-${version}.tgz`, extract: 'tgz' }];
  },
  async install(ctx) {
    const top = await ctx.source('docker', 'docker');
    const withDocker = ctx.variant !== 'only-containerd';
    const withContainerd = ctx.variant !== 'only-docker';
    await ctx.installTree(top, 'usr/bin');
    for (const p of DOCKER_PROGRAMS) {
      if (!(await ctx.exists(`usr/bin/${p}`))) await ctx.source('docker', `docker/${p}`);
      if (!withDocker) await ctx.remove(`usr/bin/${p}`);
    }
    for (const p of CONTAINERD_PROGRAMS) {
      if (!withContainerd) await ctx.remove(`usr/bin/${p}`);
    }
    if (withContainerd) {
      for (const p of ['containerd', 'runc']) if (!(await ctx.exists(`usr/bin/${p}`))) await ctx.source('docker', `docker/${p}`);
    }
    if (withDocker) await installDocker(ctx);
    if (withContainerd) await installContainerd(ctx);
  },
};
