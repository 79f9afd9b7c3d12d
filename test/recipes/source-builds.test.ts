/**
 * chrony and bird are built from their release source tarballs, as keepalived is. Stand-in
 * tarballs with the real names and top directories hold a configure that takes the bakery's
 * options and writes a Makefile building static hello-world programs by the real names, so the
 * real build path runs: configure -> make -> make install -> static ELF checks -> image.
 * Mirrored releases (names, URLs and top directories only; the sources are stand-ins):
 * chrony 4.6.1 (https://chrony-project.org/releases/chrony-4.6.1.tar.gz, top dir chrony-4.6.1/),
 * bird 2.15.1 (https://bird.network.cz/download/bird-2.15.1.tar.gz, top dir bird-2.15.1/),
 * haproxy 3.0.5 (its .tar.gz with the .sha256 file haproxy.org publishes beside it).
 */
import { execa } from 'execa';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { BIRD_CONFIGURE_ARGS } from '../../src/recipes/catalog/bird.js';
import { CHRONY_CONFIGURE_ARGS } from '../../src/recipes/catalog/chrony.js';
import { buildRecipe } from '../../src/recipes/index.js';
import { hostArch, staticElfProblem } from '../../src/recipes/toolchain.js';
import { openSysextImage } from '../../src/sysext/image-reader.js';
import { parseUnit, unitValues } from '../../src/sysext/units.js';
import { quietReporter } from '../../src/util/report.js';
import type { Arch } from '../../src/arch.js';
import { Upstream } from './upstream.js';
import { verifyImage } from './verify.js';

interface Program {
  name: string;
  /** configure's directory option it is installed to. */
  dir: 'bindir' | 'sbindir';
}

/**
 * A configure taking the autoconf-style options both projects' configure scripts take (chrony's
 * is hand-written, bird's autoconf's), refusing any it does not know, as chrony's does. The
 * Makefile builds each program from hello.c (static unless told otherwise) and installs it with a
 * man page, and a sample config under $sysconfdir.
 */
function configure(programs: Program[], options: { dynamic?: boolean } = {}): string {
  const flags = options.dynamic ? '' : '$(CFLAGS) $(LDFLAGS)';
  const rules = programs.map((p) => `  printf '${p.name}: hello.c\\n\\t$(CC) ${flags} -DNAME=\\\\"${p.name}\\\\" -o ${p.name} hello.c\\n'`).join('\n');
  const installs = programs.map((p) => `  printf '\\tinstall -D -m 755 ${p.name} $(DESTDIR)%s/${p.name}\\n\\techo man > $(DESTDIR)%s/man8/${p.name}.8\\n' "$${p.dir}" "$mandir"`).join('\n');
  return `#!/bin/sh
set -e
prefix=/usr/local bindir= sbindir= mandir= sysconfdir=
for arg in "$@"; do
  case "$arg" in
    --prefix=*) prefix="\${arg#*=}" ;;
    --exec_prefix=*|--exec-prefix=*|--localstatedir=*|--runstatedir=*|--with-iproutedir=*|--host=*) ;;
    --bindir=*) bindir="\${arg#*=}" ;;
    --sbindir=*) sbindir="\${arg#*=}" ;;
    --mandir=*) mandir="\${arg#*=}" ;;
    --sysconfdir=*) sysconfdir="\${arg#*=}" ;;
    *) echo "error: unrecognized option $arg" >&2; exit 1 ;;
  esac
done
: "\${bindir:=$prefix/bin}" "\${sbindir:=$prefix/sbin}" "\${mandir:=$prefix/share/man}" "\${sysconfdir:=$prefix/etc}"
{
  printf 'CC = %s\\nCFLAGS = %s\\nLDFLAGS = %s\\n' "\${CC:-cc}" "$CFLAGS" "$LDFLAGS"
  printf 'all: ${programs.map((p) => p.name).join(' ')}\\n'
${rules}
  printf 'install: all\\n\\tmkdir -p $(DESTDIR)%s/man8 $(DESTDIR)/usr/etc\\n\\techo sample > $(DESTDIR)/usr/etc/sample.conf\\n' "$mandir"
${installs}
} > Makefile
`;
}

const HELLO = '#include <stdio.h>\nint main(void) { puts(NAME " stand-in"); return 0; }\n';

const SOURCES = {
  // chrony-project.org chrony-4.6.1.tar.gz: top dir chrony-4.6.1/, configure at the top.
  chrony: { url: (v: string) => `https://chrony-project.org/releases/chrony-${v}.tar.gz`, programs: [{ name: 'chronyd', dir: 'sbindir' }, { name: 'chronyc', dir: 'bindir' }] },
  // bird.network.cz bird-2.15.1.tar.gz: top dir bird-2.15.1/, the generated configure at the top.
  bird: { url: (v: string) => `https://bird.network.cz/download/bird-${v}.tar.gz`, programs: [{ name: 'bird', dir: 'sbindir' }, { name: 'birdc', dir: 'sbindir' }, { name: 'birdcl', dir: 'sbindir' }] },
} satisfies Record<string, { url: (v: string) => string; programs: Program[] }>;

