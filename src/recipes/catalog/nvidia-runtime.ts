/**
 * NVIDIA container runtime (nvidia-container-toolkit + libnvidia-container) from upstream's
 * Debian package bundle, with the drop-ins that make Docker and containerd use it on Flatcar.
 * The NVIDIA driver itself is not part of it (Flatcar installs it to /opt/nvidia).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import type { Recipe } from '../recipe.js';
import { forVersion, type VersionRange } from '../versions.js';

/** The packages of the bundle that hold the runtime, by name prefix of their .deb files. */
const PACKAGES = ['libnvidia-container1_', 'libnvidia-container-tools_', 'nvidia-container-toolkit-base_', 'nvidia-container-toolkit_'];
/** Packages only some releases have. */
const OPTIONAL_PACKAGES = ['nvidia-container-toolkit-cdi-refresh_'];

const DOCKER_DROPIN = `[Unit]
After=nvidia.service

[Service]
Environment=DOCKER_OPTS=--add-runtime=nvidia=nvidia-container-runtime
`;

// The NVIDIA containerd config is its own file (config-nvidia.toml, as the bakery names it), so it
// never overwrites a containerd config.toml the user or another sysext provides.
const CONTAINERD_DROPIN = `[Unit]
After=nvidia.service

[Service]
ExecStart=
ExecStart=/usr/bin/containerd --config /etc/containerd/config-nvidia.toml
`;

// Around Flatcar's nvidia.service, as the bakery's current _nvidia-runtime-helper does: since 2025
// Flatcar ships the driver as its own sysext (flatcar-nvidia-drivers); only without it does the
// helper merge the driver nvidia.service installs in /opt (/opt/nvidia/current) as a runtime
// extension, with nvidia-smi linked into it. A script in the image, so the unit names no /opt program.
const RUNTIME_HELPER = `#!/bin/bash
set -euo pipefail
# Flatcar's own driver sysext, if merged, provides everything; leave /run/extensions alone then.
driver_sysext=0
if systemd-sysext list 2>&1 | grep -q flatcar-nvidia-drivers; then driver_sysext=1; fi
case "\${1:-}" in
  pre)
    if [ "$driver_sysext" -eq 0 ]; then
      { rm /run/extensions/nvidia-driver && systemctl restart systemd-sysext; } || true
    fi
    ;;
  post)
    chcon -R -t container_file_t /dev/nvidia* || true
    if [ "$driver_sysext" -eq 0 ]; then
      mkdir -p /run/extensions /opt/nvidia/current/usr/bin
      ln -sf /opt/bin/nvidia-smi /opt/nvidia/current/usr/bin/nvidia-smi
      ln -sf /opt/nvidia/current /run/extensions/nvidia-driver
      systemctl restart systemd-sysext
    fi
    ;;
  *)
    echo "usage: $0 pre|post" >&2
    exit 1
    ;;
esac
`;

// ExecStopPost unloads the modules so a restarted nvidia.service can load a new driver.
const NVIDIA_DROPIN = `[Service]
ExecStartPre=/usr/local/bin/_nvidia-runtime-helper pre
ExecStartPost=/usr/local/bin/_nvidia-runtime-helper post
ExecStopPost=rmmod nvidia_uvm nvidia_modeset nvidia
`;

const TMPFILES = `C /etc/containerd/config-nvidia.toml - - - - /usr/share/flatcar/etc/containerd/config-nvidia.toml
C /etc/nvidia-container-runtime/config.toml - - - - /usr/share/flatcar/etc/nvidia-container-runtime/config.toml
`;
const CDI_REFRESH_ENV = 'nvidia-cdi-refresh.env';
const TMPFILES_CDI = `C /etc/nvidia-container-toolkit/${CDI_REFRESH_ENV} - - - - /usr/share/flatcar/etc/nvidia-container-toolkit/${CDI_REFRESH_ENV}\n`;

/**
 * From toolkit 1.18.0 the packages ship nvidia-cdi-refresh.{service,path} (regenerate the CDI spec
 * when the driver changes) and their env file in etc/nvidia-container-toolkit/; the bakery installs
 * them. The units sat in etc/systemd/system in 1.18 and move to lib/systemd/system later (and to
 * their own nvidia-container-toolkit-cdi-refresh package): both places are looked at.
 */
