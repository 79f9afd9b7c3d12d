/**
 * What a person sees of a bake: progress lines in a pipe and live lines on a terminal (a pty
 * from util-linux's `script`), --quiet, and the closing summary. Against the synthetic release
 * on 127.0.0.1; one cache, so the second bake is warm.
 */
import { execa } from 'execa';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/net/progress.js';
import { qemuImgPercent } from '../../src/platforms/formats.js';
import { CLI, readJson, runCli } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import type { Manifest } from '../../src/bake/manifest.js';

const UNIT: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 };
const DONE = /^(?:✔ )?(.+): done, ([0-9.]+) (B|KiB|MiB|GiB) in (?:(\d+\.\d)s|(\d+)s|(\d+)m(\d\d)s)(?: \(([0-9.]+) (B|KiB|MiB|GiB)\/s\))?$/;

/** Every `done` line: its duration has one decimal under 10 s, and its rate is its size over that duration. */
function checkDoneLines(lines: readonly string[]): Map<string, { bytes: number; seconds: number }> {
  const done = new Map<string, { bytes: number; seconds: number }>();
  for (const line of lines) {
    const m = DONE.exec(line);
    if (!m) continue;
    const bytes = Number(m[2]) * UNIT[m[3]!]!;
    const seconds = m[4] !== undefined ? Number(m[4]) : m[5] !== undefined ? Number(m[5]) : Number(m[6]) * 60 + Number(m[7]);
    if (m[5] !== undefined) expect(seconds, line).toBeGreaterThanOrEqual(10);
    if (seconds > 0) {
      expect(m[8], `${line}: a rate`).toBeDefined();
      // The printed size is rounded to 0.1 of its unit: allow that much.
      const rate = Number(m[8]) * UNIT[m[9]!]!;
      const slack = (0.05 * UNIT[m[3]!]!) / seconds + 0.05 * UNIT[m[9]!]!;
      expect(Math.abs(rate - bytes / seconds), line).toBeLessThanOrEqual(slack);
    } else {
      expect(m[8], `${line}: no rate over 0.0s`).toBeUndefined();
    }
    done.set(m[1]!, { bytes, seconds });
  }
  return done;
}