/**
 * Stand-in for haproxy's top-level Makefile (www.haproxy.org haproxy-3.0.5.tar.gz, top dir
 * haproxy-3.0.5/, no configure): it refuses a build without the target and features the recipe
 * asks for, and install-bin installs to $(DESTDIR)$(SBINDIR) as the real one does.
 */
const HAPROXY_MAKEFILE = `CC = cc
PREFIX = /usr/local
SBINDIR = $(PREFIX)/sbin
all: haproxy
haproxy: hello.c
\t@test "$(TARGET)" = linux-glibc || { echo "stand-in: TARGET=$(TARGET)"; exit 1; }
\t@test "$(USE_OPENSSL)$(USE_QUIC)$(USE_PCRE2)$(USE_ZLIB)$(USE_LUA)$(USE_PROMEX)" = 111111 || { echo "stand-in: features missing"; exit 1; }
\t$(CC) $(CFLAGS) -DNAME=\\"haproxy\\" -o haproxy hello.c $(LDFLAGS)
install-bin: haproxy
\tinstall -d "$(DESTDIR)$(SBINDIR)"
\tinstall haproxy "$(DESTDIR)$(SBINDIR)"
\tmkdir -p "$(DESTDIR)$(PREFIX)/doc/haproxy" && echo doc > "$(DESTDIR)$(PREFIX)/doc/haproxy/intro.txt"
`;

let work: string;
let upstream: Upstream;
let server: StaticServer;

async function publish(name: keyof typeof SOURCES, version: string, options: { dynamic?: boolean } = {}): Promise<void> {
  const s = SOURCES[name];
  await upstream.tar(s.url(version), 'gz', {
    [`${name}-${version}/configure`]: { data: configure(s.programs, options), mode: 0o755 },
    [`${name}-${version}/hello.c`]: HELLO,
  });
}

