import { execa } from 'execa';
import { open, mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic } from '../../src/demo/server.js';
import { CLI, isRoot, needsRoot, runCli } from '../helpers/cli.js';
import { leftovers, rangesEqual, sgdiskPartition } from '../helpers/disk.js';
import { copyTree, serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

/** Flips one byte of a file in place. */
async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await handle.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0xff;
    await handle.write(b, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** The command names (comm) of the live processes whose parent is `pid`, from /proc. */
async function childCommands(pid: number): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    if (close < 0) continue;
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (Number(ppid) === pid && state !== 'Z') names.push(stat.slice(stat.indexOf('(') + 1, close));
  }
  return names.sort();
}

/** A failed run leaves nothing in --output: no result, no manifest, no work dir. */
async function expectNothingWritten(output: string): Promise<void> {
  const entries = await readdir(output).catch(() => [] as string[]);
  expect(entries).toEqual([]);
}

describe('bake failures are clear and change nothing', () => {
  let served: ServedRelease;
  let scratch: string;
  let helloFile: string;
  let n = 0;
  const out = () => path.join(scratch, `out-${++n}`);

  beforeAll(async () => {
    served = await serveSyntheticRelease();
    // The served release's own scratch dir: close() removes it with everything written there.
    scratch = served.dir;
    helloFile = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
  });
  afterAll(async () => {
    await served?.close();
  });

  /** Serves a tampered copy of the release tree. */
  async function tamperedServer(tamper: (root: string) => Promise<void>) {
    const root = path.join(scratch, `tampered-${++n}`);
    await copyTree(served.release.root, root);
    await tamper(root);
    const server = await serveStatic(root);
    const args = [
      '--release-server', `${server.url}/{channel}`,
      '--releases-json', `${server.url}/releases.json`,
      '--signing-key', `${server.url}/key.asc`,
      '--bakery-url', `${server.url}/extensions`,
      '--no-cache', '--retries', '0',
    ];
    return { server, args };
  }
  const rel = (root: string, file: string) => path.join(root, path.relative(served.release.root, file));

  it('refuses a tampered image: bad signature, nothing written', async () => {
    const { server, args } = await tamperedServer((root) => flipByte(rel(root, served.release.files.imageBz2), 4000));
    try {
      const output = out();
      const r = await runCli([...args, '--fetch', '--output', output, `hello:${helloFile}`]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/^flatbake: error: signature check failed for flatcar_production_image\.bin\.bz2/m);
      expect(r.stderr.split('\n').find((l) => l.startsWith('flatbake: error:'))).toBeDefined();
      await expectNothingWritten(output);
    } finally {
      await server.close();
    }
  });

  it('refuses a tampered signature', async () => {
    const { server, args } = await tamperedServer((root) => flipByte(rel(root, served.release.files.imageBz2Signature), 60));
    try {
      const output = out();
      const r = await runCli([...args, '--fetch', '--output', output, `hello:${helloFile}`]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/flatbake: error: signature check failed/);
      await expectNothingWritten(output);
    } finally {
      await server.close();
    }
  });

  it('refuses a release signed by another key', async () => {
    const output = out();
    const r = await runCli([...served.args({ output }), '--signing-key', served.release.wrongKeyFile, '--fetch', `hello:${helloFile}`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/signature check failed for .*not the signing key given/);
    await expectNothingWritten(output);
  });

  it('refuses a sysext whose digest does not match SHA256SUMS', async () => {
    const { server, args } = await tamperedServer((root) => flipByte(path.join(root, 'extensions', helloFile), 100));
    try {
      const output = out();
      const r = await runCli([...args, '--fetch', '--output', output, `hello:${helloFile}`]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/flatbake: error: .*(digest|sha256|SHA-256)/i);
      await expectNothingWritten(output);
    } finally {
      await server.close();
    }
  });

  it('says which sysext is not in the bakery', async () => {
    const output = out();
    const r = await runCli([...served.args({ output }), '--fetch', 'nope:nope-1.0-x86-64.raw']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/nope-1\.0-x86-64\.raw is not listed in the bakery's SHA256SUMS/);
  });

  it('fails clearly on a download truncated on every attempt', async () => {
    const imagePath = `/${path.relative(served.release.root, served.release.files.imageBz2)}`;
    served.server.setFault(imagePath, { kind: 'truncate', bytes: 1000 });
    try {
      const output = out();
      const r = await runCli([...served.args({ output }), '--retries', '1', '--fetch', `hello:${helloFile}`]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/flatbake: error: truncated download of \S*flatcar_production_image\.bin\.bz2/);
      await expectNothingWritten(output);
    } finally {
      served.server.clearFaults();
    }
  });

  it('resumes with a Range request when the server drops the connection mid-body', async () => {
    const imagePath = `/${path.relative(served.release.root, served.release.files.imageBz2)}`;
    served.server.setFault(imagePath, { kind: 'drop-after', bytes: 300_000, times: 1 });
    const before = served.server.requests.length;
    try {
      const output = out();
      const r = await runCli([...served.args({ output }), '--fetch', `hello:${helloFile}`]);
      expect(r.exitCode, r.stderr).toBe(0);
      const imageRequests = served.server.requests.slice(before).filter((q) => q.path === imagePath);
      expect(imageRequests.length).toBe(2);
      expect(imageRequests[1]!.range).toMatch(/^bytes=\d+-$/);
      expect(Number(/bytes=(\d+)-/.exec(imageRequests[1]!.range!)![1])).toBeGreaterThan(0);
      expect(r.stderr).toContain('signatures of the image and version.txt are good');
    } finally {
      served.server.clearFaults();
    }
  });

  it('a download that restarts from zero while being decompressed still yields the right image', async () => {
    const imagePath = `/${path.relative(served.release.root, served.release.files.imageBz2)}`;
    // Drop mid-body, then answer the Range request with the whole file: the .part starts over.
    served.server.setFault(imagePath, { kind: 'drop-after', bytes: 2_000_000, times: 1 }, { kind: 'ignore-range', times: 1 });
    const before = served.server.requests.length;
    try {
      const output = out();
      const r = await runCli([...served.args({ output }), '--fetch', '--json', `hello:${helloFile}`]);
      expect(r.exitCode, r.stderr).toBe(0);
      const imageRequests = served.server.requests.slice(before).filter((q) => q.path === imagePath);
      expect(imageRequests.map((q) => q.fault)).toEqual(['drop-after', 'ignore-range']);
      // Bytes already fed to the decompressor were written again: it starts over from the final file.
      expect(r.stderr).toContain('decompressing the finished file again');
      // Whatever the decompressor had read, the result is the release's image.
      const image = path.join(output, 'flatcar_production_image.bin');
      expect(await rangesEqual(served.release.imagePath, image, 0, (await sgdiskPartition(image, 9)).startByte)).toBe(true);
    } finally {
      served.server.clearFaults();
    }
  });

  it('refuses an image whose GPT header CRC is wrong', async () => {
    const image = path.join(scratch, 'bad-crc.bin');
    await execa('cp', ['--sparse=always', served.release.imagePath, image]);
    await flipByte(image, 512 + 40); // FirstUsableLBA in the primary header, CRC left stale
    const output = out();
    const r = await runCli(['--image', image, '--no-cache', '--output', output, `hello:${served.release.sysexts[0]!.file}`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^flatbake: error: .*CRC/m);
    await expectNothingWritten(output);
  });

  it('refuses an image without a ROOT label', async () => {
    const image = path.join(scratch, 'no-root.bin');
    await execa('cp', ['--sparse=always', served.release.imagePath, image]);
    await execa('sgdisk', ['-c', '9:DATA', image]);
    const output = out();
    const r = await runCli(['--image', image, '--no-cache', '--output', output, `hello:${served.release.sysexts[0]!.file}`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no partition labelled ROOT/);
    await expectNothingWritten(output);
  });

  it('refuses a sysext too large for ROOT before writing anything', async () => {
    const big = path.join(scratch, 'big.raw');
    await truncate(big, 0).catch(() => undefined);
    await writeFile(big, '');
    await truncate(big, 200 * 1024 * 1024);
    // A sysext systemd-sysext would merge (ID=_any), so that only its size is wrong.
    const tree = path.join(scratch, 'big-tree');
    await mkdir(path.join(tree, 'usr/lib/extension-release.d'), { recursive: true });
    await writeFile(path.join(tree, 'usr/lib/extension-release.d/extension-release.big'), 'ID=_any\n');
    await execa('mkfs.ext4', ['-q', '-F', '-d', tree, big]);
    const output = out();
    const r = await runCli(['--image', served.release.imagePath, '--no-cache', '--output', output, `big:${big}`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not enough space on ROOT/);
    await expectNothingWritten(output);
    expect(await leftovers(output)).toEqual({ loops: [], mounts: [] });
  });

  it.each([
    [['../x:file.raw'], /bad sysext name '\.\.\/x'/],
    [['a:1.raw', 'a:2.raw'], /sysext name 'a' is given twice/],
    [['--fetch', 'x:../../etc/passwd'], /bad file name '\.\.\/\.\.\/etc\/passwd' for --fetch/],
    [['--fetch', 'x:/etc/passwd'], /bad file name/],
    [['--vendor', 'nosuchcloud', 'x:y.raw'], /unknown vendor 'nosuchcloud'/],
    [['--arch', 'mips', 'x:y.raw'], /unknown architecture 'mips'/],
    [['--release', 'current', 'x:y.raw'], /unknown release 'current'/],
    [['--install-to', 'usr:/x', 'x:y.raw'], /unsupported partition 'usr'/],
    [['--install-to', 'root:/opt/../etc', 'x:y.raw'], /contains '\.' or '\.\.'/],
    [['noname'], /'noname' is not a command, nor a sysext NAME:FILE/],
  ])('usage error for %j: exit 2, one clear line, no request made', async (args, message) => {
    const before = served.server.requests.length;
    const output = out();
    const r = await runCli([...served.args({ output }), ...args]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(served.server.requests.length).toBe(before);
    await expectNothingWritten(output);
  });

  it('refuses missing files and files that are not filesystem images before any download', async () => {
    const before = served.server.requests.length;
    const notImage = path.join(scratch, 'script.raw');
    await writeFile(notImage, '#!/bin/sh\necho not an image\n');
    const r1 = await runCli([...served.args({ output: out() }), `x:${path.join(scratch, 'missing.raw')}`]);
    expect(r1.exitCode).toBe(1);
    expect(r1.stderr.split('\n')[0]).toMatch(/sysext file .*missing\.raw for 'x' not found/);
    const r2 = await runCli([...served.args({ output: out() }), `x:${notImage}`]);
    expect(r2.exitCode).toBe(1);
    expect(r2.stderr.split('\n')[0]).toMatch(/is not a filesystem image/);
    expect(served.server.requests.length).toBe(before);
  });

  it('a run killed while decompressing leaves no decompressor, dd, partial image, FIFO or output', async () => {
    const imagePath = `/${path.relative(served.release.root, served.release.files.imageBz2)}`;
    // The download drops after 1 MB and backs off before resuming: the decompressor has been fed
    // and waits for more while we interrupt.
    served.server.setFault(imagePath, { kind: 'drop-after', bytes: 1_000_000, times: 1 });
    const output = out();
    const cacheDir = path.join(scratch, 'cache-killed');
    try {
      const child = execa(process.execPath, [CLI, ...served.args({ cacheDir, output }), '--fetch', `hello:${helloFile}`], { reject: false, env: { NO_PROXY: '127.0.0.1' } });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const deadline = Date.now() + 30_000;
      let children: string[] = [];
      while (Date.now() < deadline) {
        children = await childCommands(child.pid!);
        if (/while it downloads[^\n]*: started/.test(stderr) && children.some((c) => /bzip2/.test(c)) && children.includes('dd')) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(children, stderr).toEqual(expect.arrayContaining(['dd', expect.stringMatching(/bzip2/)]));
      child.kill('SIGTERM');
      const result = await child;
      expect(result.exitCode, stderr).toBe(143);
      expect(await childCommands(child.pid!)).toEqual([]);
      // The download's .part may stay (the next run resumes it); nothing decompressed does.
      const downloads = await readdir(path.join(cacheDir, 'downloads')).catch(() => [] as string[]);
      expect(downloads.filter((f) => !f.endsWith('.part'))).toEqual([]);
      await expectNothingWritten(output);
    } finally {
      served.server.clearFaults();
    }
  });

  it.skipIf(!isRoot)(`a run killed while partitions are mounted leaves no loop device, mount, work dir or output${needsRoot('for the mount backend (losetup and mount)')}`, async () => {
    const output = out();
    await mkdir(output, { recursive: true });
    // The mount backend writes into the mounted ROOT with install(1): an install found first on
    // PATH that waits a minute before running the real one holds the bake there for us (its sleep
    // dies with it, as flatbake's children die with flatbake).
    const shims = path.join(scratch, 'slow-install');
    await mkdir(shims, { recursive: true });
    const realInstall = (await execa('sh', ['-c', 'command -v install'])).stdout.trim();
    await writeFile(path.join(shims, 'install'), `#!/bin/sh\nsetpriv --pdeathsig KILL sleep 60\nexec ${realInstall} "$@"\n`, { mode: 0o755 });
    const child = execa(process.execPath, [CLI, '--backend', 'mount', '--image', served.release.imagePath, '--no-cache', '--output', output, `hello:${served.release.sysexts[0]!.file}`], {
      env: { PATH: `${shims}:${process.env.PATH}` },
      reject: false,
    });
    // Wait until ROOT is mounted from the work dir's image, then interrupt.
    const deadline = Date.now() + 60_000;
    let mounted = false;
    while (Date.now() < deadline) {
      const { loops } = await leftovers(output);
      const mounts = (await execa('cat', ['/proc/mounts'])).stdout;
      if (loops.length > 0 && mounts.includes('flatbake-mnt-root-')) {
        mounted = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(mounted).toBe(true);
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(143);
    expect(await leftovers(output)).toEqual({ loops: [], mounts: [] });
    await expectNothingWritten(output);
  });
});
