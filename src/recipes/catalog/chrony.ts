/**
 * chrony, the NTP client and server, built from the release source tarball into static programs
 * with the bakery's configure flags (flatcar/sysext-bakery chrony.sysext/build.sh, Apache-2.0; the
 * bakery clones the git tag in an Alpine container, the release tarball is the same source with
 * the generated files included). Its files: chronyd.service and /usr/lib/chrony/envvars.
 */
import type { Recipe } from '../recipe.js';
import { buildStaticPrograms } from '../source-build.js';

// The bakery's files/usr/lib/systemd/system/chronyd.service, with /usr/bin/chronyd where it says
// /usr/sbin/chronyd (the same program on Flatcar since 4152, and the path the build installs to).
const CHRONYD_SERVICE = `[Unit]
Description=NTP client/server
Documentation=man:chronyd(8) man:chrony.conf(5)
After=ntpdate.service sntp.service ntpd.service
Conflicts=ntpd.service systemd-timesyncd.service
ConditionCapability=CAP_SYS_TIME

[Service]
Type=forking
PIDFile=/run/chrony/chronyd.pid
EnvironmentFile=-/usr/lib/chrony/envvars
ExecStartPre=-/usr/bin/mkdir -p /var/lib/chrony
ExecStart=/usr/bin/chronyd $OPTIONS
PrivateTmp=yes
ProtectHome=yes
ProtectSystem=full

[Install]
WantedBy=multi-user.target
`;

/** configure's arguments, the bakery's (chrony's own configure script, not autoconf's). */
export const CHRONY_CONFIGURE_ARGS = [
  '--prefix=/usr',
  '--exec_prefix=/usr',
  '--sbindir=/usr/bin',
  '--sysconfdir=/etc/chrony',
  '--mandir=/usr/share/man',
  '--localstatedir=/var',
  '--runstatedir=/run',
  '--with-iproutedir=/usr/share/iproute2',
];

export const chrony: Recipe = {
  name: 'chrony',
  description: 'chrony NTP client and server (chronyd, chronyc), built statically from source',
  arches: { 'x86-64': 'x86-64', arm64: 'arm64' },
  os: '_any',
  // The bakery's RELOAD_SERVICES_ON_MERGE="true"; chronyd is not started (it conflicts with timesyncd).
  reload: true,
  // The bakery lists the project's git tags without -pre releases (4.6, 4.6.1).
  versionPattern: /^\d+\.\d+(\.\d+)?$/,
  versionExample: '4.6.1',
  knownVersions: ['4.6.1'],
  source: import.meta.url,
  downloads({ version }) {
    // chrony-project.org publishes GPG-signed checksum files only; nothing a recipe can check without a key.
    return [{ id: 'source', url: `https://chrony-project.org/releases/chrony-${version}.tar.gz`, extract: 'tar.gz' }];
  },
  async install(ctx) {
    await buildStaticPrograms(ctx, {
      label: 'chrony',
      marker: `chrony-${ctx.version}/configure`,
      configure: CHRONY_CONFIGURE_ARGS,
      env: { CFLAGS: '-static -s -O2', LDFLAGS: '-static' },
      programs: ['usr/bin/chronyd', 'usr/bin/chronyc'],
      staticHint: 'check that libc6-dev (static libc) is installed',
      // As the bakery: nothing of /usr/etc in the image (configuration lives in /etc/chrony).
      drop: ['usr/etc'],
    });
    await ctx.writeFile('usr/lib/chrony/envvars', 'OPTIONS=""\n');
    await ctx.unit('chronyd.service', CHRONYD_SERVICE);
  },
};
