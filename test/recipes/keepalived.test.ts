/**
 * keepalived is built from source. A tiny stand-in source tarball (a configure script that
 * writes a Makefile building a static hello-world called keepalived) runs the real build path:
 * configure -> make -> make install -> static ELF check -> image.
 */
import { execa } from 'execa';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { MissingToolError } from '../../src/errors.js';
import { keepalivedConfigureArgs } from '../../src/recipes/catalog/keepalived.js';
import { buildRecipe } from '../../src/recipes/index.js';
import { hostArch } from '../../src/recipes/toolchain.js';
import { openSysextImage } from '../../src/sysext/image-reader.js';
import { staticElfProblem } from '../../src/recipes/toolchain.js';
import { quietReporter } from '../../src/util/report.js';
import { Upstream } from './upstream.js';
import { verifyImage } from './verify.js';
import type { Arch } from '../../src/arch.js';

/**
 * Stand-in for keepalived's autoconf configure (keepalived.org keepalived-2.3.1.tar.gz, top dir
 * keepalived-2.3.1/ with configure at the top): it takes the same options, finds libnftnl and
 * libmnl through pkg-config when --enable-nftables is given (as the real one does) and writes a
 * Makefile that links a hello-world keepalived.c against them.
 */
function configureScript(options: { fail?: string } = {}): string {
  if (options.fail) return `#!/bin/sh\necho "checking for openssl... no" >&2\necho "${options.fail}" >&2\nexit 1\n`;
  return `#!/bin/sh
set -e
sbindir=/usr/local/sbin
sysconfdir=/usr/local/etc
nft=
for arg in "$@"; do
  case "$arg" in
    --sbindir=*) sbindir="\${arg#--sbindir=}" ;;
    --sysconfdir=*) sysconfdir="\${arg#--sysconfdir=}" ;;
    --enable-nftables) nft=yes ;;
  esac
done
printf '%s\\n' "$@" > configure.args
NFT_CFLAGS= NFT_LIBS=
if [ -n "$nft" ]; then
  if ! pkg-config --exists libnftnl libmnl; then
    echo "configure: error: nftables support requires libnftnl and libmnl (pkg-config found none)" >&2; exit 1
  fi
  NFT_CFLAGS="-DWITH_NFTABLES $(pkg-config --cflags libnftnl libmnl)"
  NFT_LIBS="$(pkg-config --libs libnftnl libmnl)"
fi
{
  printf 'CC = %s\\nCFLAGS = %s %s\\nLDFLAGS = %s\\nNFT_LIBS = %s\\n' "\${CC:-cc}" "$CFLAGS" "$NFT_CFLAGS" "$LDFLAGS" "$NFT_LIBS"
  printf 'all: keepalived\\n'
  printf 'keepalived: keepalived.c\\n\\t$(CC) $(BUILDFLAGS) -o keepalived keepalived.c $(NFT_LIBS)\\n'
  printf 'install: keepalived\\n'
  printf '\\tmkdir -p $(DESTDIR)%s $(DESTDIR)%s/keepalived/samples $(DESTDIR)%s/sysconfig $(DESTDIR)/usr/share/man/man8\\n' "$sbindir" "$sysconfdir" "$sysconfdir"
  printf '\\tinstall -m 755 keepalived $(DESTDIR)%s/keepalived\\n' "$sbindir"
  printf '\\techo sample > $(DESTDIR)%s/keepalived/samples/keepalived.conf.vrrp\\n' "$sysconfdir"
  printf '\\techo KEEPALIVED_OPTIONS=-D > $(DESTDIR)%s/sysconfig/keepalived\\n' "$sysconfdir"
  printf '\\techo man > $(DESTDIR)/usr/share/man/man8/keepalived.8\\n'
} > Makefile
`;
}

const HELLO = `#include <stdio.h>
#ifdef WITH_NFTABLES
extern const char *nftnl_version(void);
#endif
int main(void) {
#ifdef WITH_NFTABLES
  puts(nftnl_version());
#endif
  puts("keepalived stand-in");
  return 0;
}
`;

/**
 * Stand-in for the autoconf configure of libmnl 1.0.5 / libnftnl 1.2.8 (netfilter.org
 * libmnl-1.0.5.tar.bz2 and libnftnl-1.2.8.tar.xz, top dir NAME-VERSION/): --prefix, --host,
 * --enable-static/--disable-shared; libnftnl finds libmnl through pkg-config (its configure.ac:
 * PKG_CHECK_MODULES([LIBMNL], [libmnl >= 1.0.4])). The Makefile archives one object into libNAME.a
 * and installs it with its header and NAME.pc.
 */
