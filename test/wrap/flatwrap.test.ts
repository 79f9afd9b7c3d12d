import { chmod, lstat, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError, InputError } from '../../src/errors.js';
import { run } from '../../src/util/exec.js';
import { parseUnit, unitValues } from '../../src/sysext/units.js';
import { flatwrap } from '../../src/wrap/index.js';
import { COMMAND_SCHEMA_VERSION } from '../../src/cli/json-output.js';
import { schemaErrors } from '../helpers/schemas.js';
import { buildJqRootfs, bwrapProblem, cleanupAll, readText, tempDir, unsquash } from './fixtures.js';

const bwrapSkip = await bwrapProblem();
if (bwrapSkip) console.warn(`flatwrap bwrap tests skipped: ${bwrapSkip}`);
const isRoot = process.getuid?.() === 0;

let rootfs: string;
let extracted: string;
let result: Awaited<ReturnType<typeof flatwrap>>;
let shippedRoot: string;

beforeAll(async () => {
  rootfs = await buildJqRootfs(await tempDir());
  // Leftovers a real rootfs has under its mount points: not shipped.
  await writeFile(path.join(rootfs, 'tmp/stale'), 'x');
  await mkdir(path.join(rootfs, 'usr/lib/systemd/system'), { recursive: true });
  await writeFile(path.join(rootfs, 'usr/lib/systemd/system/jq-report.service'), [
    '[Unit]', 'Description=report', '', '[Service]', 'Type=oneshot',
    '# through the /bin symlink: resolved inside the rootfs',
    'ExecStartPre=-/bin/jq -n 0',
    'ExecStart=/usr/bin/jq -n "1 + 1"',
    'ExecStartPost=/usr/bin/env true',
    '',
  ].join('\n'));
  result = await flatwrap({ rootfs, name: 'jqwrap', paths: ['/usr/bin/jq', '/usr/bin/jq:/usr/bin/jq-in-debian'], units: ['jq-report.service'], etcMap: 'chroot', outputDir: await tempDir() });
  extracted = await unsquash(result.sysext.path, path.join(await tempDir(), 'x'));
  shippedRoot = path.join(extracted, 'usr/local/jqwrap');
});
afterAll(cleanupAll);

