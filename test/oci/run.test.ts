import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { CommandError } from '../../src/errors.js';
import { pullImage } from '../../src/oci/pull.js';
import { runInRootfs, type Sandbox } from '../../src/oci/run.js';
import { buildManifest, pushImage, registryAvailable, startDockerRegistry, type RunningRegistry } from './helpers/registry.js';
import { recordingReporter } from './helpers/report.js';
import { buildTar } from './helpers/tar-writer.js';

const BUSYBOX = '/bin/busybox';
const isRoot = process.getuid?.() === 0;

function has(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A static busybox is needed: the rootfs has no libraries. */
function staticBusybox(): boolean {
  if (!existsSync(BUSYBOX)) return false;
  try {
    execFileSync('ldd', [BUSYBOX], { stdio: 'pipe' });
    return false;
  } catch (err) {
    return String((err as { stdout?: Buffer }).stdout ?? '').includes('not a dynamic') || String((err as { stderr?: Buffer }).stderr ?? '').includes('not a dynamic');
  }
}

const sandboxes: Sandbox[] = [];
if (has('bwrap')) sandboxes.push('bwrap');
if (isRoot && has('unshare') && has('chroot')) sandboxes.push('chroot');
const reason = !registryAvailable
  ? '/usr/bin/docker-registry is missing (apt-get install -y docker-registry)'
  : !staticBusybox()
    ? 'no static /bin/busybox (apt-get install -y busybox-static)'
    : sandboxes.length === 0
      ? 'neither bwrap nor unshare+chroot as root is available'
      : undefined;
if (reason) console.warn(`SKIPPED test/oci/run.test.ts: ${reason}`);

let registry: RunningRegistry;
let work: string;

describe.skipIf(reason !== undefined)('--run inside a pulled busybox rootfs', () => {
  beforeAll(async () => {
    vi.stubEnv('NO_PROXY', '127.0.0.1,localhost');
    vi.stubEnv('FLATBAKE_HOST_ONLY', 'must not leak');
    registry = await startDockerRegistry();
    work = await mkdtemp(join(tmpdir(), 'flatbake-run-'));
    const layer = buildTar([
      { path: 'bin/', type: 'dir' },
      { path: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'etc/', type: 'dir' },
    ]);
    await pushImage(registry.base, 'test/busybox', '1', buildManifest({ arch: 'amd64', layers: [{ tar: layer, compression: 'gzip' }] }));
  });

  afterAll(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });

  it.each(sandboxes)('%s: runs the command as root of the rootfs, streams its output, keeps its changes', async (sandbox) => {
    const dir = join(work, sandbox);
    await pullImage({ ref: `${registry.host}/test/busybox:1`, dir, cache: new Cache(undefined), report: recordingReporter() });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (c: Buffer) => out.push(c));
    stderr.on('data', (c: Buffer) => err.push(c));
    const hadResolv = existsSync('/etc/resolv.conf');

    const result = await runInRootfs(
      dir,
      "echo hi > /made-by-run; echo \"home=$HOME path=$PATH leak=${FLATBAKE_HOST_ONLY:-none}\"; test -r /proc/self/status && echo proc-ok; test -c /dev/null && echo dev-ok; touch /tmp/t && echo tmp-ok; test -f /etc/resolv.conf && echo resolv-ok; echo to-stderr >&2",
      { sandbox, stdout, stderr },
    );
    expect(result).toEqual({ sandbox, exitCode: 0 });
    expect(readFileSync(join(dir, 'made-by-run'), 'utf8')).toBe('hi\n');
    const printed = Buffer.concat(out).toString();
    expect(printed).toContain('home=/root path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin leak=none');
    expect(printed).toContain('proc-ok\ndev-ok\ntmp-ok\n');
    if (hadResolv) expect(printed).toContain('resolv-ok');
    expect(Buffer.concat(err).toString()).toBe('to-stderr\n');
    // /tmp was a tmpfs, and the resolv.conf mount point we made is gone again.
    expect(existsSync(join(dir, 'tmp/t'))).toBe(false);
    expect(existsSync(join(dir, 'etc/resolv.conf'))).toBe(false);
    // No mount of ours is left on the host.
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
  });

  it.each(sandboxes)('%s: a failing command is a CommandError with its status and the tail of its stderr', async (sandbox) => {
    const dir = join(work, sandbox);
    const stderr = new PassThrough();
    stderr.resume();
    const error = await runInRootfs(dir, 'echo "apk: no such package" >&2; exit 3', { sandbox, stdout: new PassThrough(), stderr }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).exitStatus).toBe(3);
    expect((error as CommandError).message).toContain(`exited with status 3`);
    expect((error as CommandError).outputTail).toBe('apk: no such package');
  });

  it('refuses a directory that does not exist', async () => {
    await expect(runInRootfs(join(work, 'nope'), 'true')).rejects.toThrow('no such directory');
  });
});
