/**
 * NVIDIA container runtime (nvidia-container-toolkit + libnvidia-container) from upstream's
 * Debian package bundle, with the drop-ins that make Docker and containerd use it on Flatcar.
 * The NVIDIA driver itself is not part of it (Flatcar installs it to /opt/nvidia).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import type { Recipe } from '../recipe.js';

/** The packages of the bundle that hold the runtime, by name prefix of their .deb files. */
const PACKAGES = ['libnvidia-container1_', 'libnvidia-container-tools_', 'nvidia-container-toolkit-base_', 'nvidia-container-toolkit_'];

const DOCKER_DROPIN = `[Unit]
After=nvidia.service

[Service]
Environment=DOCKER_OPTS=--add-runtime=nvidia=nvidia-container-runtime
`;

const CONTAINERD_DROPIN = `[Unit]
After=nvidia.service

[Service]
ExecStart=
ExecStart=/usr/bin/containerd --config /etc/containerd/config.toml
`;

// Flatcar's nvidia.service installs the driver into /opt at boot; around it, this helper unmerges
// a stale driver overlay, then starts nvidia-persistenced (if the driver has one) and merges the
// driver (/opt/nvidia/current) as a runtime extension. A script shipped in the image, so the
// unit does not name /opt programs that exist only once the driver is installed.
const PERSISTENCED_HELPER = `#!/bin/bash
set -euo pipefail
case "\${1:-}" in
  pre)
    if [ -e /run/extensions/nvidia-driver ]; then
      rm -f /run/extensions/nvidia-driver
      systemctl restart systemd-sysext
    fi
    ;;
  post)
    if [ -x /opt/bin/nvidia-persistenced ]; then /opt/bin/nvidia-persistenced || true; fi
    chcon -R -t container_file_t /dev/nvidia* 2>/dev/null || true
    mkdir -p /run/extensions
    ln -sfn /opt/nvidia/current /run/extensions/nvidia-driver
    systemctl restart systemd-sysext
    ;;
  *)
    echo "usage: $0 pre|post" >&2
    exit 2
    ;;
esac
`;

const PERSISTENCED_DROPIN = `[Service]
ExecStartPre=-/usr/local/bin/_nvidia-persistenced-helper pre
ExecStartPost=/usr/local/bin/_nvidia-persistenced-helper post
`;

const TMPFILES = `C /etc/containerd/config.toml - - - - /usr/share/flatcar/etc/containerd/config.toml
C /etc/nvidia-container-runtime/config.toml - - - - /usr/share/flatcar/etc/nvidia-container-runtime/config.toml
`;

const RUNTIME_CONFIG = `disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"

[nvidia-container-cli]
environment = []
ldconfig = "@/sbin/ldconfig"
load-kmods = true

[nvidia-container-runtime]
log-level = "info"
mode = "auto"
runtimes = ["docker-runc", "runc", "crun"]

[nvidia-container-runtime.modes]

[nvidia-container-runtime.modes.cdi]
annotation-prefixes = ["cdi.k8s.io/"]
default-kind = "nvidia.com/gpu"
spec-dirs = ["/etc/cdi", "/var/run/cdi"]

[nvidia-container-runtime.modes.csv]
mount-spec-path = "/etc/nvidia-container-runtime/host-files-for-container.d"

[nvidia-container-runtime-hook]
path = "nvidia-container-runtime-hook"
skip-mode-detection = false

[nvidia-ctk]
path = "nvidia-ctk"
`;

const CONTAINERD_CONFIG = `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
subreaper = true
oom_score = -999
disabled_plugins = []

[grpc]
address = "/run/containerd/containerd.sock"
uid = 0
gid = 0

[plugins."io.containerd.runtime.v1.linux"]
shim = "containerd-shim"
runtime = "runc"
no_shim = false

[plugins."io.containerd.grpc.v1.cri"]
enable_selinux = true

[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "nvidia"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
BinaryName = "/usr/bin/nvidia-container-runtime"
SystemdCgroup = true
`;

/** Every file under DIR, relative paths. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = path.join(prefix, e.name);
    if (e.isDirectory()) out.push(...(await walk(dir, rel)));
    else out.push(rel);
  }
  return out;
}

export const nvidiaRuntime: Recipe = {
  name: 'nvidia-runtime',
  aliases: ['nvidia_runtime'],
  description: 'the NVIDIA container toolkit (runtime, hook, CLI) with Docker and containerd drop-ins',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: false,
  versionPattern: /^v\d+\.\d+\.\d+$/,
  versionExample: 'v1.16.2',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const plain = version.slice(1);
    return [{ id: 'bundle', url: `https://github.com/NVIDIA/nvidia-container-toolkit/releases/download/${version}/nvidia-container-toolkit_${plain}_deb_${a}.tar.gz`, extract: 'tar.gz' }];
  },
  async install(ctx) {
    // The bundle nests the .deb files in per-distribution directories; find them by name.
    const debs = (await walk(ctx.dir('bundle'))).filter((f) => f.endsWith(`_${ctx.upstreamArch}.deb`));
    const unpacked = path.join(ctx.work, 'debs');
    for (const prefix of PACKAGES) {
      const deb = debs.filter((f) => path.basename(f).startsWith(prefix)).sort()[0];
      if (!deb) throw new InputError(`the NVIDIA bundle has no ${prefix}*_${ctx.upstreamArch}.deb (it has: ${debs.map((d) => path.basename(d)).join(', ') || 'none'})`);
      await ctx.extractDeb(path.join(ctx.dir('bundle'), deb), unpacked);
    }
    await ctx.installTree(path.join(unpacked, 'usr/bin'), 'usr/bin');
    for (const bin of ['nvidia-container-cli', 'nvidia-container-runtime', 'nvidia-ctk', 'nvidia-container-runtime-hook']) {
      if (!(await ctx.exists(`usr/bin/${bin}`))) throw new InputError(`the NVIDIA packages did not provide usr/bin/${bin}`);
    }
    // Debian's multiarch dir (usr/lib/x86_64-linux-gnu) is not on Flatcar's library path; usr/lib is.
    const libRoot = path.join(unpacked, 'usr/lib');
    for (const multiarch of (await readdir(libRoot)).filter((d) => d.endsWith('-linux-gnu'))) {
      await ctx.installTree(path.join(libRoot, multiarch), 'usr/lib');
    }
    // The driver lives in /opt (installed by Flatcar's nvidia.service).
    await ctx.symlink('/opt/nvidia', 'usr/local/nvidia');
    await ctx.symlink('/opt/bin/nvidia-smi', 'usr/bin/nvidia-smi');
    await ctx.unitDropIn('docker.service', '10-nvidia.conf', DOCKER_DROPIN);
    await ctx.unitDropIn('containerd.service', '10-nvidia.conf', CONTAINERD_DROPIN);
    await ctx.writeFile('usr/local/bin/_nvidia-persistenced-helper', PERSISTENCED_HELPER, 0o755);
    await ctx.unitDropIn('nvidia.service', '10-persistenced.conf', PERSISTENCED_DROPIN);
    await ctx.writeFile('usr/lib/tmpfiles.d/10-nvidia.conf', TMPFILES);
    await ctx.writeFile('usr/share/flatcar/etc/nvidia-container-runtime/config.toml', RUNTIME_CONFIG);
    await ctx.writeFile('usr/share/flatcar/etc/containerd/config.toml', CONTAINERD_CONFIG);
  },
};
