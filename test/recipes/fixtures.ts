/**
 * For each recipe: publish its upstream release files (as the real upstream names and lays them
 * out) into an Upstream, and say what the built image must contain.
 */
import { elf, sha256, type Upstream } from './upstream.js';
import type { Arch } from '../../src/arch.js';

export interface Expectation {
  version: string;
  os: '_any' | 'flatcar';
  reload: boolean;
  /** Regular files and their permission bits. */
  files: Record<string, number>;
  /** Files whose bytes must be exactly these (upstream binaries copied unchanged, generated text). */
  contents?: Record<string, Buffer | string>;
  symlinks?: Record<string, string>;
  /** Lines a file must hold (a unit setting the bakery has, without restating the whole unit). */
  lines?: Record<string, string[]>;
  /** Paths that must not be in the image. */
  absent?: string[];
  /** The image's top-level directories; default just usr. */
  tops?: string[];
  /** [target, unit]: usr/lib/systemd/system/TARGET.d/10-BASE.conf with Upholds=UNIT. */
  upholds?: Array<[string, string]>;
}

/**
 * FIXTURES keys are `<recipe>` or `<recipe>@<what>` (a second upstream release, e.g. the other side
 * of a layout change). Each fixture says which real upstream release it mirrors.
 */
export interface Fixture {
  /** Default: both. Fixtures of extra versions may use one to keep the suite lean. */
  arches?: readonly Arch[];
  publish(up: Upstream, arch: Arch): Promise<Expectation>;
}

/** The recipe a FIXTURES key is for. */
export const recipeOfFixture = (key: string) => key.split('@')[0]!;

const A = {
  goarch: (a: Arch) => (a === 'x86-64' ? 'amd64' : 'arm64'),
  uname: (a: Arch) => (a === 'x86-64' ? 'x86_64' : 'aarch64'),
  triplet: (a: Arch) => (a === 'x86-64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu'),
};

const X = 0o755;
const R = 0o644;
const UNITS = 'usr/lib/systemd/system';

async function tailscaleRelease(up: Upstream, arch: Arch, version: string): Promise<Expectation> {
  const plain = version.replace(/^v/, '');
  const top = `tailscale_${plain}_${A.goarch(arch)}`;
  const unit = (sbin: string) => `[Unit]
Description=Tailscale node agent
Documentation=https://tailscale.com/kb/
Wants=network-pre.target
After=network-pre.target NetworkManager.service systemd-resolved.service

[Service]
EnvironmentFile=/etc/default/tailscaled
ExecStart=${sbin}/tailscaled --state=/var/lib/tailscale/tailscaled.state --socket=/run/tailscale/tailscaled.sock --port=\${PORT} $FLAGS
ExecStopPost=${sbin}/tailscaled --cleanup

Restart=on-failure

RuntimeDirectory=tailscale
RuntimeDirectoryMode=0755
StateDirectory=tailscale
StateDirectoryMode=0700
CacheDirectory=tailscale
CacheDirectoryMode=0750
Type=notify

[Install]
WantedBy=multi-user.target
`;
  const tailscaled = elf(arch, 'tailscaled');
  await up.tar(`https://pkgs.tailscale.com/stable/${top}.tgz`, 'gz', {
    [`${top}/tailscale`]: elf(arch, 'tailscale'),
    [`${top}/tailscaled`]: tailscaled,
    [`${top}/systemd/tailscaled.service`]: unit('/usr/sbin'),
    [`${top}/systemd/tailscaled.defaults`]: '# Set the port to listen on for incoming VPN packets.\nPORT="41641"\n\n# Extra flags you might want to pass to tailscaled.\nFLAGS=""\n',
  });
  return {
    version, os: '_any', reload: true,
    files: {
      'usr/bin/tailscale': X, 'usr/bin/tailscaled': X, [`${UNITS}/tailscaled.service`]: R, 'usr/share/tailscale/tailscaled.defaults': R,
      'usr/lib/tmpfiles.d/10-tailscale.conf': R, 'usr/lib/systemd/network/50-tailscale.network': R,
    },
    contents: {
      [`${UNITS}/tailscaled.service`]: unit('/usr/bin'),
      'usr/bin/tailscaled': tailscaled,
      'usr/lib/systemd/network/50-tailscale.network': '[Match]\nKind=tun\nName=tailscale*\n[Link]\nUnmanaged=yes\n',
    },
    upholds: [['multi-user.target', 'tailscaled.service']],
    absent: ['usr/sbin'],
  };
}

async function ollamaRelease(up: Upstream, arch: Arch, version: string, suffix: 'tgz' | 'tar.zst'): Promise<Expectation> {
  const a = A.goarch(arch);
  const base = `https://github.com/ollama/ollama/releases/download/${version}`;
  const bin = elf(arch, `ollama ${version}`);
  const tarball = await up.tar(`${base}/ollama-linux-${a}.${suffix}`, suffix === 'tgz' ? 'gz' : 'zst', { 'bin/ollama': bin, 'lib/ollama/libggml-base.so': elf(arch, 'ggml') }, ['.']);
  await up.addSum(`${base}/sha256sum.txt`, `./ollama-linux-${a}.${suffix}`, tarball);
  return {
    version, os: '_any', reload: true,
    files: { 'usr/local/bin/ollama': X, 'usr/local/lib/ollama/libggml-base.so': X, [`${UNITS}/ollama.service`]: R },
    contents: { 'usr/local/bin/ollama': bin },
    upholds: [['multi-user.target', 'ollama.service']],
  };
}

