import { chmod, copyFile, lstat, mkdir, readdir, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { run } from '../../src/util/exec.js';
import { parseUnit, unitValues } from '../../src/sysext/units.js';
import { flix, flixLibDir } from '../../src/wrap/index.js';
import { parseElfDynamic, DF_1_NODEFLIB } from '../../src/wrap/elf-dynamic.js';
import { buildJqRootfs, bwrapProblem, cleanupAll, MULTIARCH, readText, runInUsrOnlySandbox, tempDir, unsquash } from './fixtures.js';

const bwrapSkip = await bwrapProblem();
if (bwrapSkip) console.warn(`flix run tests skipped: ${bwrapSkip}`);

const LIB_DIR = flixLibDir('jqflix');
let rootfs: string;
let out: string;
let extracted: string;
let result: Awaited<ReturnType<typeof flix>>;

beforeAll(async () => {
  // libonig lives where only the rootfs's ld.so.conf.d include names it.
  rootfs = await buildJqRootfs(await tempDir(), { onigDir: '/opt/onig/lib' });
  await mkdir(path.join(rootfs, 'usr/share/jq/modules'), { recursive: true });
  await writeFile(path.join(rootfs, 'usr/share/jq/modules/answer.jq'), 'def answer: 42;\n');
  await mkdir(path.join(rootfs, 'etc/jq'), { recursive: true });
  await writeFile(path.join(rootfs, 'etc/jq/default.json'), '{"answer":42}\n');
  await mkdir(path.join(rootfs, 'lib/systemd/system'), { recursive: true });
  await writeFile(path.join(rootfs, 'lib/systemd/system/jq-check.service'), '[Service]\nType=oneshot\nExecStart=/usr/bin/jq -n 1\n');
  out = await tempDir();
  result = await flix({
    rootfs,
    name: 'jqflix',
    paths: ['/bin/jq'],
    resources: ['/usr/share/jq', '/etc/jq:/usr/share/jqflix/etc'],
    units: ['jq-check.service'],
    outputDir: out,
  });
  extracted = await unsquash(result.sysext.path, path.join(await tempDir(), 'x'));
});
afterAll(cleanupAll);

describe('flix on a Debian rootfs with jq', () => {
  it('writes NAME.raw with the binary, its libraries, the loader, resources and units', async () => {
    expect(result.sysext.path).toBe(path.join(out, 'jqflix.raw'));
    expect(result.binaries).toEqual([{ source: '/bin/jq', dest: '/usr/bin/jq', kind: 'patched' }]);
    const libs = (await readdir(path.join(extracted, LIB_DIR))).sort();
    expect(libs).toEqual(['ld-linux-x86-64.so.2', 'libc.so.6', 'libgcc_s.so.1', 'libjq.so.1', 'libm.so.6', 'libonig.so.5']);
    // Found through the rootfs's ld.so.conf include, not the host's copy in the multiarch dir.
    expect(result.libraries.find((l) => l.name === 'libonig.so.5')?.from).toBe('/opt/onig/lib/libonig.so.5');
    expect(result.libraries.find((l) => l.name === 'libjq.so.1')?.from).toBe(`/lib/x86_64-linux-gnu/libjq.so.1`);
    expect(await readText(path.join(extracted, 'usr/share/jq/modules/answer.jq'))).toBe('def answer: 42;\n');
    expect(await readText(path.join(extracted, 'usr/share/jqflix/etc/default.json'))).toBe('{"answer":42}\n');
    const unit = parseUnit(await readText(path.join(extracted, 'usr/lib/systemd/system/jq-check.service')));
    expect(unitValues(unit, 'Service', 'ExecStart')).toEqual(['/usr/bin/jq -n 1']);
    expect(await readText(path.join(extracted, 'usr/lib/extension-release.d/extension-release.jqflix'))).toBe('ID=_any\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n');
  });

  it('points the binary at the private loader and library dir (readelf, patchelf)', async () => {
    const jq = path.join(extracted, 'usr/bin/jq');
    const program = (await run('readelf', ['-l', jq])).stdout;
    expect(program).toContain(`[Requesting program interpreter: ${LIB_DIR}/ld-linux-x86-64.so.2]`);
    expect((await run('patchelf', ['--print-rpath', jq])).stdout.trim()).toBe(LIB_DIR);
    const dynamic = (await run('readelf', ['-d', jq])).stdout;
    expect(dynamic).toMatch(/\(RPATH\)\s+Library rpath: \[\/usr\/lib\/flix-jqflix\]/);
    expect(dynamic).not.toContain('(RUNPATH)');
    expect(parseElfDynamic(await readFile(jq))!.flags1 & DF_1_NODEFLIB).toBe(DF_1_NODEFLIB);
    // Libraries find their dependencies next to themselves.
    expect((await run('patchelf', ['--print-rpath', path.join(extracted, LIB_DIR, 'libjq.so.1')])).stdout.trim()).toBe('$ORIGIN');
    // The loader is copied untouched.
    const { stdout: a } = await run('sha256sum', [path.join(extracted, LIB_DIR, 'ld-linux-x86-64.so.2'), path.join(rootfs, MULTIARCH, 'ld-linux-x86-64.so.2')]);
    const [h1, h2] = a.trim().split('\n').map((l) => l.split(' ')[0]);
    expect(h1).toBe(h2);
  });

  it.skipIf(bwrapSkip !== undefined)(`runs jq with the extension as the only /usr${bwrapSkip ? ` (skipped: ${bwrapSkip})` : ''}`, async () => {
    expect((await runInUsrOnlySandbox(extracted, ['/usr/bin/jq', '--version'])).trim()).toMatch(/^jq-1\.\d/);
    // test() compiles a regex: that is libonig at work, loaded from the private dir.
    expect((await runInUsrOnlySandbox(extracted, ['/usr/bin/jq', '-c', '[.a, (.b | test("^x+$"))]'], '{"a":1,"b":"xxx"}')).trim()).toBe('[1,true]');
  });

  it.skipIf(bwrapSkip !== undefined)('the unpatched binary does NOT run in that sandbox (the check above is meaningful)', async () => {
    const bare = path.join(extracted, 'usr/bin/jq-unpatched');
    await copyFile('/usr/bin/jq', bare);
    await chmod(bare, 0o755);
    try {
      await expect(runInUsrOnlySandbox(extracted, ['/usr/bin/jq-unpatched', '--version'])).rejects.toThrow();
    } finally {
      await rm(bare);
    }
  });
});

describe('flix failures and options', () => {
  it('refuses a binary that is not in the rootfs, naming it', async () => {
    const err = await flix({ rootfs, name: 'nope', paths: ['/usr/bin/not-there'], outputDir: await tempDir() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain('/usr/bin/not-there does not exist in the rootfs');
  });

  it('refuses when a needed library is missing from the rootfs, and writes nothing', async () => {
    const broken = await buildJqRootfs(await tempDir());
    await rm(path.join(broken, MULTIARCH, 'libonig.so.5'));
    const output = await tempDir();
    const err = await flix({ rootfs: broken, name: 'broken', paths: ['/usr/bin/jq'], outputDir: output }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/libonig\.so\.5 \(needed by \/usr\/lib\/x86_64-linux-gnu\/libjq\.so\.1; searched .*\/usr\/lib\/x86_64-linux-gnu/);
    expect(await readdir(output)).toEqual([]);
  });

  it('refuses an --extra-libs name the rootfs does not have', async () => {
    const err = await flix({ rootfs, name: 'x', paths: ['/usr/bin/jq'], extraLibs: ['libnotthere.so.9'], outputDir: await tempDir() }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('libnotthere.so.9 (needed by --extra-libs');
  });

  it('ships an --extra-libs library (a dlopen()ed one, named like DT_NEEDED)', async () => {
    const withZlib = await buildJqRootfs(await tempDir());
    await copyFile(await realpath('/lib/x86_64-linux-gnu/libz.so.1'), path.join(withZlib, MULTIARCH, 'libz.so.1'));
    const r = await flix({ rootfs: withZlib, name: 'extra', paths: ['/usr/bin/jq'], extraLibs: ['libz.so.1'], outputDir: await tempDir() });
    expect(r.libraries.find((l) => l.name === 'libz.so.1')).toEqual({ name: 'libz.so.1', from: '/lib/x86_64-linux-gnu/libz.so.1', dest: `${flixLibDir('extra')}/libz.so.1` });
  });

  it('ships a second name of the same library as a symlink in the private dir', async () => {
    const withAlias = await buildJqRootfs(await tempDir());
    await symlink('libonig.so.5', path.join(withAlias, MULTIARCH, 'libonig.so'));
    const r = await flix({ rootfs: withAlias, name: 'alias', paths: ['/usr/bin/jq'], extraLibs: ['libonig.so'], outputDir: await tempDir() });
    const x = await unsquash(r.sysext.path, path.join(await tempDir(), 'x'));
    expect(await readlink(path.join(x, flixLibDir('alias'), 'libonig.so'))).toBe('libonig.so.5');
    expect((await lstat(path.join(x, flixLibDir('alias'), 'libonig.so.5'))).isFile()).toBe(true);
  });

  it('refuses a resource outside /usr and /opt without a destination', async () => {
    await expect(flix({ rootfs, name: 'x', paths: ['/usr/bin/jq'], resources: ['/etc/jq'], outputDir: await tempDir() })).rejects.toThrow(/outside \/usr and \/opt/);
  });
});
