/**
 * CRI-O from its release bundle, installed by the bundle's own `install` script into /usr with
 * its configuration under /usr/share/crio/etc (synced to /etc when the service starts).
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
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

/**
 * Where the bundle's `install` script puts things, relative to its DESTDIR. The script writes
 * every file to "$DESTDIR$<DIR>" (cri-o contrib/bundle/install), so each directory is a path as
 * the running system sees it; the bakery's choices (crio.sysext/create.sh). Completions and man
 * pages have no use on Flatcar: they go to DISCARD, which is not copied into the image.
 */
const DISCARD = '/discard';
const INSTALL_DIRS: Record<string, string> = {
  PREFIX: '/usr',
  BINDIR: '/usr/bin',
  ETCDIR: '/usr/share/crio/etc',
  SYSTEMDDIR: '/usr/lib/systemd/system',
  OCIDIR: '/usr/share/oci-umount/oci-umount.d',
  CNIDIR: '/usr/share/crio/cni/etc/net.d/',
  OPT_CNI_BIN_DIR: '/usr/share/crio/cni/bin/',
  BASHINSTALLDIR: `${DISCARD}/bash`,
  FISHINSTALLDIR: `${DISCARD}/fish`,
  ZSHINSTALLDIR: `${DISCARD}/zsh`,
  MANDIR: `${DISCARD}/man`,
};

export const crio: Recipe = {
  name: 'crio',
  description: 'the CRI-O container runtime with its bundled tools and CNI plugins',
  arches: { 'x86-64': 'amd64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  // The bakery passes GitHub tags (v1.31.1); the bundle's file name always has the v.
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v1.31.1',
  source: import.meta.url,
  downloads({ version, upstreamArch: a }) {
    const url = `https://storage.googleapis.com/cri-o/artifacts/cri-o.${a}.v${version.replace(/^v/, '')}.tar.gz`;
    // contrib/bundle/build runs `sha256sum "$ARCHIVE" > "$ARCHIVE.sha256sum"` in the archive's
    // directory (ARCHIVE=cri-o.$ARCH.$TAG.tar.gz, contrib/bundle/vars): one `<hex>  <file name>` line.
    return [{ id: 'crio', url, checksum: { url: `${url}.sha256sum`, format: 'sha256sum' }, extract: 'tar.gz' }];
  },
  async install(ctx) {
    const script = await ctx.source('crio', 'cri-o/install');
    // Older bundles ended with `sed -i ... DESTDIR` lines that rewrite paths in the shipped unit to
    // DESTDIR; the bakery drops them so the unit keeps the paths the system really uses.
    const text = await readFile(script, 'utf8');
    await writeFile(script, text.split('\n').filter((l) => !/^sed -i.*DESTDIR/.test(l)).join('\n'));
    // A scratch DESTDIR: only its usr/ goes into the image, whatever else the script writes stays behind.
    const destdir = path.join(ctx.work, 'crio-destdir');
    await mkdir(destdir, { recursive: true });
    await ctx.run('bash', ['./install'], {
      cwd: path.dirname(script),
      // SELINUX empty: labels are the host's business, not the image's.
      env: { DESTDIR: destdir, ...INSTALL_DIRS, SELINUX: '' },
      purpose: 'run the CRI-O bundle install script',
    });
    const unexpected = (await readdir(destdir)).filter((d) => d !== 'usr' && d !== DISCARD.slice(1));
    if (unexpected.length > 0) {
      throw new InputError(`the CRI-O ${ctx.version} install script wrote ${unexpected.map((d) => `${d}/`).join(', ')} outside the directories the recipe sets`, 'the bundle\'s install script changed; the recipe needs an update');
    }
    await ctx.installTree(path.join(destdir, 'usr'), 'usr');
    // The script skips runc when the build host has one on PATH; the image must not depend on that.
    await ctx.installFile(await ctx.source('crio', 'cri-o/bin/runc'), 'usr/bin/runc', 0o755);
    if (!(await ctx.exists('usr/bin/crio'))) throw new InputError('the CRI-O bundle\'s install script did not install usr/bin/crio', 'the bundle layout changed for this version; the recipe needs an update');
    await ctx.writeFile('usr/share/crio/etc/crio/crio.conf', CRIO_CONF);
    await ctx.writeFile('usr/share/crio/README-flatcar', README);
    await ctx.unitDropIn('crio.service', '10-crio.conf', CRIO_DROPIN);
    await ctx.upholds('multi-user.target', 'crio.service');
  },
};