async function wasmedgeRelease(up: Upstream, arch: Arch, version: string, top: string): Promise<Expectation> {
  const cli = elf(arch, `wasmedge ${version}`);
  await up.tar(`https://github.com/WasmEdge/WasmEdge/releases/download/${version}/WasmEdge-${version}-ubuntu20.04_${A.uname(arch)}.tar.gz`, 'gz', {
    [`${top}bin/wasmedge`]: cli,
    [`${top}lib/libwasmedge.so.0.1.0`]: elf(arch, 'libwasmedge'),
    [`${top}lib/libwasmedge.so.0`]: { symlink: 'libwasmedge.so.0.1.0' },
    [`${top}lib/libwasmedge.so`]: { symlink: 'libwasmedge.so.0' },
    [`${top}include/wasmedge/wasmedge.h`]: '/* api */\n',
  });
  return {
    version, os: '_any', reload: false,
    files: { 'usr/bin/wasmedge': X, 'usr/lib/libwasmedge.so.0.1.0': X },
    contents: { 'usr/bin/wasmedge': cli },
    symlinks: { 'usr/lib/libwasmedge.so.0': 'libwasmedge.so.0.1.0', 'usr/lib/libwasmedge.so': 'libwasmedge.so.0' },
    absent: ['usr/include', 'usr/bin/wasmedgec'],
  };
}

async function wasmcloudRelease(up: Upstream, arch: Arch, version: string): Promise<Expectation> {
  const program = version.replace(/^v/, '').startsWith('1.') ? 'wasmcloud' : 'wash';
  const tag = `v${version.replace(/^v/, '')}`;
  const bin = await up.file(`https://github.com/wasmcloud/wasmcloud/releases/download/${tag}/${program}-${A.uname(arch)}-unknown-linux-musl`, elf(arch, `${program} ${tag}`));
  await up.file('https://api.github.com/repos/nats-io/nats-server/releases/latest', JSON.stringify({ tag_name: 'v2.10.20' }));
  const top = `nats-server-v2.10.20-linux-${A.goarch(arch)}`;
  await up.tar(`https://github.com/nats-io/nats-server/releases/download/v2.10.20/${top}.tar.gz`, 'gz', { [`${top}/nats-server`]: elf(arch, 'nats'), [`${top}/LICENSE`]: 'x\n', [`${top}/README.md`]: 'x\n' });
  const host = program === 'wasmcloud';
  return {
    version, os: '_any', reload: true,
    files: { [`usr/bin/${program}`]: X, 'usr/bin/nats-server': X, [`${UNITS}/nats.service`]: R, 'usr/share/nats/nats.conf': R, ...(host ? { [`${UNITS}/wasmcloud.service`]: R } : {}) },
    contents: { [`usr/bin/${program}`]: bin },
    upholds: [...(host ? [['multi-user.target', 'wasmcloud.service'] as [string, string]] : []), ['multi-user.target', 'nats.service']],
    absent: host ? ['usr/bin/wash'] : ['usr/bin/wasmcloud', `${UNITS}/wasmcloud.service`],
  };
}

async function wasmtimeRelease(up: Upstream, arch: Arch, version: string): Promise<Expectation> {
  const tag = `v${version.replace(/^v/, '')}`;
  const top = `wasmtime-${tag}-${A.uname(arch)}-linux`;
  const bin = elf(arch, `wasmtime ${tag}`);
  await up.tar(`https://github.com/bytecodealliance/wasmtime/releases/download/${tag}/${top}.tar.xz`, 'xz', { [`${top}/wasmtime`]: bin, [`${top}/LICENSE`]: 'x\n', [`${top}/README.md`]: 'x\n' });
  return { version, os: '_any', reload: false, files: { 'usr/bin/wasmtime': X }, contents: { 'usr/bin/wasmtime': bin }, absent: ['usr/bin/LICENSE', UNITS] };
}

