/**
 * keepalived, built from the release source tarball into a static binary with the host
 * toolchain, with the bakery's configure flags (keepalived.sysext/build.sh: upstream publishes no
 * binaries; the bakery builds in an Alpine container, whose libmnl and libnftnl are static).
 * Debian ships libmnl only as a shared library, so --enable-nftables gets libmnl and libnftnl
 * built first from their netfilter.org release tarballs as static libraries: the result is one
 * static program, like the bakery's, that needs nothing from Flatcar's /usr/lib. The build never
 * falls back to an image without the program: a missing compiler or library is a
 * MissingToolError naming the Debian packages.
 */
import path from 'node:path';
import type { Recipe } from '../recipe.js';
import { buildStaticPrograms, configureMakeInstall } from '../source-build.js';

const KEEPALIVED_SERVICE = `[Unit]
Description=LVS and VRRP High Availability Monitor
After=network-online.target syslog.target
Wants=network-online.target

[Service]
Type=forking
PIDFile=/run/keepalived.pid
KillMode=process
EnvironmentFile=-/usr/etc/sysconfig/keepalived
EnvironmentFile=-/etc/sysconfig/keepalived
ExecStart=/usr/bin/keepalived $KEEPALIVED_OPTIONS
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
`;

// An empty config lets the unit start (and stay up, per Upholds=) until the user writes one.
const KEEPALIVED_DROPIN = `[Service]
ExecStartPre=/bin/bash -c 'set -e; mkdir -p /etc/keepalived/; if ! [ -e /etc/keepalived/keepalived.conf ]; then touch /etc/keepalived/keepalived.conf; fi'
ExecStart=
ExecStart=/usr/bin/keepalived --use-file /etc/keepalived/keepalived.conf $KEEPALIVED_OPTIONS
`;

/** configure's arguments: the bakery's, with the program in /usr/bin (not /usr/sbin). */
export function keepalivedConfigureArgs(): string[] {
  return [
    '--disable-dynamic-linking',
    '--prefix=/usr',
    '--exec-prefix=/usr',
    '--bindir=/usr/bin',
    // Flatcar's /usr/sbin is a symlink to /usr/bin: a usr/sbin directory in a sysext would shadow it
    // (the bakery builds into /usr/sbin and moves the program to /usr/bin afterwards).
    '--sbindir=/usr/bin',
    '--sysconfdir=/usr/etc',
    '--datadir=/usr/share',
    '--localstatedir=/var',
    '--mandir=/usr/share/man',
    '--enable-bfd',
    '--enable-nftables',
    '--enable-regex',
    '--enable-json',
    '--with-init=systemd',
    '--enable-vrrp',
    // libnl is dlopen()ed at run time instead of linked (as the bakery's build).
    '--enable-libnl-dynamic',
  ];
}

/** The static libraries --enable-nftables links, in build order (libnftnl needs libmnl). */
const NETFILTER_LIBS = [
  { id: 'libmnl', option: 'libmnl-version', extract: 'tar.bz2' as const },
  { id: 'libnftnl', option: 'libnftnl-version', extract: 'tar.xz' as const },
];

export const keepalived: Recipe = {
  name: 'keepalived',
  description: 'keepalived (VRRP and LVS health checks, nftables), built statically from source',
  arches: { 'x86-64': 'x86-64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v2.3.1',
  options: {
    // Alpine 3.21's, which the bakery's build links.
    'libmnl-version': { description: 'libmnl release built into keepalived (netfilter.org)', default: '1.0.5', pattern: /^\d+\.\d+\.\d+$/ },
    'libnftnl-version': { description: 'libnftnl release built into keepalived (netfilter.org)', default: '1.2.8', pattern: /^\d+\.\d+\.\d+$/ },
  },
  source: import.meta.url,
  downloads({ version, options }) {
    // Neither keepalived.org nor netfilter.org publishes checksum files (netfilter.org signs with GPG only).
    return [
      { id: 'source', url: `https://www.keepalived.org/software/keepalived-${version.replace(/^v/, '')}.tar.gz`, extract: 'tar.gz' },
      ...NETFILTER_LIBS.map((l) => ({ id: l.id, url: `https://www.netfilter.org/pub/${l.id}/${l.id}-${options[l.option]}.${l.extract}`, extract: l.extract })),
    ];
  },
  async install(ctx) {
    // The static libraries go to a scratch prefix that only this build sees.
    const deps = path.join(ctx.work, 'keepalived-deps');
    const pkgConfigPath = [path.join(deps, 'lib/pkgconfig'), process.env.PKG_CONFIG_PATH].filter(Boolean).join(':');
    await buildStaticPrograms(ctx, {
      label: 'keepalived',
      note: '(first libmnl and libnftnl, static)',
      async prepare(toolchain) {
        for (const lib of NETFILTER_LIBS) {
          const dir = path.dirname(await ctx.source(lib.id, `${lib.id}-${ctx.options[lib.option]}/configure`));
          await configureMakeInstall(ctx, toolchain, {
            label: lib.id,
            dir,
            configure: [`--prefix=${deps}`, '--enable-static', '--disable-shared'],
            env: { CFLAGS: '-O2', PKG_CONFIG_PATH: pkgConfigPath },
          });
        }
      },
      marker: `keepalived-${ctx.version.replace(/^v/, '')}/configure`,
      configure: keepalivedConfigureArgs(),
      env: { CFLAGS: '-static -s -O2', CPPFLAGS: `-I${path.join(deps, 'include')}`, LDFLAGS: `-static -L${path.join(deps, 'lib')}`, PKG_CONFIG_PATH: pkgConfigPath },
      programs: ['usr/bin/keepalived'],
      staticHint: 'check that the static libraries (libc6-dev, libssl-dev, libpcre2-dev) are installed; configure may have fallen back to dynamic linking',
      // Documentation and sample configs have no use in the image (the bakery drops them too).
      drop: ['usr/share', 'usr/etc/keepalived/samples'],
    });
    await ctx.unit('keepalived.service', KEEPALIVED_SERVICE);
    await ctx.unitDropIn('keepalived.service', '10-keepalived.conf', KEEPALIVED_DROPIN);
    await ctx.upholds('multi-user.target', 'keepalived.service');
  },
};
