/**
 * CRI-O from its release bundle, installed by the bundle's own `install` script into /usr with
 * its configuration under /usr/share/crio/etc (synced to /etc when the service starts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../errors.js';
import type { Recipe } from '../recipe.js';

const CRIO_DROPIN = `[Service]
Environment="CONTAINER_CNI_PLUGIN_DIR=/opt/cni/bin"
Environment="CONTAINER_CONFIG=/etc/crio/crio.conf"
Environment="CONTAINER_CNI_CONFIG_DIR=/etc/cni/net.d"
ExecStartPre=/usr/bin/mkdir -p /opt/cni/bin /etc/crio/crio.conf.d/ /etc/cni/net.d/ /var/log/crio
ExecStartPre=/usr/bin/rsync -ur /usr/share/crio/etc/ /etc/
ExecStart=
ExecStart=/usr/bin/crio --config-dir /etc/crio/crio.conf.d/ \\
          $CRIO_CONFIG_OPTIONS \\
          $CRIO_RUNTIME_OPTIONS \\
          $CRIO_STORAGE_OPTIONS \\
          $CRIO_NETWORK_OPTIONS \\
          $CRIO_METRICS_OPTIONS
`;

const CRIO_CONF = `# /etc/crio/crio.conf - Configuration file for crio
# See /etc/crio/crio.conf.d/ for additional config files
#
`;

const README = `To use Kubernetes with CRI-O on Flatcar, pass the CRI socket to kubeadm, e.g.:
kubeadm init --pod-network-cidr=10.244.0.0/16 --cri-socket=unix:///var/run/crio/crio.sock
`;

export const crio: Recipe = {
  name: 'crio',
  description: 'the CRI-O container runtime with its bundled tools and CNI plugins',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '1.31.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const url = `https://storage.googleapis.com/cri-o/artifacts/cri-o.${a}.v${version}.tar.gz`;
    return [{ id: 'crio', url, checksum: { url: `${url}.sha256sum`, format: 'sha256sum' }, extract: 'tar.gz' }];
  },
  async install(ctx) {
    const script = await ctx.source('crio', 'cri-o/install');
    // The script's `sed -i ... DESTDIR` lines rewrite paths in the shipped configs to DESTDIR;
    // without them the configs keep the paths the system will really use (/usr/...).
    const text = await readFile(script, 'utf8');
    await writeFile(script, text.split('\n').filter((l) => !/^sed -i.*DESTDIR/.test(l)).join('\n'));
    const scratch = path.join(ctx.work, 'crio-unused');
    await ctx.run('bash', ['./install'], {
      cwd: path.dirname(script),
      env: {
        DESTDIR: ctx.root,
        PREFIX: '/usr',
        ETCDIR: '/usr/share/crio/etc',
        OCIDIR: '/usr/share/oci-umount/oci-umount.d',
        CNIDIR: '/usr/share/crio/cni/etc/net.d/',
        OPT_CNI_BIN_DIR: '/usr/share/crio/cni/bin/',
        // Shell completions and man pages are of no use on Flatcar: into the scratch dir.
        BASHINSTALLDIR: scratch,
        FISHINSTALLDIR: scratch,
        ZSHINSTALLDIR: scratch,
        MANDIR: scratch,
      },
      purpose: 'run the CRI-O bundle install script',
    });
    if (!(await ctx.exists('usr/bin/crio'))) throw new InputError('the CRI-O bundle\'s install script did not install usr/bin/crio', 'the bundle layout changed for this version; the recipe needs an update');
    await ctx.writeFile('usr/share/crio/etc/crio/crio.conf', CRIO_CONF);
    await ctx.writeFile('usr/share/crio/README-flatcar', README);
    await ctx.unitDropIn('crio.service', '10-crio.conf', CRIO_DROPIN);
    await ctx.upholds('multi-user.target', 'crio.service');
  },
};