async function nvidiaRelease(up: Upstream, arch: Arch, plain: string): Promise<Expectation> {
  const version = `v${plain}`;
  const a = A.goarch(arch);
  const lib = `usr/lib/${A.triplet(arch)}`;
  const libso = elf(arch, 'libnvidia-container');
  const cdi = plain.startsWith('1.18');
  const cdiService = '[Unit]\nDescription=Refresh NVIDIA CDI specification file\nConditionPathExists=|/usr/bin/nvidia-smi\nConditionPathExists=|/usr/sbin/nvidia-smi\n\n[Service]\nType=oneshot\nEnvironmentFile=-/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env\nExecStart=/usr/bin/nvidia-ctk cdi generate\n\n[Install]\nWantedBy=multi-user.target\n';
  const cdiPath = '[Unit]\nDescription=Trigger CDI refresh on NVIDIA driver install / uninstall events\n\n[Path]\nPathChanged=/lib/modules/%v/modules.dep\nPathChanged=/lib/modules/%v/modules.dep.bin\n\n[Install]\nWantedBy=multi-user.target\n';
  const cdiEnv = 'NVIDIA_CTK_CDI_OUTPUT_FILE_PATH=/var/run/cdi/nvidia.yaml\n';
  const debs = {
    [`libnvidia-container1_${plain}-1_${a}.deb`]: await up.deb({
      [`${lib}/libnvidia-container.so.${plain}`]: libso,
      [`${lib}/libnvidia-container.so.1`]: { symlink: `libnvidia-container.so.${plain}` },
      'usr/share/doc/libnvidia-container1/copyright': 'x\n',
    }),
    [`libnvidia-container-tools_${plain}-1_${a}.deb`]: await up.deb({ 'usr/bin/nvidia-container-cli': elf(arch, 'cli') }),
    [`nvidia-container-toolkit-base_${plain}-1_${a}.deb`]: await up.deb({
      'usr/bin/nvidia-container-runtime': elf(arch, 'runtime'),
      'usr/bin/nvidia-ctk': elf(arch, 'ctk'),
      'etc/nvidia-container-runtime/config.toml': '# upstream\n',
      ...(cdi ? {
        'etc/systemd/system/nvidia-cdi-refresh.service': cdiService,
        'etc/systemd/system/nvidia-cdi-refresh.path': cdiPath,
        'etc/nvidia-container-toolkit/nvidia-cdi-refresh.env': cdiEnv,
      } : {}),
    }),
    [`nvidia-container-toolkit_${plain}-1_${a}.deb`]: await up.deb({ 'usr/bin/nvidia-container-runtime-hook': elf(arch, 'hook') }),
    // Not wanted in the image: development files.
    [`libnvidia-container-dev_${plain}-1_${a}.deb`]: await up.deb({ 'usr/include/nvc.h': '/* header */\n' }),
  };
  const dir = `release-${version}-stable/packages/ubuntu18.04/${a}`;
  await up.tar(`https://github.com/NVIDIA/nvidia-container-toolkit/releases/download/${version}/nvidia-container-toolkit_${plain}_deb_${a}.tar.gz`, 'gz',
    Object.fromEntries(Object.entries(debs).map(([n, d]) => [`${dir}/${n}`, d])));
  const tmpfiles = [
    'C /etc/containerd/config-nvidia.toml - - - - /usr/share/flatcar/etc/containerd/config-nvidia.toml',
    'C /etc/nvidia-container-runtime/config.toml - - - - /usr/share/flatcar/etc/nvidia-container-runtime/config.toml',
    ...(cdi ? ['C /etc/nvidia-container-toolkit/nvidia-cdi-refresh.env - - - - /usr/share/flatcar/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env'] : []),
  ];
  return {
    version, os: '_any', reload: false,
    files: {
      'usr/bin/nvidia-container-cli': X, 'usr/bin/nvidia-container-runtime': X, 'usr/bin/nvidia-ctk': X, 'usr/bin/nvidia-container-runtime-hook': X,
      [`usr/lib64/libnvidia-container.so.${plain}`]: X, 'usr/local/bin/_nvidia-runtime-helper': X,
      [`${UNITS}/docker.service.d/10-nvidia.conf`]: R, [`${UNITS}/containerd.service.d/10-nvidia.conf`]: R, [`${UNITS}/nvidia.service.d/10-persistenced.conf`]: R,
      'usr/lib/tmpfiles.d/10-nvidia.conf': R,
      'usr/share/flatcar/etc/nvidia-container-runtime/config.toml': R, 'usr/share/flatcar/etc/containerd/config-nvidia.toml': R,
      ...(cdi ? { [`${UNITS}/nvidia-cdi-refresh.service`]: R, [`${UNITS}/nvidia-cdi-refresh.path`]: R, 'usr/share/flatcar/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env': R } : {}),
    },
    contents: {
      [`usr/lib64/libnvidia-container.so.${plain}`]: libso,
      'usr/lib/tmpfiles.d/10-nvidia.conf': `${tmpfiles.join('\n')}\n`,
      ...(cdi ? { [`${UNITS}/nvidia-cdi-refresh.service`]: cdiService, 'usr/share/flatcar/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env': cdiEnv } : {}),
    },
    lines: {
      [`${UNITS}/nvidia.service.d/10-persistenced.conf`]: ['ExecStartPre=/usr/local/bin/_nvidia-runtime-helper pre', 'ExecStartPost=/usr/local/bin/_nvidia-runtime-helper post', 'ExecStopPost=rmmod nvidia_uvm nvidia_modeset nvidia'],
      [`${UNITS}/containerd.service.d/10-nvidia.conf`]: ['ExecStart=/usr/bin/containerd --config /etc/containerd/config-nvidia.toml'],
      'usr/local/bin/_nvidia-runtime-helper': ['if systemd-sysext list 2>&1 | grep -q flatcar-nvidia-drivers; then driver_sysext=1; fi'],
    },
    symlinks: { 'usr/lib64/libnvidia-container.so.1': `libnvidia-container.so.${plain}`, 'usr/local/nvidia': '/opt/nvidia' },
    absent: ['usr/share/doc', 'usr/include', 'etc', `usr/lib/${A.triplet(arch)}`, 'usr/lib/libnvidia-container.so.1', 'usr/bin/nvidia-smi', 'usr/local/bin/_nvidia-persistenced-helper', 'usr/share/flatcar/etc/containerd/config.toml',
      ...(cdi ? [] : [`${UNITS}/nvidia-cdi-refresh.service`, 'usr/share/flatcar/etc/nvidia-container-toolkit'])],
  };
}