describe('flatwrap on a Debian rootfs with jq', () => {
  it('ships the rootfs under usr/local/NAME with empty mount points, and wrappers in usr/bin', async () => {
    expect(result.root).toBe('/usr/local/jqwrap');
    // What `flatbake flatwrap --json` prints: this result with its schemaVersion.
    expect(schemaErrors('flatwrap', { schemaVersion: COMMAND_SCHEMA_VERSION, ...result })).toEqual([]);
    expect(result.wrappers).toEqual([
      { program: '/usr/bin/jq', wrapper: '/usr/bin/jq' },
      { program: '/usr/bin/jq', wrapper: '/usr/bin/jq-in-debian' },
    ]);
    expect((await lstat(path.join(shippedRoot, 'usr/bin/jq'))).isFile()).toBe(true);
    expect((await lstat(path.join(shippedRoot, 'lib64'))).isSymbolicLink()).toBe(true);
    expect(await readdir(path.join(shippedRoot, 'tmp'))).toEqual([]);
    for (const mp of ['dev', 'proc', 'sys', 'run', 'tmp', 'var', 'home', 'root']) expect((await stat(path.join(shippedRoot, mp))).isDirectory()).toBe(true);
    expect((await stat(path.join(extracted, 'usr/bin/jq'))).mode & 0o777).toBe(0o755);
    await run('sh', ['-n', path.join(extracted, 'usr/bin/jq')]);
  });

  it('points the unit at the wrappers and reports what it left', async () => {
    const unit = parseUnit(await readText(path.join(extracted, 'usr/lib/systemd/system/jq-report.service')));
    expect(unitValues(unit, 'Service', 'ExecStartPre')).toEqual(['-/usr/bin/jq -n 0']);
    expect(unitValues(unit, 'Service', 'ExecStart')).toEqual(['/usr/bin/jq -n "1 + 1"']);
    expect(unitValues(unit, 'Service', 'ExecStartPost')).toEqual(['/usr/bin/env true']);
    expect(result.changed).toContain('jq-report.service: ExecStartPre=/bin/jq -> /usr/bin/jq');
    expect(result.leftAlone).toEqual(['jq-report.service: ExecStartPost=/usr/bin/env: not one of the wrapped programs, kept as is']);
  });

  it.skipIf(bwrapSkip !== undefined)(`the wrapper runs jq inside FLATWRAP_ROOT with bubblewrap${bwrapSkip ? ` (skipped: ${bwrapSkip})` : ''}`, async () => {
    const env = { FLATWRAP_ROOT: shippedRoot, FLATWRAP_SANDBOX: 'bwrap' };
    expect((await run(path.join(extracted, 'usr/bin/jq'), ['--version'], { env })).stdout.trim()).toMatch(/^jq-1\.\d/);
    // It really runs in the root: /etc/os-release there is the rootfs's (etcMap chroot), not this host's.
    const osRelease = (await run(path.join(extracted, 'usr/bin/jq-in-debian'), ['-Rr', '.', '/etc/os-release'], { env })).stdout;
    expect(osRelease).toBe('ID=debian\n');
  });

  it.skipIf(bwrapSkip !== undefined)('the wrapper passes arguments through verbatim', async () => {
    const env = { FLATWRAP_ROOT: shippedRoot, FLATWRAP_SANDBOX: 'bwrap' };
    const args = ['-n', '--arg', 'x', "it's $HOME \"quoted\"; `no`", '$x'];
    expect((await run(path.join(extracted, 'usr/bin/jq'), args, { env })).stdout.trim()).toBe(JSON.stringify("it's $HOME \"quoted\"; `no`"));
  });

  it.skipIf(bwrapSkip !== undefined || !isRoot)(`as a non-root user the wrapper picks bubblewrap by itself${bwrapSkip ? ` (skipped: ${bwrapSkip})` : isRoot ? '' : ' (skipped: needs root to switch to nobody)'}`, async () => {
    // mkdtemp dirs are 0700; let nobody reach the unpacked tree for this run.
    for (let d = extracted; d !== path.dirname(d) && d.startsWith(os.tmpdir() + '/'); d = path.dirname(d)) await chmod(d, 0o755);
    const env = { FLATWRAP_ROOT: shippedRoot };
    const { stdout } = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', path.join(extracted, 'usr/bin/jq'), '-n', '[input_filename, 1+1]', '-c'], { env });
    expect(stdout.trim()).toBe('[null,2]');
    const err = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', path.join(extracted, 'usr/bin/jq'), '--version'], { env: { ...env, FLATWRAP_SANDBOX: 'chroot' } }).catch((e: unknown) => e);
    expect((err as CommandError).outputTail).toContain('FLATWRAP_SANDBOX=chroot needs root');
  });

  it.skipIf(!isRoot)(`the chroot fallback (unshare + chroot, as root) runs jq and leaves no mount behind${isRoot ? '' : ' (skipped: needs root)'}`, async () => {
    const mentionsRoot = async (): Promise<boolean> => (await readText('/proc/self/mountinfo')).includes(extracted);
    expect(await mentionsRoot()).toBe(false);
    const env = { FLATWRAP_ROOT: shippedRoot, FLATWRAP_SANDBOX: 'chroot' };
    expect((await run(path.join(extracted, 'usr/bin/jq'), ['--version'], { env })).stdout.trim()).toMatch(/^jq-1\.\d/);
    expect((await run(path.join(extracted, 'usr/bin/jq'), ['-Rr', '.', '/etc/os-release'], { env })).stdout).toBe('ID=debian\n');
    // The binds lived in the wrapper's private mount namespace only.
    expect(await mentionsRoot()).toBe(false);
  });

  it('the wrapper explains a missing root', async () => {
    const err = await run(path.join(extracted, 'usr/bin/jq'), ['--version'], { env: { FLATWRAP_ROOT: '/nonexistent/root' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).exitStatus).toBe(127);
    expect((err as CommandError).outputTail).toContain('root file system /nonexistent/root is missing');
  });

  it.skipIf(bwrapSkip !== undefined)('maps the host /etc by default', async () => {
    const withCache = await buildJqRootfs(await tempDir());
    await run('ldconfig', ['-r', withCache]);
    const hostEtc = await flatwrap({ rootfs: withCache, name: 'jqhost', paths: ['/usr/bin/jq'], outputDir: await tempDir() });
    expect(hostEtc.leftAlone.join('\n')).toMatch(/^\/etc\/ld\.so\.cache: with the host's \/etc/);
    const x = await unsquash(hostEtc.sysext.path, path.join(await tempDir(), 'x'));
    const env = { FLATWRAP_ROOT: path.join(x, 'usr/local/jqhost'), FLATWRAP_SANDBOX: 'bwrap' };
    // /etc/passwd: a plain file (the host's os-release is a symlink into its own /usr, hidden in there).
    const seen = (await run(path.join(x, 'usr/bin/jq'), ['-Rr', '.', '/etc/passwd'], { env })).stdout;
    expect(seen).toBe(await readText('/etc/passwd'));
  });
});

describe('flatwrap failures', () => {
  it('refuses a program that is not in the rootfs', async () => {
    await expect(flatwrap({ rootfs, name: 'x', paths: ['/usr/bin/nope'], outputDir: await tempDir() })).rejects.toThrow(InputError);
  });

  it('refuses a program that is not executable', async () => {
    await expect(flatwrap({ rootfs, name: 'x', paths: ['/etc/os-release'], outputDir: await tempDir() })).rejects.toThrow(/not executable/);
  });

  it('refuses an unknown directory mapping', async () => {
    await expect(flatwrap({ rootfs, name: 'x', paths: ['/usr/bin/jq'], etcMap: 'both' as 'host', outputDir: await tempDir() })).rejects.toThrow(/etcMap must be "host" or "chroot"/);
  });
});
