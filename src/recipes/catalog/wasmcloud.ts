/** The wasmCloud host with the NATS server it needs, both run as units. */
import type { Recipe } from '../recipe.js';
import { forVersion, latestReleaseTag, type VersionRange } from '../versions.js';

const NATS_LATEST = 'https://api.github.com/repos/nats-io/nats-server/releases/latest';
/** NATS publishes Go architecture names. */
const GOARCH: Record<string, string> = { 'x86-64': 'amd64', arm64: 'arm64' };

const WASMCLOUD_SERVICE = `[Unit]
Description=wasmCloud Host
Documentation=https://wasmcloud.com/docs/
After=nats.service network-online.target
Wants=network-online.target
Requires=nats.service

[Service]
ExecStart=/usr/bin/wasmcloud
Restart=always
StartLimitInterval=0
RestartSec=5

[Install]
WantedBy=multi-user.target
`;

// After nats-server's own util/nats-server.service.
const NATS_SERVICE = `[Unit]
Description=NATS Server
After=network-online.target systemd-timesyncd.service

[Service]
PrivateTmp=true
Type=simple
Environment=NATS_CONFIG=/usr/share/nats/nats.conf
ExecStart=/usr/bin/nats-server --jetstream --config \${NATS_CONFIG}
ExecReload=/bin/kill -s HUP $MAINPID
ExecStop=/bin/kill -s SIGINT $MAINPID
# nats-server uses SIGUSR2 for a lame duck mode shutdown
KillSignal=SIGUSR2

[Install]
WantedBy=multi-user.target
`;

const vTag = (v: string) => `v${v.replace(/^v/, '')}`;

/**
 * What a release ships, by version (the bakery's wasmcloud.sysext/create.sh): up to 1.x the
 * wasmCloud host `wasmcloud-<arch>-unknown-linux-musl`, run by wasmcloud.service; from 2.0.0 the
 * `wash` CLI (`wash-<arch>-unknown-linux-musl`), which runs no host of its own, so the bakery drops
 * wasmcloud.service and its Upholds= drop-in and only the NATS server is a unit.
 */
const PROGRAMS: readonly VersionRange<{ program: string; hostUnit: boolean }>[] = [
  { program: 'wasmcloud', hostUnit: true },
  { since: '2.0.0', program: 'wash', hostUnit: false },
];

export const wasmcloud: Recipe = {
  name: 'wasmcloud',
  description: 'the wasmCloud host and the NATS server',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: true,
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v1.2.1',
  options: {
    'nats-version': { description: 'NATS server release, e.g. v2.10.20 (default: the latest release)', pattern: /^v?\d+\.\d+\.\d+$/ },
  },
  source: import.meta.url,
  async resolve({ options }, fetchText) {
    if (options['nats-version']) return { nats: vTag(options['nats-version']) };
    return { nats: vTag(await latestReleaseTag(fetchText, NATS_LATEST, /^v?\d+\.\d+\.\d+$/, 'nats-version', 'v2.10.20')) };
  },
  downloads({ version, arch, upstreamArch: a, params }) {
    const nats = params.nats!;
    const { program } = forVersion(PROGRAMS, version);
    // No checksums are published next to these assets.
    return [
      { id: 'wasmcloud', url: `https://github.com/wasmcloud/wasmcloud/releases/download/${vTag(version)}/${program}-${a}-unknown-linux-musl` },
      { id: 'nats', url: `https://github.com/nats-io/nats-server/releases/download/${nats}/nats-server-${nats}-linux-${GOARCH[arch]}.tar.gz`, extract: 'tar.gz' },
    ];
  },
  async install(ctx) {
    const { program, hostUnit } = forVersion(PROGRAMS, ctx.version);
    await ctx.installFile(ctx.file('wasmcloud'), `usr/bin/${program}`, 0o755);
    const nats = ctx.params.nats!;
    await ctx.installFile(await ctx.source('nats', `nats-server-${nats}-linux-${GOARCH[ctx.arch]}/nats-server`), 'usr/bin/nats-server', 0o755);
    if (hostUnit) {
      await ctx.unit('wasmcloud.service', WASMCLOUD_SERVICE);
      await ctx.upholds('multi-user.target', 'wasmcloud.service');
    }
    await ctx.unit('nats.service', NATS_SERVICE);
    await ctx.upholds('multi-user.target', 'nats.service');
    await ctx.writeFile('usr/share/nats/nats.conf', 'port: 4222\nmonitor_port: 8222\n');
  },
};