const CDI_REFRESH: readonly VersionRange<{ units: readonly string[] }>[] = [
  { units: [] },
  { since: '1.18.0', units: ['nvidia-cdi-refresh.service', 'nvidia-cdi-refresh.path'] },
];
const UNIT_DIRS = ['etc/systemd/system', 'lib/systemd/system', 'usr/lib/systemd/system'];

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

async function firstExisting(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) if (await stat(p).then((st) => st.isFile(), () => false)) return p;
  return undefined;
}

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
    for (const prefix of [...PACKAGES, ...OPTIONAL_PACKAGES]) {
      const deb = debs.filter((f) => path.basename(f).startsWith(prefix)).sort()[0];
      if (!deb && OPTIONAL_PACKAGES.includes(prefix)) continue;
      if (!deb) throw new InputError(`the NVIDIA bundle has no ${prefix}*_${ctx.upstreamArch}.deb (it has: ${debs.map((d) => path.basename(d)).join(', ') || 'none'})`);
      await ctx.extractDeb(path.join(ctx.dir('bundle'), deb), unpacked);
    }
    await ctx.installTree(path.join(unpacked, 'usr/bin'), 'usr/bin');
    for (const bin of ['nvidia-container-cli', 'nvidia-container-runtime', 'nvidia-ctk', 'nvidia-container-runtime-hook']) {
      if (!(await ctx.exists(`usr/bin/${bin}`))) throw new InputError(`the NVIDIA packages did not provide usr/bin/${bin}`);
    }
    // Debian's multiarch dir (usr/lib/x86_64-linux-gnu) is not on Flatcar's library path. Libraries
    // a sysext adds are not in the ld.so cache (flatcar/scripts#391), so they go where the loader
    // searches by default: usr/lib64, as the bakery does.
    const libRoot = path.join(unpacked, 'usr/lib');
    for (const multiarch of (await readdir(libRoot)).filter((d) => d.endsWith('-linux-gnu'))) {
      await ctx.installTree(path.join(libRoot, multiarch), 'usr/lib64');
    }
    const { units } = forVersion(CDI_REFRESH, ctx.version);
    for (const unit of units) {
      const found = await firstExisting(UNIT_DIRS.map((d) => path.join(unpacked, d, unit)));
      if (!found) throw new InputError(`the NVIDIA ${ctx.version} packages have no ${unit} (looked in ${UNIT_DIRS.join(', ')})`, 'the package layout changed for this version; the recipe needs an update');
      await ctx.installFile(found, `usr/lib/systemd/system/${unit}`, 0o644);
    }
    let tmpfiles = TMPFILES;
    if (units.length > 0) {
      const env = path.join(unpacked, 'etc/nvidia-container-toolkit', CDI_REFRESH_ENV);
      if (!(await firstExisting([env]))) throw new InputError(`the NVIDIA ${ctx.version} packages have no etc/nvidia-container-toolkit/${CDI_REFRESH_ENV}`, 'the package layout changed for this version; the recipe needs an update');
      await ctx.installFile(env, `usr/share/flatcar/etc/nvidia-container-toolkit/${CDI_REFRESH_ENV}`, 0o644);
      tmpfiles += TMPFILES_CDI;
    }
    // The driver lives in /opt (installed by Flatcar's nvidia.service, or Flatcar's driver sysext).
    await ctx.symlink('/opt/nvidia', 'usr/local/nvidia');
    await ctx.unitDropIn('docker.service', '10-nvidia.conf', DOCKER_DROPIN);
    await ctx.unitDropIn('containerd.service', '10-nvidia.conf', CONTAINERD_DROPIN);
    await ctx.writeFile('usr/local/bin/_nvidia-runtime-helper', RUNTIME_HELPER, 0o755);
    await ctx.unitDropIn('nvidia.service', '10-persistenced.conf', NVIDIA_DROPIN);
    await ctx.writeFile('usr/lib/tmpfiles.d/10-nvidia.conf', tmpfiles);
    await ctx.writeFile('usr/share/flatcar/etc/nvidia-container-runtime/config.toml', RUNTIME_CONFIG);
    await ctx.writeFile('usr/share/flatcar/etc/containerd/config-nvidia.toml', CONTAINERD_CONFIG);
  },
};