export const FIXTURES: Record<string, Fixture> = {
  kubernetes: {
    async publish(up, arch) {
      const version = 'v1.31.1';
      const a = A.goarch(arch);
      const contents: Record<string, Buffer | string> = {};
      for (const bin of ['kubectl', 'kubeadm', 'kubelet']) {
        const url = `https://dl.k8s.io/${version}/bin/linux/${a}/${bin}`;
        contents[`usr/bin/${bin}`] = await up.file(url, elf(arch, bin));
        // Kubernetes publishes the bare digest, no name, no newline.
        await up.file(`${url}.sha256`, sha256(contents[`usr/bin/${bin}`]!));
      }
      await up.file('https://api.github.com/repos/containernetworking/plugins/releases/latest', JSON.stringify({ tag_name: 'v1.5.1', name: 'v1.5.1' }));
      const cni = `https://github.com/containernetworking/plugins/releases/download/v1.5.1/cni-plugins-linux-${a}-v1.5.1.tgz`;
      const tgz = await up.tar(cni, 'gz', { bridge: elf(arch, 'bridge'), 'host-local': elf(arch, 'host-local'), LICENSE: 'Apache-2.0\n' }, ['.']);
      await up.addSum(`${cni}.sha256`, `cni-plugins-linux-${a}-v1.5.1.tgz`, tgz);
      contents['usr/local/share/kubernetes-version'] = 'v1.31.1\n';
      contents['usr/local/share/kubernetes-cni-version'] = 'v1.5.1\n';
      return {
        version, os: '_any', reload: true, contents,
        files: {
          'usr/bin/kubectl': X, 'usr/bin/kubeadm': X, 'usr/bin/kubelet': X,
          'usr/local/bin/cni/bridge': X, 'usr/local/bin/cni/host-local': X, 'usr/local/bin/cni/LICENSE': R,
          'usr/local/share/kubernetes-version': R, 'usr/local/share/kubernetes-cni-version': R,
          [`${UNITS}/kubelet.service`]: R, [`${UNITS}/kubelet.service.d/10-kubeadm.conf`]: R,
        },
        symlinks: { 'usr/libexec/kubernetes/kubelet-plugins/volume/exec': '/var/kubernetes/kubelet-plugins/volume/exec' },
        upholds: [['multi-user.target', 'kubelet.service']],
      };
    },
  },

  docker: {
    async publish(up, arch) {
      const version = '27.3.1';
      const names = ['containerd', 'containerd-shim-runc-v2', 'ctr', 'docker', 'docker-init', 'docker-proxy', 'dockerd', 'runc'];
      const tree = Object.fromEntries(names.map((n) => [`docker/${n}`, elf(arch, `docker/${n}`)]));
      await up.tar(`https://download.docker.com/linux/static/stable/${A.uname(arch)}/docker-${version}.tgz`, 'gz', tree);
      return {
        version, os: '_any', reload: true,
        lines: { [`${UNITS}/docker.socket`]: ['ListenStream=/run/docker.sock'], [`${UNITS}/containerd.service`]: ['LimitNOFILE=1048576'] },
        files: {
          ...Object.fromEntries(names.map((n) => [`usr/bin/${n}`, X])),
          [`${UNITS}/docker.socket`]: R, [`${UNITS}/docker.service`]: R, [`${UNITS}/containerd.service`]: R,
          'usr/share/containerd/config.toml': R, 'usr/share/containerd/config-cgroupfs.toml': R,
        },
        contents: { 'usr/bin/dockerd': tree['docker/dockerd']! },
        upholds: [['sockets.target', 'docker.socket'], ['multi-user.target', 'containerd.service']],
      };
    },
  },

  containerd: {
    async publish(up, arch) {
      const version = '1.7.23';
      const a = A.goarch(arch);
      const url = `https://github.com/containerd/containerd/releases/download/v${version}/containerd-static-${version}-linux-${a}.tar.gz`;
      const tree = Object.fromEntries(['containerd', 'containerd-shim-runc-v2', 'containerd-stress', 'ctr'].map((n) => [`bin/${n}`, elf(arch, n)]));
      const tarball = await up.tar(url, 'gz', tree);
      await up.sums(`${url}.sha256sum`, { [`containerd-static-${version}-linux-${a}.tar.gz`]: tarball });
      await up.file(`https://raw.githubusercontent.com/containerd/containerd/refs/tags/v${version}/script/setup/runc-version`, 'v1.1.14\n');
      const runc = await up.file(`https://github.com/opencontainers/runc/releases/download/v1.1.14/runc.${a}`, elf(arch, 'runc'));
      await up.addSum('https://github.com/opencontainers/runc/releases/download/v1.1.14/runc.sha256sum', `runc.${a}`, runc);
      return {
        version, os: '_any', reload: true,
        files: {
          'usr/bin/containerd': X, 'usr/bin/containerd-shim-runc-v2': X, 'usr/bin/containerd-stress': X, 'usr/bin/ctr': X, 'usr/bin/runc': X,
          [`${UNITS}/containerd.service`]: R, 'usr/share/containerd/config.toml': R, 'usr/share/containerd/config-cgroupfs.toml': R,
        },
        contents: { 'usr/bin/runc': runc, 'usr/bin/containerd': tree['bin/containerd']! },
        lines: { [`${UNITS}/containerd.service`]: ['LimitNOFILE=1048576', 'ExecStart=/usr/bin/containerd --config ${CONTAINERD_CONFIG}'] },
        upholds: [['multi-user.target', 'containerd.service']],
      };
    },
  },

  // Mirrors docker compose v2.29.7: a bare binary docker-compose-linux-<uname -m> and a .sha256 next
  // to it in binary mode (`<hex> *docker-compose-linux-x86_64`).
  'docker-compose': {
    async publish(up, arch) {
      const version = '2.29.7';
      const name = `docker-compose-linux-${A.uname(arch)}`;
      const url = `https://github.com/docker/compose/releases/download/v${version}/${name}`;
      const bin = await up.file(url, elf(arch, 'compose'));
      await up.sums(`${url}.sha256`, { [name]: bin }, 'binary');
      return {
        version, os: '_any', reload: false,
        files: { 'usr/local/lib/docker/cli-plugins/docker-compose': X },
        contents: { 'usr/local/lib/docker/cli-plugins/docker-compose': bin },
        absent: [UNITS],
      };
    },
  },

  falco: {
    async publish(up, arch) {
      const version = '0.39.1';
      const u = A.uname(arch);
      const top = `falco-${version}-${u}`;
      await up.tar(`https://download.falco.org/packages/bin/${u}/falco-${version}-${u}.tar.gz`, 'gz', {
        [`${top}/usr/bin/falco`]: elf(arch, 'falco'),
        [`${top}/usr/bin/falcoctl`]: elf(arch, 'falcoctl'),
        [`${top}/usr/share/falco/plugins/libk8saudit.so`]: elf(arch, 'k8saudit'),
        [`${top}/etc/falco/falco.yaml`]: 'engine:\n  kind: modern_ebpf\n',
        [`${top}/etc/falco/falco_rules.yaml`]: '- rule: x\n',
        [`${top}/etc/falcoctl/falcoctl.yaml`]: 'artifact: {}\n',
      });
      return {
        version, os: '_any', reload: true,
        files: {
          'usr/bin/falco': X, 'usr/bin/falcoctl': X, 'usr/share/falco/plugins/libk8saudit.so': X,
          'usr/share/falco/etc/falco/falco.yaml': R, 'usr/share/falco/etc/falco/falco_rules.yaml': R, 'usr/share/falco/etc/falcoctl/falcoctl.yaml': R,
          'usr/lib/tmpfiles.d/10-falco.conf': R,
          'usr/local/lib/systemd/system/falco-modern-bpf.service': R, 'usr/local/lib/systemd/system/falcoctl-artifact-follow.service': R,
        },
        contents: { 'usr/lib/tmpfiles.d/10-falco.conf': 'C+ /etc/falco - - - - /usr/share/falco/etc/falco\n' },
        absent: ['etc'],
      };
    },
  },

  // Mirrors nvidia-container-toolkit v1.16.2's release asset nvidia-container-toolkit_1.16.2_deb_<arch>.tar.gz:
  // the .deb files under release-v1.16.2-stable/packages/ubuntu18.04/<arch>/, libraries in Debian's
  // multiarch dir, the -dev package among them. No CDI refresh units yet.
  'nvidia-runtime': {
    async publish(up, arch) {
      return nvidiaRelease(up, arch, '1.16.2');
    },
  },
  // Mirrors v1.18.0: nvidia-container-toolkit-base also ships nvidia-cdi-refresh.service and .path in
  // etc/systemd/system and etc/nvidia-container-toolkit/nvidia-cdi-refresh.env (its debian/*.install
  // of the 1.18 releases); unit text abridged from upstream's deployments (Apache-2.0).
  'nvidia-runtime@1.18': {
    async publish(up, arch) {
      return nvidiaRelease(up, arch, '1.18.0');
    },
  },

  // Mirrors wasmtime v25.0.1's wasmtime-v25.0.1-<uname -m>-linux.tar.xz (one top directory of the
  // same name). The bakery passes the tag, v25.0.1, and names its image wasmtime-v25.0.1-<arch>.raw.
  wasmtime: {
    async publish(up, arch) {
      return wasmtimeRelease(up, arch, 'v25.0.1');
    },
  },
  'wasmtime@plain-version': {
    arches: ['arm64'],
    async publish(up, arch) {
      return wasmtimeRelease(up, arch, '24.0.0');
    },
  },

  // Mirrors wasmCloud v1.2.1: a bare musl binary wasmcloud-<arch>-unknown-linux-musl (no checksum
  // file), and nats-server's nats-server-<tag>-linux-<goarch>.tar.gz with one top directory.
  wasmcloud: {
    async publish(up, arch) {
      return wasmcloudRelease(up, arch, 'v1.2.1');
    },
  },
  // Mirrors wasmCloud v2.0.0: the asset is the wash CLI, wash-<arch>-unknown-linux-musl; no host
  // unit (the bakery removes wasmcloud.service and its drop-in for v2). A version without the v.
  'wasmcloud@2': {
    async publish(up, arch) {
      return wasmcloudRelease(up, arch, '2.0.0');
    },
  },

  // Mirrors tailscale 1.76.1's tailscale_1.76.1_<arch>.tgz from pkgs.tailscale.com: one top directory
  // with both programs and systemd/ holding upstream's cmd/tailscaled/tailscaled.service and
  // tailscaled.defaults (the unit runs /usr/sbin/tailscaled). The bakery passes tags: v1.76.1.
  tailscale: {
    async publish(up, arch) {
      return tailscaleRelease(up, arch, 'v1.76.1');
    },
  },
  'tailscale@plain-version': {
    arches: ['x86-64'],
    async publish(up, arch) {
      return tailscaleRelease(up, arch, '1.80.3');
    },
  },

  // Mirrors the cri-o v1.31.1 release bundle cri-o.<arch>.v1.31.1.tar.gz: one top directory cri-o/,
  // and an `install` that contrib/bundle/build assembles from a `#/usr/bin/env sh` line (sic),
  // contrib/bundle/install-paths (defaults for every directory, each overridable) and
  // contrib/bundle/install (every target written as "$DESTDIR$<DIR>", runc only when the host has
  // none). Abridged from cri-o (Apache-2.0) at commit bf68db52: same variables, same target lines.
  // The .sha256sum holds one `<hex>  cri-o.<arch>.v1.31.1.tar.gz` line (sha256sum run next to it).
  crio: {
    async publish(up, arch) {
      const version = '1.31.1';
      const a = A.goarch(arch);
      const unit = '[Unit]\nDescription=Container Runtime Interface for OCI (CRI-O)\nDocumentation=https://github.com/cri-o/cri-o\nWants=network-online.target\nBefore=kubelet.service\nAfter=network-online.target\n\n[Service]\nType=notify\nEnvironmentFile=-/etc/sysconfig/crio\nEnvironment=GOTRACEBACK=crash\nExecStart=/usr/local/bin/crio \\\n          $CRIO_CONFIG_OPTIONS \\\n          $CRIO_RUNTIME_OPTIONS\nExecReload=/bin/kill -s HUP $MAINPID\nTasksMax=infinity\nLimitNOFILE=1048576\nLimitNPROC=1048576\nLimitCORE=infinity\nOOMScoreAdjust=-999\nTimeoutStartSec=0\nRestart=on-failure\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\nAlias=cri-o.service\n';
      const install = `#/usr/bin/env sh
DESTDIR=\${DESTDIR:-}
PREFIX=\${PREFIX:-/usr/local}
ETCDIR=\${ETCDIR:-/etc}
CONTAINERS_DIR=\${CONTAINERS_DIR:-$ETCDIR/containers}
CNIDIR=\${CNIDIR:-$ETCDIR/cni/net.d}
BINDIR=\${BINDIR:-$PREFIX/bin}
MANDIR=\${MANDIR:-$PREFIX/share/man}
OCIDIR=\${OCIDIR:-$PREFIX/share/oci-umount/oci-umount.d}
BASHINSTALLDIR=\${BASHINSTALLDIR:-$PREFIX/share/bash-completion/completions}
FISHINSTALLDIR=\${FISHINSTALLDIR:-$PREFIX/share/fish/completions}
ZSHINSTALLDIR=\${ZSHINSTALLDIR:-$PREFIX/share/zsh/site-functions}
OPT_CNI_BIN_DIR=\${OPT_CNI_BIN_DIR:-/opt/cni/bin}
SYSTEMDDIR=\${SYSTEMDDIR:-$PREFIX/lib/systemd/system}
SELINUX=
ARCH=\${ARCH:-${a}}
set -x
install $SELINUX -d -m 755 "$DESTDIR$CNIDIR"
install $SELINUX -D -m 755 -t "$DESTDIR$OPT_CNI_BIN_DIR" cni-plugins/*
install $SELINUX -D -m 644 -t "$DESTDIR$CNIDIR" contrib/11-crio-ipv4-bridge.conflist
install $SELINUX -D -m 755 -t "$DESTDIR$BINDIR" bin/conmon
install $SELINUX -D -m 755 -t "$DESTDIR$BINDIR" bin/crictl
install $SELINUX -d -m 755 "$DESTDIR$BASHINSTALLDIR"
install $SELINUX -d -m 755 "$DESTDIR$FISHINSTALLDIR"
install $SELINUX -d -m 755 "$DESTDIR$ZSHINSTALLDIR"
install $SELINUX -d -m 755 "$DESTDIR$CONTAINERS_DIR"
install $SELINUX -D -m 755 -t "$DESTDIR$BINDIR" bin/crio-status
install $SELINUX -D -m 755 -t "$DESTDIR$BINDIR" bin/crio
install $SELINUX -D -m 644 -t "$DESTDIR$ETCDIR" etc/crictl.yaml
install $SELINUX -D -m 644 -t "$DESTDIR$OCIDIR" etc/crio-umount.conf
install $SELINUX -D -m 644 -t "$DESTDIR$ETCDIR/crio" etc/crio.conf
install $SELINUX -D -m 644 -t "$DESTDIR$ETCDIR/crio/crio.conf.d" etc/10-crun.conf
install $SELINUX -D -m 644 -t "$DESTDIR$MANDIR/man5" man/crio.conf.5
install $SELINUX -D -m 644 -t "$DESTDIR$MANDIR/man8" man/crio.8
install $SELINUX -D -m 644 -t "$DESTDIR$BASHINSTALLDIR" completions/bash/crio
install $SELINUX -D -m 644 -t "$DESTDIR$FISHINSTALLDIR" completions/fish/crio.fish
install $SELINUX -D -m 644 -t "$DESTDIR$ZSHINSTALLDIR" completions/zsh/_crio
install $SELINUX -D -m 644 -t "$DESTDIR$SYSTEMDDIR" contrib/crio.service
install $SELINUX -D -m 755 -t "$DESTDIR$BINDIR" bin/pinns
install $SELINUX -D -m 755 -t "$DESTDIR$BINDIR" bin/crun

if [ ! -f "$DESTDIR$CONTAINERS_DIR/policy.json" ]; then
    install $SELINUX -D -m 644 -t "$DESTDIR$CONTAINERS_DIR" contrib/policy.json
fi

if [ ! -f "$DESTDIR$CONTAINERS_DIR/registries.conf" ]; then
    install $SELINUX -D -m 644 -t "$DESTDIR$CONTAINERS_DIR" contrib/registries.conf
fi

# only install runc if it's not already in the path
if ! command -v runc; then
    install $SELINUX -D -m 755 -t "$DESTDIR$BINDIR" bin/runc
fi
`;
      const url = `https://storage.googleapis.com/cri-o/artifacts/cri-o.${a}.v${version}.tar.gz`;
      const crioBin = elf(arch, 'crio');
      const runc = elf(arch, 'runc');
      const tarball = await up.tar(url, 'gz', {
        'cri-o/install': { data: install, mode: 0o755 },
        'cri-o/Makefile': 'install:\n\t./install\n', 'cri-o/README.md': '# CRI-O static build bundle\n', 'cri-o/LICENSE': 'Apache License 2.0\n',
        'cri-o/bin/crio': crioBin, 'cri-o/bin/crio-status': elf(arch, 'crio-status'), 'cri-o/bin/pinns': elf(arch, 'pinns'), 'cri-o/bin/crun': elf(arch, 'crun'),
        'cri-o/bin/conmon': elf(arch, 'conmon'), 'cri-o/bin/crictl': elf(arch, 'crictl'), 'cri-o/bin/runc': runc,
        'cri-o/cni-plugins/bridge': elf(arch, 'bridge'), 'cri-o/cni-plugins/loopback': elf(arch, 'loopback'),
        'cri-o/contrib/crio.service': unit,
        'cri-o/contrib/11-crio-ipv4-bridge.conflist': '{ "cniVersion": "1.0.0", "name": "crio" }\n',
        'cri-o/contrib/policy.json': '{ "default": [{ "type": "insecureAcceptAnything" }] }\n',
        'cri-o/contrib/registries.conf': 'unqualified-search-registries = ["docker.io", "quay.io"]\n',
        'cri-o/etc/crictl.yaml': 'runtime-endpoint: unix:///var/run/crio/crio.sock\n',
        'cri-o/etc/crio-umount.conf': '/var/lib/containers/storage/*\n',
        'cri-o/etc/crio.conf': '# upstream default\n',
        'cri-o/etc/10-crun.conf': '[crio.runtime]\ndefault_runtime = "crun"\n',
        'cri-o/completions/bash/crio': '# completion\n', 'cri-o/completions/fish/crio.fish': '# fish\n', 'cri-o/completions/zsh/_crio': '#compdef crio\n',
        'cri-o/man/crio.8': '.TH crio 8\n', 'cri-o/man/crio.conf.5': '.TH crio.conf 5\n',
      });
      await up.sums(`${url}.sha256sum`, { [`cri-o.${a}.v${version}.tar.gz`]: tarball });
      return {
        version, os: '_any', reload: true,
        files: {
          'usr/bin/crio': X, 'usr/bin/crio-status': X, 'usr/bin/pinns': X, 'usr/bin/crun': X, 'usr/bin/conmon': X, 'usr/bin/crictl': X, 'usr/bin/runc': X,
          'usr/share/crio/etc/crio/crio.conf': R, 'usr/share/crio/etc/crio/crio.conf.d/10-crun.conf': R, 'usr/share/crio/etc/crictl.yaml': R,
          'usr/share/crio/etc/containers/policy.json': R, 'usr/share/crio/etc/containers/registries.conf': R,
          'usr/share/oci-umount/oci-umount.d/crio-umount.conf': R,
          'usr/share/crio/cni/etc/net.d/11-crio-ipv4-bridge.conflist': R, 'usr/share/crio/cni/bin/bridge': X,
          [`${UNITS}/crio.service`]: R, [`${UNITS}/crio.service.d/10-crio.conf`]: R, 'usr/share/crio/README-flatcar': R,
        },
        contents: { [`${UNITS}/crio.service`]: unit, 'usr/bin/crio': crioBin, 'usr/bin/runc': runc },
        upholds: [['multi-user.target', 'crio.service']],
        absent: ['usr/share/man', 'usr/share/bash-completion', 'usr/share/fish', 'usr/share/zsh', 'discard', 'tmp', 'opt', 'etc'],
      };
    },
  },
  // The bakery's tag spelling, v1.31.1 (its create.sh adds the v when it is missing).
  'crio@v-tag': {
    arches: ['arm64'],
    async publish(up, arch) {
      // The same release files as the crio fixture (published again, consistently).
      return { ...(await FIXTURES.crio!.publish(up, arch)), version: 'v1.31.1' };
    },
  },

  k3s: {
    async publish(up, arch) {
      const version = 'v1.31.1+k3s1';
      const a = A.goarch(arch);
      const asset = arch === 'x86-64' ? 'k3s' : 'k3s-arm64';
      const base = `https://github.com/k3s-io/k3s/releases/download/${version}`;
      const bin = await up.file(`${base}/${asset}`, elf(arch, 'k3s'));
      await up.sums(`${base}/sha256sum-${a}.txt`, { [asset]: bin, [`k3s-airgap-images-${a}.tar`]: Buffer.from('other') });
      return {
        version, os: '_any', reload: true,
        files: { 'usr/local/bin/k3s': X, 'usr/local/lib/systemd/system/k3s.service': R, 'usr/local/lib/systemd/system/k3s-agent.service': R },
        symlinks: { 'usr/local/bin/kubectl': './k3s', 'usr/local/bin/ctr': './k3s', 'usr/local/bin/crictl': './k3s' },
        contents: { 'usr/local/bin/k3s': bin },
      };
    },
  },

  rke2: {
    async publish(up, arch) {
      const version = 'v1.31.1+rke2r1';
      const a = A.goarch(arch);
      const base = `https://github.com/rancher/rke2/releases/download/${version}`;
      const tarball = await up.tar(`${base}/rke2.linux-${a}.tar.gz`, 'gz', {
        'bin/rke2': elf(arch, 'rke2'),
        'bin/rke2-killall.sh': { data: '#!/bin/sh\n', mode: 0o755 },
        'bin/rke2-uninstall.sh': { data: '#!/bin/sh\n', mode: 0o755 },
        'lib/systemd/system/rke2-server.service': '[Service]\nExecStart=/usr/local/bin/rke2 server\n',
        'lib/systemd/system/rke2-agent.service': '[Service]\nExecStart=/usr/local/bin/rke2 agent\n',
        'lib/systemd/system/rke2-server.env': 'HOME=/root\n',
        'share/rke2/rke2-cis-sysctl.conf': 'vm.panic_on_oom=0\n',
      });
      await up.sums(`${base}/sha256sum-${a}.txt`, { [`rke2-images.linux-${a}.tar.zst`]: Buffer.from('x'), [`rke2.linux-${a}.tar.gz`]: tarball });
      return {
        version, os: '_any', reload: true,
        files: {
          'usr/local/bin/rke2': X, 'usr/local/bin/rke2-killall.sh': X,
          'usr/local/lib/systemd/system/rke2-server.service': R, 'usr/local/lib/systemd/system/rke2-agent.service': R,
          'usr/local/lib/systemd/system/rke2-server.env': R, 'usr/local/share/rke2/rke2-cis-sysctl.conf': R,
        },
        absent: ['usr/local/bin/rke2-uninstall.sh'],
      };
    },
  },

  // Mirrors ollama v0.3.9's ollama-linux-<arch>.tgz: members ./bin/ollama and ./lib/ollama/..., for a
  // /usr/local prefix; sha256sum.txt lists every asset as `<hex>  ./<file>`.
  ollama: {
    async publish(up, arch) {
      return ollamaRelease(up, arch, 'v0.3.9', 'tgz');
    },
  },
  // Mirrors ollama v0.14.0, the first release that ships ollama-linux-<arch>.tar.zst (zstd) instead
  // of .tgz, with the same members (the bakery's ollama.sysext/create.sh switches at v0.14.0).
  'ollama@zstd': {
    async publish(up, arch) {
      return ollamaRelease(up, arch, 'v0.14.0', 'tar.zst');
    },
  },

  // Mirrors WasmEdge 0.14.1's WasmEdge-0.14.1-ubuntu20.04_<arch>.tar.gz: everything under one top
  // directory WasmEdge-0.14.1-Linux/ (bin/, lib/ with the libwasmedge.so version links, include/).
  wasmedge: {
    async publish(up, arch) {
      return wasmedgeRelease(up, arch, '0.14.1', 'WasmEdge-0.14.1-Linux/');
    },
  },
  // Mirrors WasmEdge 0.15.0: the same tarball name, but bin/, lib/ and include/ at the top, no
  // WasmEdge-<v>-Linux/ directory (as the bakery's wasmedge.sysext/create.sh handles it).
  'wasmedge@0.15': {
    async publish(up, arch) {
      return wasmedgeRelease(up, arch, '0.15.0', '');
    },
  },

  llamaedge: {
    async publish(up, arch) {
      const version = '0.14.16';
      const plugin = elf(arch, 'wasi-nn');
      await up.tar(`https://github.com/WasmEdge/WasmEdge/releases/download/0.14.1/WasmEdge-plugin-wasi_nn-ggml-0.14.1-ubuntu20.04_${A.uname(arch)}.tar.gz`, 'gz', { 'libwasmedgePluginWasiNN.so': plugin });
      const wasm = await up.file(`https://github.com/LlamaEdge/LlamaEdge/releases/download/${version}/llama-api-server.wasm`, Buffer.from('\0asm\x01\0\0\0'));
      return {
        version, os: '_any', reload: false,
        files: { 'usr/lib/wasmedge/libwasmedgePluginWasiNN.so': X, 'usr/lib/wasmedge/wasm/llama-api-server.wasm': R, 'usr/share/llamaedge/wasmedge-version': R },
        contents: { 'usr/lib/wasmedge/libwasmedgePluginWasiNN.so': plugin, 'usr/lib/wasmedge/wasm/llama-api-server.wasm': wasm, 'usr/share/llamaedge/wasmedge-version': '0.14.1\n' },
      };
    },
  },
};