function libConfigure(name: string, version: string, needs?: string): string {
  return `#!/bin/sh
set -e
prefix=/usr/local host= static=no shared=yes
for arg in "$@"; do
  case "$arg" in
    --prefix=*) prefix="\${arg#--prefix=}" ;;
    --host=*) host="\${arg#--host=}" ;;
    --enable-static) static=yes ;;
    --disable-shared) shared=no ;;
  esac
done
if [ "$static" != yes ] || [ "$shared" != no ]; then echo "stand-in ${name}: only a static build is offered" >&2; exit 1; fi
DEP_CFLAGS=
${needs ? `if ! pkg-config --exists ${needs}; then echo "configure: error: Package requirements (${needs} >= 1.0.4) were not met" >&2; exit 1; fi
DEP_CFLAGS="$(pkg-config --cflags ${needs})"` : ''}
AR=ar; [ -n "$host" ] && AR="$host-ar"
{
  printf 'all: ${name}.a\\n'
  printf '${name}.a: src/${name}.c\\n\\t%s %s %s -Iinclude -c src/${name}.c -o ${name}.o\\n\\t%s rcs ${name}.a ${name}.o\\n' "\${CC:-cc}" "$CFLAGS" "$DEP_CFLAGS" "$AR"
  printf 'install: ${name}.a\\n\\tmkdir -p %s/lib/pkgconfig %s/include/${name}\\n' "$prefix" "$prefix"
  printf '\\tcp ${name}.a %s/lib/ && cp include/${name}/${name}.h %s/include/${name}/\\n' "$prefix" "$prefix"
  printf '\\tprintf "prefix=%s\\\\nName: ${name}\\\\nDescription: stand-in\\\\nVersion: ${version}\\\\n${needs ? `Requires.private: ${needs}\\\\n` : ''}Libs: -L%s/lib -l${name.replace(/^lib/, '')}\\\\nCflags: -I%s/include\\\\n" > %s/lib/pkgconfig/${name}.pc\\n' "$prefix" "$prefix" "$prefix" "$prefix"
} > Makefile
`;
}

let work: string;
let upstream: Upstream;
let server: StaticServer;

/** Publish keepalived-VERSION.tar.gz; BUILDFLAGS decides static or not. */
async function publishSource(version: string, options: { buildFlags?: string; fail?: string } = {}): Promise<void> {
  const top = `keepalived-${version}`;
  await upstream.tar(`https://www.keepalived.org/software/keepalived-${version}.tar.gz`, 'gz', {
    [`${top}/configure`]: { data: configureScript(options).replace('$(BUILDFLAGS)', options.buildFlags ?? '$(CFLAGS) $(LDFLAGS)'), mode: 0o755 },
    [`${top}/keepalived.c`]: HELLO,
  });
}

/** Publish libmnl 1.0.5 and libnftnl 1.2.8, the versions the recipe builds by default. */
async function publishNetfilterLibs(): Promise<void> {
  await upstream.tar('https://www.netfilter.org/pub/libmnl/libmnl-1.0.5.tar.bz2', 'bz2', {
    'libmnl-1.0.5/configure': { data: libConfigure('libmnl', '1.0.5'), mode: 0o755 },
    'libmnl-1.0.5/include/libmnl/libmnl.h': 'int mnl_attr_get_type(void);\n',
    'libmnl-1.0.5/src/libmnl.c': '#include <libmnl/libmnl.h>\nint mnl_attr_get_type(void) { return 1; }\n',
  });
  await upstream.tar('https://www.netfilter.org/pub/libnftnl/libnftnl-1.2.8.tar.xz', 'xz', {
    'libnftnl-1.2.8/configure': { data: libConfigure('libnftnl', '1.2.8', 'libmnl'), mode: 0o755 },
    'libnftnl-1.2.8/include/libnftnl/libnftnl.h': 'const char *nftnl_version(void);\n',
    'libnftnl-1.2.8/src/libnftnl.c': '#include <libmnl/libmnl.h>\nconst char *nftnl_version(void) { return mnl_attr_get_type() ? "libnftnl stand-in 1.2.8 on libmnl" : ""; }\n',
  });
}

