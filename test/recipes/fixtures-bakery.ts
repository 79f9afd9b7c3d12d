/**
 * Fixtures of the recipes that came with the bakery's newer extensions (issue 17), shaped after
 * the real release files each names: file names, archive members, checksum files. Binaries are
 * small ELF files of the right architecture; built through --mirror by build-all.test.ts.
 */
import { elf, sha256, type Upstream } from './upstream.js';
import type { Fixture } from './fixtures.js';
import type { Arch } from '../../src/arch.js';

const goarch = (a: Arch) => (a === 'x86-64' ? 'amd64' : 'arm64');
const X = 0o755;
const R = 0o644;
const UNITS = 'usr/lib/systemd/system';
const GH = 'https://github.com';

/** HashiCorp: <name>_<v>_linux_<arch>.zip holding the binary and LICENSE.txt, one SHA256SUMS per release (mirrors consul 1.20.1, nomad 1.9.3, vault 1.18.2 on releases.hashicorp.com). */
function hashicorp(name: string, version: string, extra: { files: Record<string, number>; upholds?: Array<[string, string]> }): Fixture {
  return {
    async publish(up, arch) {
      const base = `https://releases.hashicorp.com/${name}/${version}`;
      const zipName = `${name}_${version}_linux_${goarch(arch)}.zip`;
      const bin = elf(arch, name);
      const zip = await up.zip(`${base}/${zipName}`, { [name]: bin, 'LICENSE.txt': 'Business Source License 1.1\n' });
      await up.addSum(`${base}/${name}_${version}_SHA256SUMS`, zipName, zip);
      return { version, os: '_any', reload: true, files: { [`usr/bin/${name}`]: X, ...extra.files }, contents: { [`usr/bin/${name}`]: bin }, absent: ['usr/bin/LICENSE.txt'], upholds: extra.upholds };
    },
  };
}