/** Why a static build for ARCH cannot run here, or undefined when it can. */
async function cannotBuild(arch: Arch): Promise<string | undefined> {
  const cc = arch === hostArch() ? 'gcc' : arch === 'arm64' ? 'aarch64-linux-gnu-gcc' : 'x86_64-linux-gnu-gcc';
  for (const tool of ['make', cc]) {
    if ((await execa(tool, ['--version'], { reject: false })).exitCode !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-source-builds-'));
  upstream = new Upstream(path.join(work, 'mirror'));
  await publish('chrony', '4.6.1');
  await publish('chrony', '4.6', { dynamic: true });
  await publish('bird', '2.15.1');
  const haproxyUrl = 'https://www.haproxy.org/download/3.0/src/haproxy-3.0.5.tar.gz';
  const tgz = await upstream.tar(haproxyUrl, 'gz', { 'haproxy-3.0.5/Makefile': HAPROXY_MAKEFILE, 'haproxy-3.0.5/hello.c': HELLO });
  // haproxy.org's .sha256: one sha256sum line naming the tarball.
  await upstream.addSum(`${haproxyUrl}.sha256`, 'haproxy-3.0.5.tar.gz', tgz);
  server = await serveStatic(upstream.root);
});
afterAll(async () => {
  await server?.close();
  await upstream?.cleanup();
  await rm(work, { recursive: true, force: true });
});

const base = (outputDir: string) => ({ mirror: server.url, cache: new Cache(undefined), report: quietReporter, outputDir, sourceDateEpoch: 0 });
const native = hostArch() ?? 'x86-64';
const reasons = new Map<Arch, string | undefined>();
for (const arch of ['x86-64', 'arm64'] as const) reasons.set(arch, await cannotBuild(arch));

async function programs(image: string, files: string[], arch: Arch): Promise<void> {
  const opened = await openSysextImage(image);
  try {
    for (const f of files) expect(staticElfProblem(await opened.readFile(f), arch), f).toBeUndefined();
  } finally {
    await opened.close();
  }
}

describe('recipes built from source', () => {
  it('configure with the bakery\'s flags (chrony.sysext/build.sh, bird.sysext/build.sh at 80959c1)', () => {
    expect(CHRONY_CONFIGURE_ARGS).toEqual(['--prefix=/usr', '--exec_prefix=/usr', '--sbindir=/usr/bin', '--sysconfdir=/etc/chrony', '--mandir=/usr/share/man', '--localstatedir=/var', '--runstatedir=/run', '--with-iproutedir=/usr/share/iproute2']);
    expect(BIRD_CONFIGURE_ARGS).toEqual(['--prefix=/usr', '--exec_prefix=/usr', '--sbindir=/usr/bin', '--sysconfdir=/etc/bird', '--localstatedir=/var', '--runstatedir=/run', '--with-iproutedir=/usr/share/iproute2']);
  });

  for (const arch of ['x86-64', 'arm64'] as const) {
    const reason = reasons.get(arch);
    it.skipIf(reason !== undefined)(`chrony for ${arch}: static chronyd and chronyc, the unit and envvars${reason ? ` (skipped: ${reason})` : ''}`, async () => {
      const result = await buildRecipe({ ...base(path.join(work, 'out', `chrony-${arch}`)), recipe: 'chrony', version: '4.6.1', arch });
      expect(path.basename(result.path)).toBe(`chrony-4.6.1-${arch}.raw`);
      await verifyImage(result.path, 'chrony', arch, {
        version: '4.6.1', os: '_any', reload: true,
        files: { 'usr/bin/chronyd': 0o755, 'usr/bin/chronyc': 0o755, 'usr/share/man/man8/chronyd.8': 0o644, 'usr/lib/chrony/envvars': 0o644, 'usr/lib/systemd/system/chronyd.service': 0o644 },
        contents: { 'usr/lib/chrony/envvars': 'OPTIONS=""\n' },
        absent: ['usr/sbin', 'usr/etc'],
      });
      await programs(result.path, ['usr/bin/chronyd', 'usr/bin/chronyc'], arch);
      const opened = await openSysextImage(result.path);
      try {
        const unit = parseUnit((await opened.readFile('usr/lib/systemd/system/chronyd.service')).toString());
        expect(unitValues(unit, 'Service', 'ExecStart')).toEqual(['/usr/bin/chronyd $OPTIONS']);
        expect(unitValues(unit, 'Unit', 'Conflicts')).toEqual(['ntpd.service systemd-timesyncd.service']);
      } finally {
        await opened.close();
      }
    });
  }

  it.skipIf(reasons.get(native) !== undefined)('bird: static bird, birdc and birdcl, its helper files, upheld by multi-user.target', async () => {
    const result = await buildRecipe({ ...base(path.join(work, 'out', 'bird')), recipe: 'bird', version: '2.15.1', arch: native });
    await verifyImage(result.path, 'bird', native, {
      version: '2.15.1', os: '_any', reload: true,
      files: {
        'usr/bin/bird': 0o755, 'usr/bin/birdc': 0o755, 'usr/bin/birdcl': 0o755, 'usr/lib/bird/envvars': 0o644, 'usr/lib/bird/prepare-environment': 0o755,
        'usr/lib/systemd/system/bird.service': 0o644,
      },
      absent: ['usr/sbin', 'usr/etc'],
      upholds: [['multi-user.target', 'bird.service']],
    });
    await programs(result.path, ['usr/bin/bird', 'usr/bin/birdc', 'usr/bin/birdcl'], native);
  });

  it.skipIf(reasons.get(native) !== undefined)('haproxy: checked against its .sha256, static, with the bakery\'s unit, sysusers, tmpfiles and config', async () => {
    const result = await buildRecipe({ ...base(path.join(work, 'out', 'haproxy')), recipe: 'haproxy', version: '3.0.5', arch: native });
    expect(result.inputs).toEqual([expect.objectContaining({ url: 'https://www.haproxy.org/download/3.0/src/haproxy-3.0.5.tar.gz', verified: true })]);
    await verifyImage(result.path, 'haproxy', native, {
      version: '3.0.5', os: '_any', reload: true,
      files: {
        'usr/bin/haproxy': 0o755, 'usr/lib/systemd/system/haproxy.service': 0o644, 'usr/lib/sysusers.d/haproxy.conf': 0o644,
        'usr/lib/tmpfiles.d/10-haproxy.conf': 0o644, 'usr/share/haproxy/haproxy.cfg': 0o644,
      },
      contents: { 'usr/lib/sysusers.d/haproxy.conf': 'u haproxy - "HAProxy load balancer" /var/lib/haproxy /sbin/nologin\n' },
      absent: ['usr/sbin', 'usr/doc'],
    });
    await programs(result.path, ['usr/bin/haproxy'], native);
  });

  it.skipIf(reasons.get(native) !== undefined)('refuses a dynamically linked chrony instead of shipping it', async () => {
    const out = path.join(work, 'out', 'chrony-dynamic');
    const error = await buildRecipe({ ...base(out), recipe: 'chrony', version: '4.6', arch: native }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/usr\/bin\/chronyd that is dynamically linked .*; refusing/);
    expect(await readdir(out)).toEqual([]);
  });
});
