/**
 * `npm run bench`: the bake measured against plain-tool baselines on the same
 * full-size synthetic release (real 8 GiB layout, ~450 MB incompressible data
 * on USR-A), served on 127.0.0.1. Ratios, not absolute times, are the result:
 * every figure comes from the same run on the same machine.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '../demo/server.js';
import { buildSyntheticRelease, type SyntheticRelease } from '../demo/synthetic-release.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
const BENCH_DIR = process.env.FLATBAKE_BENCH_DIR ?? '/var/tmp/flatbake-bench';
const RELEASE_MARKER = 'release.json';

interface Timed {
  seconds: number;
  peakRssBytes?: number;
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Runs a command to completion, timing it and sampling the peak RSS of its main process. */
async function timed(file: string, args: string[], options: { shell?: boolean } = {}): Promise<Timed> {
  const start = process.hrtime.bigint();
  const child = execa(file, args, { stdio: ['ignore', 'ignore', 'pipe'], reject: false, env: { NO_PROXY: '127.0.0.1' }, shell: options.shell });
  let peak = 0;
  const sampler = setInterval(() => {
    void readFile(`/proc/${child.pid}/status`, 'utf8')
      .then((status) => {
        const m = /VmHWM:\s+(\d+) kB/.exec(status);
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      })
      .catch(() => undefined);
  }, 50);
  const result = await child;
  clearInterval(sampler);
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (${result.exitCode}):\n${String(result.stderr).slice(-2000)}`);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssBytes: peak || undefined };
}

async function fullRelease(): Promise<SyntheticRelease> {
  const marker = path.join(BENCH_DIR, RELEASE_MARKER);
  if (existsSync(marker)) {
    const release = JSON.parse(await readFile(marker, 'utf8')) as SyntheticRelease;
    if (existsSync(release.files.imageBz2) && existsSync(release.imagePath)) {
      log(`reusing the full-size release in ${BENCH_DIR} (delete it to rebuild)`);
      return release;
    }
  }
  await rm(BENCH_DIR, { recursive: true, force: true });
  await mkdir(BENCH_DIR, { recursive: true });
  log('building a full-size synthetic release (8 GiB layout, 450 MB random on USR-A); this takes a few minutes once');
  const release = await buildSyntheticRelease({
    root: path.join(BENCH_DIR, 'www'),
    scale: 'full',
    sysexts: [{ name: 'hello', version: '1.0.0', arch: 'x86-64' }],
    onProgress: (m) => log(m),
  });
  await writeFile(marker, JSON.stringify(release));
  return release;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const release = await fullRelease();
  const work = path.join(BENCH_DIR, 'run');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const compressed = release.files.imageBz2;
  const bz2Size = (await stat(compressed)).size;
  log(`image: ${mib(bz2Size)} compressed, ${mib(release.diskBytes)} raw`);

  // Warm the page cache for the compressed file so the first measurement is not penalised.
  await execa('cat', [compressed], { stdout: 'ignore' });

  log('baseline 1: bzip2 -dc to a plain file (what the shell tool does)');
  const plain = await timed('sh', ['-c', `bzip2 -dc "${compressed}" > "${work}/plain.bin"`]);
  await rm(path.join(work, 'plain.bin'));

  log('baseline 2: lbzip2 -dc into a sparse file (the floor)');
  const floor = await timed('sh', ['-c', `lbzip2 -dc "${compressed}" | cp --sparse=always /dev/stdin "${work}/floor.bin"`]);
  const floorAllocated = (await stat(path.join(work, 'floor.bin'))).blocks * 512;
  await rm(path.join(work, 'floor.bin'));

  const server = await serveStatic(release.root);
  try {
    const cacheDir = path.join(work, 'cache');
    const hello = path.basename(release.sysexts[0]!.file);
    const args = (output: string) => [
      CLI, '--fetch', '--release-server', `${server.url}/{channel}`, '--releases-json', `${server.url}/releases.json`,
      '--signing-key', `${server.url}/key.asc`, '--bakery-url', `${server.url}/extensions`,
      '--cache-dir', cacheDir, '--output', output, `hello:${hello}`,
    ];
    log('cold bake (empty cache: download, verify, decompress, inject, digest)');
    const cold = await timed('node', args(path.join(work, 'cold')));
    log('warm bake (same release, cached)');
    const warm = await timed('node', args(path.join(work, 'warm')));
    const output = path.join(work, 'warm', 'flatcar_production_image.bin');
    const outAllocated = (await stat(output)).blocks * 512;
    const baseAllocated = (await stat(release.imagePath)).blocks * 512;

    const rows: Array<[string, string, string]> = [
      ['bzip2 -dc > plain file (shell tool)', `${plain.seconds.toFixed(1)} s`, `${(plain.seconds / floor.seconds).toFixed(2)}x floor`],
      ['lbzip2 -dc | sparse file (floor)', `${floor.seconds.toFixed(1)} s`, '1.00x floor'],
      ['flatbake cold bake', `${cold.seconds.toFixed(1)} s`, `${(cold.seconds / floor.seconds).toFixed(2)}x floor (target <= 1.15x)`],
      ['flatbake warm bake', `${warm.seconds.toFixed(1)} s`, `${((warm.seconds / cold.seconds) * 100).toFixed(1)}% of cold (target < 5%)`],
      ['output allocated size', mib(outAllocated), `${(outAllocated / baseAllocated).toFixed(3)}x base image (target <= 1.05x; floor file ${mib(floorAllocated)})`],
      ['peak RSS of flatbake (cold)', mib(cold.peakRssBytes ?? 0), 'target < 200 MiB'],
      ['peak RSS of flatbake (warm)', mib(warm.peakRssBytes ?? 0), ''],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(`\nflatbake bench (${new Date().toISOString()}, ${(await execa('nproc')).stdout.trim()} cores)\n`);
    for (const [what, value, ratio] of rows) process.stdout.write(`  ${what.padEnd(width)}  ${value.padStart(9)}  ${ratio}\n`);
    process.stdout.write(`\n${JSON.stringify({ plain, floor, cold, warm, outAllocated, baseAllocated, bz2Size })}\n`);
  } finally {
    await server.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