export const BAKERY_FIXTURES: Record<string, Fixture> = {
  // nebula v1.9.5: nebula-linux-<arch>.tar.gz holds nebula and nebula-cert at its top; SHASUM256.txt
  // lists each tarball and each binary inside it as <tarball>/<binary>.
  nebula: {
    async publish(up, arch) {
      const version = 'v1.9.5';
      const tgzName = `nebula-linux-${goarch(arch)}.tar.gz`;
      const tree = { nebula: elf(arch, 'nebula'), 'nebula-cert': elf(arch, 'nebula-cert') };
      const tgz = await up.tar(`${GH}/slackhq/nebula/releases/download/${version}/${tgzName}`, 'gz', tree);
      const sums = `${GH}/slackhq/nebula/releases/download/${version}/SHASUM256.txt`;
      await up.addSum(sums, `${tgzName}/nebula`, tree.nebula);
      await up.addSum(sums, tgzName, tgz);
      return {
        version, os: '_any', reload: true,
        files: { 'usr/bin/nebula': X, 'usr/bin/nebula-cert': X, [`${UNITS}/nebula.service`]: R },
        contents: { 'usr/bin/nebula': tree.nebula, 'usr/bin/nebula-cert': tree['nebula-cert'] },
        upholds: [['multi-user.target', 'nebula.service']],
      };
    },
  },

  consul: hashicorp('consul', '1.20.1', {
    files: { [`${UNITS}/consul.service`]: R, 'usr/share/consul/consul.hcl': R, 'usr/share/consul/consul.env': R },
    upholds: [['multi-user.target', 'consul.service']],
  }),
  nomad: hashicorp('nomad', '1.9.3', {
    files: { [`${UNITS}/nomad.service`]: R, 'usr/lib/tmpfiles.d/10-nomad.conf': R, 'usr/share/nomad/nomad.hcl': R, 'usr/share/nomad/nomad.env': R },
  }),
  vault: hashicorp('vault', '1.18.2', {
    files: { [`${UNITS}/vault.service`]: R, 'usr/lib/sysusers.d/vault.conf': R, 'usr/lib/tmpfiles.d/10-vault.conf': R, 'usr/share/vault/vault.hcl': R, 'usr/share/vault/vault.env': R },
    upholds: [['multi-user.target', 'vault.service']],
  }),

  // buildx v0.19.3: bare binaries named buildx-v<version>.linux-<arch>.
  'docker-buildx': {
    async publish(up, arch) {
      const version = '0.19.3';
      const bin = await up.file(`${GH}/docker/buildx/releases/download/v${version}/buildx-v${version}.linux-${goarch(arch)}`, elf(arch, 'buildx'));
      const dest = 'usr/local/lib/docker/cli-plugins/docker-buildx';
      return { version, os: '_any', reload: false, files: { [dest]: X }, contents: { [dest]: bin }, absent: [UNITS] };
    },
  },

  // opkssh v0.5.1: bare binaries opkssh-linux-<arch>.
  opkssh: {
    async publish(up, arch) {
      const version = 'v0.5.1';
      const bin = await up.file(`${GH}/openpubkey/opkssh/releases/download/${version}/opkssh-linux-${goarch(arch)}`, elf(arch, 'opkssh'));
      return { version, os: '_any', reload: false, files: { 'usr/local/bin/opkssh': X }, contents: { 'usr/local/bin/opkssh': bin } };
    },
  },

  // inspektor-gadget v0.37.0: ig-linux-<arch>-<v>.tar.gz and gadgetctl-linux-<arch>-<v>.tar.gz, one binary each.
  ig: {
    async publish(up, arch) {
      const version = 'v0.37.0';
      const base = `${GH}/inspektor-gadget/inspektor-gadget/releases/download/${version}`;
      const ig = elf(arch, 'ig');
      const gadgetctl = elf(arch, 'gadgetctl');
      await up.tar(`${base}/ig-linux-${goarch(arch)}-${version}.tar.gz`, 'gz', { ig });
      await up.tar(`${base}/gadgetctl-linux-${goarch(arch)}-${version}.tar.gz`, 'gz', { gadgetctl });
      return { version, os: '_any', reload: true, files: { 'usr/bin/ig': X, 'usr/bin/gadgetctl': X }, contents: { 'usr/bin/ig': ig, 'usr/bin/gadgetctl': gadgetctl } };
    },
  },

  // cloud-hypervisor v43.0: cloud-hypervisor-static and ch-remote-static, with -aarch64 for arm64.
  'cloud-hypervisor': {
    async publish(up, arch) {
      const version = 'v43.0';
      const suffix = arch === 'arm64' ? '-aarch64' : '';
      const base = `${GH}/cloud-hypervisor/cloud-hypervisor/releases/download/${version}`;
      const ch = await up.file(`${base}/cloud-hypervisor-static${suffix}`, elf(arch, 'cloud-hypervisor'));
      const remote = await up.file(`${base}/ch-remote-static${suffix}`, elf(arch, 'ch-remote'));
      return { version, os: '_any', reload: false, files: { 'usr/bin/cloud-hypervisor': X, 'usr/bin/ch-remote': X }, contents: { 'usr/bin/cloud-hypervisor': ch, 'usr/bin/ch-remote': remote } };
    },
  },

  // cilium-cli v0.16.20: cilium-linux-<arch>.tar.gz holding cilium, and its .sha256sum beside it.
  cilium: {
    async publish(up, arch) {
      const version = 'v0.16.20';
      const name = `cilium-linux-${goarch(arch)}.tar.gz`;
      const url = `${GH}/cilium/cilium-cli/releases/download/${version}/${name}`;
      const cilium = elf(arch, 'cilium');
      const tgz = await up.tar(url, 'gz', { cilium });
      await up.sums(`${url}.sha256sum`, { [name]: tgz });
      return { version, os: '_any', reload: false, files: { 'usr/local/bin/cilium': X, [`${UNITS}/cilium.service`]: R }, contents: { 'usr/local/bin/cilium': cilium } };
    },
  },

  // coder v2.18.0: coder_<v>_linux_<arch>.tar.gz holding coder, LICENSE and README.md; coder_<v>_checksums.txt.
  coder: {
    async publish(up, arch) {
      const version = 'v2.18.0';
      const name = `coder_2.18.0_linux_${goarch(arch)}.tar.gz`;
      const base = `${GH}/coder/coder/releases/download/${version}`;
      const coder = elf(arch, 'coder');
      const tgz = await up.tar(`${base}/${name}`, 'gz', { coder, LICENSE: 'AGPL-3.0\n', 'README.md': '# coder\n' });
      await up.addSum(`${base}/coder_2.18.0_checksums.txt`, name, tgz);
      return {
        version, os: '_any', reload: true, contents: { 'usr/bin/coder': coder },
        files: { 'usr/bin/coder': X, [`${UNITS}/coder.service`]: R, [`${UNITS}/coder-workspace-proxy.service`]: R, 'usr/lib/sysusers.d/coder.conf': R, 'usr/lib/tmpfiles.d/10-coder.conf': R },
        absent: ['usr/bin/LICENSE', 'usr/bin/README.md'],
      };
    },
  },

  // dataplaneapi v3.1.2: dataplaneapi_<v>_linux_<x86_64|arm64>.tar.gz holding dataplaneapi, LICENSE, README.md; checksums.txt.
  dataplaneapi: {
    async publish(up, arch) {
      const version = 'v3.1.2';
      const name = `dataplaneapi_3.1.2_linux_${arch === 'x86-64' ? 'x86_64' : 'arm64'}.tar.gz`;
      const base = `${GH}/haproxytech/dataplaneapi/releases/download/${version}`;
      const bin = elf(arch, 'dataplaneapi');
      const tgz = await up.tar(`${base}/${name}`, 'gz', { dataplaneapi: bin, LICENSE: 'Apache-2.0\n', 'README.md': '# dataplaneapi\n' });
      await up.addSum(`${base}/checksums.txt`, name, tgz);
      return {
        version, os: '_any', reload: true, contents: { 'usr/bin/dataplaneapi': bin },
        files: { 'usr/bin/dataplaneapi': X, [`${UNITS}/dataplaneapi.service`]: R, 'usr/lib/tmpfiles.d/10-dataplaneapi.conf': R, 'usr/share/dataplaneapi/dataplaneapi.yml': R },
      };
    },
  },

  // nerdctl v2.0.3: nerdctl-<v>-linux-<arch>.tar.gz holding nerdctl and the rootless scripts; SHA256SUMS.
  nerdctl: {
    async publish(up, arch) {
      const version = 'v2.0.3';
      const name = `nerdctl-2.0.3-linux-${goarch(arch)}.tar.gz`;
      const base = `${GH}/containerd/nerdctl/releases/download/${version}`;
      const nerdctl = elf(arch, 'nerdctl');
      const tgz = await up.tar(`${base}/${name}`, 'gz', {
        nerdctl,
        'containerd-rootless.sh': { data: '#!/bin/sh\n', mode: 0o755 },
        'containerd-rootless-setuptool.sh': { data: '#!/bin/sh\n', mode: 0o755 },
      });
      await up.addSum(`${base}/SHA256SUMS`, name, tgz);
      return {
        version, os: '_any', reload: false, contents: { 'usr/bin/nerdctl': nerdctl },
        files: { 'usr/bin/nerdctl': X, 'usr/bin/containerd-rootless.sh': X, 'usr/bin/containerd-rootless-setuptool.sh': X },
        absent: ['usr/share/nerdctl', 'usr/lib/tmpfiles.d', 'usr/libexec/cni'],
      };
    },
  },

  // kata-containers 3.21.0: kata-static-<v>-<arch>.tar.zst with ./opt/kata/{bin,libexec,share}/...;
  // the digest is the release JSON's assets[].digest (sha256:<hex>) on api.github.com.
  'kata-containers': {
    async publish(up, arch) {
      const version = '3.21.0';
      const name = `kata-static-${version}-${goarch(arch)}.tar.zst`;
      const runtime = elf(arch, 'kata-runtime');
      const tar = await up.tar(`${GH}/kata-containers/kata-containers/releases/download/${version}/${name}`, 'zst', {
        'opt/kata/bin/kata-runtime': runtime,
        'opt/kata/bin/containerd-shim-kata-v2': elf(arch, 'shim'),
        'opt/kata/bin/kata-collect-data.sh': { data: '#!/bin/bash\n', mode: 0o755 },
        'opt/kata/share/defaults/kata-containers/configuration.toml': '[hypervisor.qemu]\n',
      }, ['.']);
      await kataRelease(up, version, name, tar);
      return {
        version, os: '_any', reload: true, tops: ['opt', 'usr'],
        files: { 'opt/kata/bin/kata-runtime': X, 'opt/kata/bin/containerd-shim-kata-v2': X, 'opt/kata/share/defaults/kata-containers/configuration.toml': R },
        contents: { 'opt/kata/bin/kata-runtime': runtime },
        symlinks: {
          'usr/bin/kata-runtime': '../../opt/kata/bin/kata-runtime',
          'usr/bin/containerd-shim-kata-v2': '../../opt/kata/bin/containerd-shim-kata-v2',
          'usr/bin/kata-collect-data.sh': '../../opt/kata/bin/kata-collect-data.sh',
        },
      };
    },
  },
};

const kataAssets = new Map<string, Array<{ name: string; digest: string | null }>>();

/** The GitHub API's release JSON (trimmed to what matters), assets of both architectures. */
export async function kataRelease(up: Upstream, version: string, name: string, data: Buffer | undefined): Promise<void> {
  const assets = kataAssets.get(version) ?? [];
  kataAssets.set(version, assets);
  assets.push({ name, digest: data ? `sha256:${sha256(data)}` : null });
  await up.file(`https://api.github.com/repos/kata-containers/kata-containers/releases/tags/${version}`, JSON.stringify({ tag_name: version, assets: assets.map((a) => ({ name: a.name, digest: a.digest, content_type: 'application/octet-stream' })) }));
}

