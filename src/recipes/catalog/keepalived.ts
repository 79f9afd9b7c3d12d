/**
 * keepalived, built from the release source tarball into a static binary with the host
 * toolchain (upstream publishes no binaries; the bakery builds in an Alpine container).
 * The build never falls back to an image without the program: a missing compiler or library
 * is a MissingToolError naming the Debian packages.
 */
import { cpus } from 'node:os';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CommandError, MissingToolError } from '../../errors.js';
import type { Recipe } from '../recipe.js';
import { findToolchain, missingBuildDependency, staticElfProblem } from '../toolchain.js';

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

/** configure's arguments: the bakery's layout (/usr, config under /usr/etc), static, no firewall libraries. */
export function keepalivedConfigureArgs(host: string | undefined): string[] {
  return [
    ...(host ? [`--host=${host}`] : []),
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
    '--disable-dynamic-linking',
    '--with-init=systemd',
    '--enable-vrrp',
    '--enable-bfd',
    '--enable-json',
    // NOT the bakery's flags yet: it builds in Alpine with --enable-nftables --enable-regex
    // --enable-libnl-dynamic. A static nftables build needs libnftnl.a and libmnl.a, and Debian 12's
    // libmnl-dev ships no static library, so on the Debian hosts flatbake supports it cannot link;
    // --enable-regex (libpcre2-8.a) and --enable-libnl-dynamic have not been tried against the real
    // keepalived source here. Until then this image has no nftables/iptables support and no regex
    // matching in track scripts (see the README's recipe table).
    '--disable-nftables',
    '--disable-iptables',
  ];
}

/** Turn a failed build step into MissingToolError when its output shows a missing dependency. */
function explainBuildFailure(err: unknown, step: string): never {
  if (err instanceof CommandError) {
    const missing = missingBuildDependency(`${err.outputTail}\n${err.message}`);
    if (missing) {
      throw new MissingToolError(`keepalived ${step} failed: ${missing.what} ${missing.what.startsWith('static') ? 'are' : 'is'} missing`, `install the Debian packages: ${missing.packages.join(' ')}`, { cause: err });
    }
  }
  throw err;
}

export const keepalived: Recipe = {
  name: 'keepalived',
  description: 'keepalived (VRRP and LVS health checks), built statically from source',
  arches: { 'x86-64': 'x86-64', arm64: 'arm64' },
  os: '_any',
  reload: true,
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionExample: 'v2.3.1',
  source: import.meta.url,
  downloads({ version }) {
    return [{ id: 'source', url: `https://www.keepalived.org/software/keepalived-${version.replace(/^v/, '')}.tar.gz`, extract: 'tar.gz' }];
  },
  async install(ctx) {
    const toolchain = await findToolchain(ctx.arch);
    const src = await ctx.source('source', `keepalived-${ctx.version.replace(/^v/, '')}/configure`).then(path.dirname);
    const env = { CC: toolchain.cc, CFLAGS: '-static -s -O2', LDFLAGS: '-static' };
    ctx.report.step('recipe', `building keepalived ${ctx.version} for ${ctx.arch} with ${path.basename(toolchain.cc)}`);
    await ctx.run(path.join(src, 'configure'), keepalivedConfigureArgs(toolchain.host), { cwd: src, env, purpose: 'configure keepalived' }).catch((e: unknown) => explainBuildFailure(e, 'configure'));
    await ctx.run(toolchain.make, [`-j${Math.max(1, cpus().length)}`], { cwd: src, env, purpose: 'build keepalived' }).catch((e: unknown) => explainBuildFailure(e, 'build'));
    const installRoot = path.join(ctx.work, 'keepalived-install');
    await ctx.run(toolchain.make, ['install', `DESTDIR=${installRoot}`], { cwd: src, env, purpose: 'install keepalived' });

    const binary = path.join(installRoot, 'usr/bin/keepalived');
    const head = await readFile(binary).catch(() => undefined);
    if (!head) throw new CommandError('the keepalived build installed no usr/bin/keepalived; refusing to make an image without it', 'make install', undefined, '');
    const problem = staticElfProblem(head, ctx.arch);
    if (problem) throw new CommandError(`the keepalived build produced usr/bin/keepalived that is ${problem}; refusing to make an image with it`, 'make', undefined, '', 'check that the static libraries (libc6-dev, libssl-dev) are installed; configure may have fallen back to dynamic linking');

    // Documentation and sample configs have no use in the image (the bakery drops them too).
    await rm(path.join(installRoot, 'usr/share'), { recursive: true, force: true });
    await rm(path.join(installRoot, 'usr/etc/keepalived/samples'), { recursive: true, force: true });
    await ctx.installTree(path.join(installRoot, 'usr'), 'usr');
    await ctx.unit('keepalived.service', KEEPALIVED_SERVICE);
    await ctx.unitDropIn('keepalived.service', '10-keepalived.conf', KEEPALIVED_DROPIN);
    await ctx.upholds('multi-user.target', 'keepalived.service');
  },
};