describe('what a bake prints', () => {
  let served: ServedRelease;
  let scratch: string;
  let hello: string;
  let cache: string;
  // qemu_uefi: a vendor whose conversion reports its own progress (no root needed: offline backend).
  const vendors = 'generic,qemu_uefi';
  beforeAll(async () => {
    served = await serveSyntheticRelease({ oemIds: ['qemu'] });
    scratch = await mkdtemp(path.join(served.dir, 'progress-'));
    cache = path.join(scratch, 'cache');
    hello = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
  });
  afterAll(async () => {
    await served?.close();
  });

  const bake = (output: string, extra: string[] = []) => [...served.args({ output: path.join(scratch, output), cacheDir: cache }), '--fetch', '--vendor', vendors, ...extra, `hello:${hello}`];

  it('cold, in a pipe: start and end lines with consistent durations and rates, output bytes of the decompression, no "?"; then the summary', async () => {
    const r = await runCli(bake('cold'));
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(r.stderr).not.toContain('?');
    const done = checkDoneLines(lines);
    const manifest = await readJson<Manifest>(path.join(scratch, 'cold', 'flatbake-manifest.json'));
    const generic = manifest.outputs.find((o) => o.vendor === 'generic')!;
    // The decompression reports what it wrote (the image), not the compressed bytes it read.
    const decompress = [...done.entries()].find(([label]) => label.startsWith('decompress '));
    expect(decompress, r.stderr).toBeDefined();
    expect(formatBytes(decompress![1].bytes)).toBe(formatBytes(generic.size));
    // Percentage lines only for tasks that ran 10 s or more (never for a sub-second one).
    for (const line of lines.filter((l) => /: \d+% /.test(l))) {
      const label = line.slice(0, line.lastIndexOf(': ', line.search(/: \d+% /) + 1));
      expect(done.get(label)?.seconds ?? 0, line).toBeGreaterThanOrEqual(10);
    }
    expect(r.stderr).toMatch(/^qemu_uefi: convert to qcow2 \(compressed\): done|^flatbake: vendor: qemu_uefi: 4 file\(s\) in \d/m);
    // The summary: one line per vendor (its main file, the total size of its files, "+N files" for
    // the others), the manifest, and what to run next.
    const start = lines.findIndex((l) => l.startsWith('flatbake: baked Flatcar'));
    expect(lines[start]).toMatch(new RegExp(`^flatbake: baked Flatcar ${served.release.version} \\(stable\\) x86-64 with hello in \\d`));
    const vendorsWritten = [...new Set(manifest.outputs.map((o) => o.vendor))];
    expect(vendorsWritten).toEqual(vendors.split(','));
    for (const vendor of vendorsWritten) {
      const own = manifest.outputs.filter((o) => o.vendor === vendor);
      let total = 0;
      for (const o of own) total += (await stat(path.join(scratch, 'cold', o.file))).size;
      // The SDK's aliases of a disk (qemu_uefi's two symlinks) are files in --output too, counted with the rest.
      const others = own.length - 1 + own.reduce((n, o) => n + (o.aliases?.length ?? 0), 0);
      const more = others > 0 ? ` {2}\\+${others} files?` : '';
      const names = own.map((o) => o.file.replace(/\./g, '\\.')).join('|');
      const row = new RegExp(`^  (?:${names}) +${formatBytes(total).replace('.', '\\.')}${more}$`);
      expect(lines.slice(start).filter((l) => row.test(l)), `${vendor}: ${row}\n${r.stderr}`).toHaveLength(1);
    }
    expect(lines.slice(start)).toContainEqual(expect.stringMatching(/^ {2}flatbake-manifest\.json +[0-9.]+ KiB$/));
    // Header, a line per vendor, the manifest, and next: with its two commands.
    expect(lines.length - start, r.stderr).toBe(1 + vendorsWritten.length + 1 + 3);
    expect(lines.slice(start)).toContainEqual(expect.stringMatching(/^ {2}flatcar_production_qemu_uefi_image\.img +[0-9.]+ [KMG]iB {2}\+\d+ files$/));
    const image = path.join(scratch, 'cold', 'flatcar_production_image.bin');
    expect(lines.slice(-3)).toEqual(['next:', `  flatbake inspect ${image}`, `  flatbake boot ${image}`]);
  });

  it('warm, in a pipe: at most 25 lines (generic and, as root, qemu_uefi with its eight files)', async () => {
    const r = await runCli(bake('warm'));
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.length, r.stderr).toBeLessThanOrEqual(25);
    expect(r.stderr).not.toContain('?');
    checkDoneLines(lines);
  });

  it('--quiet: the summary only (and errors)', async () => {
    const r = await runCli(bake('quiet', ['--quiet']));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^flatbake: baked Flatcar /);
    expect(lines.filter((l) => !l.startsWith('  ') && l !== 'next:')).toEqual([lines[0]]);
    const bad = await runCli([...bake('quiet-bad', ['--quiet']).slice(0, -1), 'hello:nonexistent.raw']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^flatbake: error: /), expect.stringMatching(/^flatbake: hint: /)]);
  });

  /** A bake on a pty of `cols` columns (0: a pty nobody sized), as `script` records it. */
  async function onTerminal(output: string, cols: number, env: Record<string, string> = {}): Promise<string> {
    const args = bake(output).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const command = `${cols ? `stty cols ${cols} rows 40; ` : 'stty cols 0 rows 0; '}exec '${process.execPath}' '${CLI}' ${args}`;
    const r = await execa('script', ['-qec', command, '/dev/null'], { env: { NO_PROXY: '127.0.0.1', ...env }, reject: false, stdin: 'ignore', timeout: 120_000 });
    expect(r.exitCode, r.stdout).toBe(0);
    return r.stdout;
  }

  it('on a terminal: live lines with the figures known so far, a ✔ line per task, colour unless NO_COLOR', async () => {
    const coloured = await onTerminal('tty-colour', 120, { TERM: 'xterm' });
    // ora redraws the live lines in place: the cursor goes up and the line is cleared.
    expect(coloured).toMatch(/\u001b\[1A|\u001b\[0K/);
    expect(coloured).toMatch(/digest flatcar_production_image\.bin: \d+% [0-9.]+ (B|KiB|MiB) of [0-9.]+ MiB/);
    expect(coloured).toContain('\u001b[32m✔\u001b[0m digest flatcar_production_image.bin: done');
    const plain = await onTerminal('tty-nocolour', 120, { TERM: 'xterm', NO_COLOR: '1' });
    expect(plain).toContain('✔ digest flatcar_production_image.bin: done');
    expect(plain).not.toMatch(/\u001b\[3\dm/);
  }, 240_000);

  it('on a terminal of no known width: plain lines (ora would redraw forever)', async () => {
    const out = await onTerminal('tty-unsized', 0, { TERM: 'xterm' });
    expect(out).not.toMatch(/\u001b\[/);
    expect(out).toMatch(/^flatbake: baked Flatcar /m);
  }, 120_000);
});

describe('qemu-img -p', () => {
  it('reads its percentages, even split across chunks', () => {
    const seen: number[] = [];
    const feed = qemuImgPercent((f) => seen.push(f));
    // What qemu-img 7.2 prints (bytes as `od -c` shows them): spaces, (N/100%), CR.
    feed('    (0.00/100%)\r    (45.');
    feed('67/100%)\r    (100.00/100%)\r\n');
    expect(seen).toEqual([0, 0.4567, 1]);
  });
});