/** Why a static build for ARCH cannot run here, or undefined when it can. */
async function cannotBuild(arch: Arch): Promise<string | undefined> {
  const cc = arch === hostArch() ? 'gcc' : arch === 'arm64' ? 'aarch64-linux-gnu-gcc' : 'x86_64-linux-gnu-gcc';
  for (const tool of ['make', cc]) {
    if ((await execa(tool, ['--version'], { reject: false })).exitCode !== 0) return `${tool} is not installed`;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-cc-probe-'));
  try {
    const probe = await execa(cc, ['-static', '-x', 'c', '-', '-o', path.join(dir, 'a.out')], { input: HELLO, reject: false });
    return probe.exitCode === 0 ? undefined : `${cc} cannot link statically (libc6-dev missing?)`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-keepalived-'));
  upstream = new Upstream(path.join(work, 'mirror'));
  await publishNetfilterLibs();
  await publishSource('2.3.1');
  await publishSource('2.3.2', { fail: 'configure: error: !!! OpenSSL is not properly installed on your system. !!!' });
  await publishSource('2.3.3', { buildFlags: '' });
  server = await serveStatic(upstream.root);
});

afterAll(async () => {
  await server?.close();
  await upstream?.cleanup();
  await rm(work, { recursive: true, force: true });
});

const base = (outputDir: string) => ({ recipe: 'keepalived', mirror: server.url, cache: new Cache(undefined), report: quietReporter, outputDir, sourceDateEpoch: 0 });

const reasons = new Map<Arch, string | undefined>();
for (const arch of ['x86-64', 'arm64'] as const) reasons.set(arch, await cannotBuild(arch));

describe('keepalived', () => {
  it('configures with the bakery\'s flags (keepalived.sysext/build.sh), the program in /usr/bin', () => {
    // flatcar/sysext-bakery keepalived.sysext/build.sh at 80959c1, with --sbindir=/usr/sbin.
    const bakery = ['--disable-dynamic-linking', '--prefix=/usr', '--exec-prefix=/usr', '--bindir=/usr/bin', '--sbindir=/usr/sbin', '--sysconfdir=/usr/etc',
      '--datadir=/usr/share', '--localstatedir=/var', '--mandir=/usr/share/man', '--enable-bfd', '--enable-nftables', '--enable-regex', '--enable-json',
      '--with-init=systemd', '--enable-vrrp', '--enable-libnl-dynamic'];
    expect(keepalivedConfigureArgs()).toEqual(bakery.map((a) => (a === '--sbindir=/usr/sbin' ? '--sbindir=/usr/bin' : a)));
  });

  for (const arch of ['x86-64', 'arm64'] as const) {
    const reason = reasons.get(arch);
    if (reason) console.warn(`keepalived ${arch} build test skipped: ${reason}`);
    it.skipIf(reason !== undefined)(`builds a static keepalived for ${arch} from the source tarball${reason ? ` (skipped: ${reason})` : ''}`, async () => {
      const out = path.join(work, 'out', arch);
      const result = await buildRecipe({ ...base(out), version: 'v2.3.1', arch });
      expect(path.basename(result.path)).toBe(`keepalived-v2.3.1-${arch}.raw`);
      await verifyImage(result.path, 'keepalived', arch, {
        version: 'v2.3.1', os: '_any', reload: true,
        files: {
          'usr/bin/keepalived': 0o755, 'usr/etc/sysconfig/keepalived': 0o644,
          'usr/lib/systemd/system/keepalived.service': 0o644, 'usr/lib/systemd/system/keepalived.service.d/10-keepalived.conf': 0o644,
        },
        absent: ['usr/share', 'usr/etc/keepalived/samples', 'usr/sbin'],
        upholds: [['multi-user.target', 'keepalived.service']],
      });
      const image = await openSysextImage(result.path);
      try {
        const program = await image.readFile('usr/bin/keepalived');
        expect(staticElfProblem(program, arch)).toBeUndefined();
        // --enable-nftables linked the libnftnl and libmnl built from their tarballs into the program.
        expect(program.includes('libnftnl stand-in 1.2.8 on libmnl')).toBe(true);
      } finally {
        await image.close();
      }
    });
  }

  it.skipIf(reasons.get(hostArch() ?? 'x86-64') !== undefined)('names the Debian package when configure finds no OpenSSL', async () => {
    const out = path.join(work, 'out', 'no-openssl');
    const error = await buildRecipe({ ...base(out), version: '2.3.2', arch: hostArch() ?? 'x86-64' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingToolError);
    expect((error as MissingToolError).message).toContain('OpenSSL development files');
    expect((error as MissingToolError).hint).toBe('install the Debian packages: libssl-dev');
    expect(await readdir(out)).toEqual([]);
  });

  it.skipIf(reasons.get(hostArch() ?? 'x86-64') !== undefined)('refuses a dynamically linked result instead of shipping it', async () => {
    const out = path.join(work, 'out', 'dynamic');
    const error = await buildRecipe({ ...base(out), version: '2.3.3', arch: hostArch() ?? 'x86-64' }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/usr\/bin\/keepalived that is dynamically linked .*; refusing/);
    expect(await readdir(out)).toEqual([]);
  });
});
