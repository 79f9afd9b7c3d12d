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
import { buildRecipe } from '../../src/recipes/index.js';
import { hostArch } from '../../src/recipes/toolchain.js';
import { openSysextImage } from '../../src/sysext/image-reader.js';
import { staticElfProblem } from '../../src/recipes/toolchain.js';
import { quietReporter } from '../../src/util/report.js';
import { Upstream, type Arch } from './upstream.js';
import { verifyImage } from './verify.js';

/** A configure that writes a Makefile; RECIPE is the make rule that builds ./keepalived. */
function configureScript(options: { fail?: string } = {}): string {
  if (options.fail) return `#!/bin/sh\necho "checking for openssl... no" >&2\necho "${options.fail}" >&2\nexit 1\n`;
  return `#!/bin/sh
set -e
sbindir=/usr/local/sbin
sysconfdir=/usr/local/etc
for arg in "$@"; do
  case "$arg" in
    --sbindir=*) sbindir="\${arg#--sbindir=}" ;;
    --sysconfdir=*) sysconfdir="\${arg#--sysconfdir=}" ;;
  esac
done
printf '%s\\n' "$@" > configure.args
{
  printf 'CC = %s\\nCFLAGS = %s\\nLDFLAGS = %s\\n' "\${CC:-cc}" "$CFLAGS" "$LDFLAGS"
  printf 'all: keepalived\\n'
  printf 'keepalived: keepalived.c\\n\\t$(CC) $(BUILDFLAGS) -o keepalived keepalived.c\\n'
  printf 'install: keepalived\\n'
  printf '\\tmkdir -p $(DESTDIR)%s $(DESTDIR)%s/keepalived/samples $(DESTDIR)%s/sysconfig $(DESTDIR)/usr/share/man/man8\\n' "$sbindir" "$sysconfdir" "$sysconfdir"
  printf '\\tinstall -m 755 keepalived $(DESTDIR)%s/keepalived\\n' "$sbindir"
  printf '\\techo sample > $(DESTDIR)%s/keepalived/samples/keepalived.conf.vrrp\\n' "$sysconfdir"
  printf '\\techo KEEPALIVED_OPTIONS=-D > $(DESTDIR)%s/sysconfig/keepalived\\n' "$sysconfdir"
  printf '\\techo man > $(DESTDIR)/usr/share/man/man8/keepalived.8\\n'
} > Makefile
`;
}

const HELLO = '#include <stdio.h>\nint main(void) { puts("keepalived stand-in"); return 0; }\n';

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
        expect(staticElfProblem(await image.readFile('usr/bin/keepalived'), arch)).toBeUndefined();
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
