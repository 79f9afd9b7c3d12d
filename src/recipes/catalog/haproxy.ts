/**
 * HAProxy, built from the release source tarball (checked against haproxy.org's .sha256) into a
 * static program with the bakery's make options (flatcar/sysext-bakery haproxy.sysext/build.sh,
 * Apache-2.0), and the bakery's unit, sysusers and tmpfiles entries and starting config. The
 * bakery builds against musl in Alpine (TARGET=linux-musl); on the Debian hosts flatbake builds
 * on, the target is linux-glibc with the same features.
 */
import type { Recipe } from '../recipe.js';
import { buildStaticPrograms, toolchainFor } from '../source-build.js';

// The bakery's files (haproxy.sysext/files/usr/...), as they are.
const HAPROXY_SERVICE = `[Unit]
Description=HAProxy Load Balancer
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=-/etc/default/haproxy
EnvironmentFile=-/etc/sysconfig/haproxy
Environment="CONFIG=/etc/haproxy/haproxy.cfg" "PIDFILE=/run/haproxy/haproxy.pid" "EXTRAOPTS=-S /run/haproxy/haproxy-master.sock"
ExecStart=/usr/bin/haproxy -Ws -f $CONFIG -p $PIDFILE $EXTRAOPTS
ExecReload=/usr/bin/haproxy -Ws -f $CONFIG -c $EXTRAOPTS
ExecReload=/bin/kill -USR2 $MAINPID
KillMode=mixed
Restart=always
SuccessExitStatus=143
# Notify requires haproxy built with USE_SYSTEMD=1; we don't link libsystemd.
Type=simple

User=haproxy
Group=haproxy
RuntimeDirectory=haproxy
RuntimeDirectoryMode=0755
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=true
ProtectHome=true
ProtectSystem=strict
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectControlGroups=true
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=true
RestrictRealtime=true
LockPersonality=true
MemoryDenyWriteExecute=true
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@cpu-emulation @keyring @module @obsolete @raw-io @reboot @swap @sync

[Install]
WantedBy=multi-user.target
`;

const SYSUSERS = 'u haproxy - "HAProxy load balancer" /var/lib/haproxy /sbin/nologin\n';

const TMPFILES = `d /etc/haproxy 0755 root root - -
C /etc/haproxy/haproxy.cfg - - - - /usr/share/haproxy/haproxy.cfg
d /var/lib/haproxy 0750 haproxy haproxy - -
`;

const HAPROXY_CFG = `#
# Minimal HAProxy configuration shipped with the sysext.
# Replace /etc/haproxy/haproxy.cfg to customise.
#

global
    log         stdout format raw local0
    user        haproxy
    group       haproxy
    maxconn     4096
    tune.ssl.default-dh-param 2048

defaults
    log                     global
    mode                    http
    option                  httplog
    option                  dontlognull
    option                  redispatch
    retries                 3
    timeout connect         5s
    timeout client          50s
    timeout server          50s

frontend stats
    bind 127.0.0.1:8404
    stats enable
    stats uri /
    stats refresh 10s
`;

/** make's variables: the bakery's feature set; TARGET and Lua as Debian has them. */
export function haproxyMakeArgs(cc: string): string[] {
  return [
    // haproxy's Makefile sets CC itself: only a command-line value overrides it.
    `CC=${cc}`,
    'TARGET=linux-glibc',
    'USE_OPENSSL=1',
    'USE_QUIC=1', 'USE_QUIC_OPENSSL_COMPAT=1',
    'USE_PCRE2=1', 'USE_PCRE2_JIT=1',
    'USE_ZLIB=1',
    // Debian's liblua5.4-dev: headers in /usr/include/lua5.4, the static library liblua5.4.a.
    'USE_LUA=1', 'LUA_LIB_NAME=lua5.4', 'LUA_INC=/usr/include/lua5.4', 'LUA_LDFLAGS=-l:liblua5.4.a',
    'USE_THREAD=1', 'USE_PTHREAD_EMULATION=1',
    'USE_TFO=1', 'USE_NS=1', 'USE_GETADDRINFO=1',
    'USE_LINUX_TPROXY=1', 'USE_LINUX_SPLICE=1', 'USE_LINUX_CAP=1',
    'USE_PROMEX=1', 'USE_CRYPT_H=1',
    'USE_TRANSPARENT=1', 'USE_ACCEPT4=1', 'USE_PRCTL=1',
    'CFLAGS=-static -s -O2',
    'LDFLAGS=-static -lc -ldl',
    'THREAD_LDFLAGS=-lpthread',
  ];
}

export const haproxy: Recipe = {
  name: 'haproxy',
  description: 'the HAProxy load balancer, built statically from source, with its unit and a starting config',
  arches: { 'x86-64': 'x86-64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  // The bakery lists releases of the 3.x branches and later (no -dev, no -rc).
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '3.0.5',
  knownVersions: ['3.0.5'],
  source: import.meta.url,
  downloads({ version }) {
    const branch = version.split('.').slice(0, 2).join('.');
    const url = `https://www.haproxy.org/download/${branch}/src/haproxy-${version}.tar.gz`;
    return [{ id: 'source', url, checksum: { url: `${url}.sha256`, format: 'sha256sum' }, extract: 'tar.gz' }];
  },
  async install(ctx) {
    const toolchain = await toolchainFor(ctx);
    await buildStaticPrograms(ctx, {
      label: 'haproxy',
      toolchain,
      marker: `haproxy-${ctx.version}/Makefile`,
      make: haproxyMakeArgs(toolchain.cc),
      install: ['install-bin', 'PREFIX=/usr', 'SBINDIR=/usr/bin'],
      programs: ['usr/bin/haproxy'],
      staticHint: 'check that the static libraries (libc6-dev, libssl-dev, libpcre2-dev, zlib1g-dev, liblua5.4-dev, libcap-dev) are installed',
      // As the bakery: only the program from the build.
      drop: ['usr/share', 'usr/doc', 'etc'],
    });
    await ctx.unit('haproxy.service', HAPROXY_SERVICE);
    await ctx.writeFile('usr/lib/sysusers.d/haproxy.conf', SYSUSERS);
    await ctx.writeFile('usr/lib/tmpfiles.d/10-haproxy.conf', TMPFILES);
    await ctx.writeFile('usr/share/haproxy/haproxy.cfg', HAPROXY_CFG);
  },
};
