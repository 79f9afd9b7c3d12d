/**
 * BIRD, the Internet routing daemon, built from the release source tarball into static programs
 * with the bakery's configure flags (flatcar/sysext-bakery bird.sysext/build.sh, Apache-2.0; the
 * bakery clones the git tag and runs autoreconf in an Alpine container, the release tarball ships
 * the generated configure). Its files: bird.service, /usr/lib/bird/envvars and
 * prepare-environment, and the unit upheld by multi-user.target.
 */
import type { Recipe } from '../recipe.js';
import { buildStaticPrograms } from '../source-build.js';

// The bakery's files (bird.sysext/files/usr/lib/...), as they are.
const BIRD_SERVICE = `[Unit]
Description=BIRD Internet Routing Daemon
After=network.target

[Service]
EnvironmentFile=/usr/lib/bird/envvars
ExecStartPre=/usr/lib/bird/prepare-environment
ExecStartPre=/usr/bin/bird -p
ExecReload=/usr/bin/birdc configure
ExecStart=/usr/bin/bird -f -u $BIRD_RUN_USER -g $BIRD_RUN_GROUP $BIRD_ARGS
Restart=on-abort

[Install]
WantedBy=multi-user.target
`;

const ENVVARS = `BIRD_RUN_USER=root
BIRD_RUN_GROUP=root
#BIRD_ARGS=
`;

const PREPARE_ENVIRONMENT = `#!/bin/sh

set -eu

BIRD_RUN_DIR=/run/bird
. /usr/lib/bird/envvars


mkdir --parents "$BIRD_RUN_DIR";

if [ -n "$BIRD_RUN_USER" ]; then
    if ! getent passwd $BIRD_RUN_USER >/dev/null; then
        echo "Configured user '$BIRD_RUN_USER' doesn't exist."
        exit 1
    fi
fi

if [ -n "$BIRD_RUN_GROUP" ]; then
    if ! getent group $BIRD_RUN_GROUP >/dev/null; then
        echo "Configured group '$BIRD_RUN_GROUP' doesn't exist."
        exit 1
    fi
fi

chown --silent "$BIRD_RUN_USER:$BIRD_RUN_GROUP" "$BIRD_RUN_DIR"
chmod 775 "$BIRD_RUN_DIR"

:
`;

/** configure's arguments, the bakery's. */
export const BIRD_CONFIGURE_ARGS = [
  '--prefix=/usr',
  '--exec_prefix=/usr',
  '--sbindir=/usr/bin',
  '--sysconfdir=/etc/bird',
  '--localstatedir=/var',
  '--runstatedir=/run',
  '--with-iproutedir=/usr/share/iproute2',
];

export const bird: Recipe = {
  name: 'bird',
  description: 'the BIRD routing daemon (bird, birdc, birdcl), built statically from source',
  arches: { 'x86-64': 'x86-64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  // The bakery lists the project's tags without the v (2.15.1, 3.0.0).
  versionPattern: /^\d+\.\d+(\.\d+)*$/,
  versionExample: '2.15.1',
  knownVersions: ['2.15.1'],
  source: import.meta.url,
  downloads({ version }) {
    // bird.network.cz publishes no checksum files next to the tarballs.
    return [{ id: 'source', url: `https://bird.network.cz/download/bird-${version}.tar.gz`, extract: 'tar.gz' }];
  },
  async install(ctx) {
    await buildStaticPrograms(ctx, {
      label: 'bird',
      marker: `bird-${ctx.version}/configure`,
      configure: BIRD_CONFIGURE_ARGS,
      env: { CFLAGS: '-static -s -O2', LDFLAGS: '-static' },
      programs: ['usr/bin/bird', 'usr/bin/birdc'],
      staticHint: 'check that the static libraries (libc6-dev, libreadline-dev, libncurses-dev) are installed',
      drop: ['usr/etc'],
    });
    await ctx.writeFile('usr/lib/bird/envvars', ENVVARS);
    await ctx.writeFile('usr/lib/bird/prepare-environment', PREPARE_ENVIRONMENT, 0o755);
    await ctx.unit('bird.service', BIRD_SERVICE);
    // The bakery names this drop-in multi-user.target.d/bird.service, which systemd does not read
    // (drop-ins end in .conf); as a .conf the Upholds= it meant takes effect.
    await ctx.upholds('multi-user.target', 'bird.service');
  },
};
