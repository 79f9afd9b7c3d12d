/**
 * Bench rows of ROOT growth: a 1 GiB sysext set baked into the full-size image with
 * --root-size, cold and warm, against the same set baked without growth (it fits the
 * full-size ROOT of 1.74 GiB) and against writing the set's own bytes with cp. The growth
 * should cost no more than that write, and leave the grown space a hole.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeSyntheticSysext } from '../demo/synthetic-release.js';

/** Four sysexts of 256 MiB: GPU/AI-sized, random so squashfs cannot shrink them. */
const SET = { count: 4, bytes: 256 * 1024 * 1024 };
/** ROOT grown to this (full-size ROOT is 1.74 GiB). */
export const BENCH_ROOT_SIZE = '4G';

export interface RootSizeBench {
  /** Runs flatbake with these extra arguments into `output`, with a cache dir of its own name. */
  bake: (label: string, output: string, cache: string, extra: string[]) => Promise<{ seconds: number }>;
  /** A shell command timed like the bakes. */
  shell: (label: string, command: string) => Promise<{ seconds: number }>;
  best: <T extends { seconds: number }>(runs: number, measure: (run: number) => Promise<T>) => Promise<T>;
  work: string;
  /** Where the set is kept between bench runs. */
  setDir: string;
  baseAllocated: number;
  log: (message: string) => void;
}

async function sysextSet(dir: string, log: (m: string) => void): Promise<string[]> {
  const names = Array.from({ length: SET.count }, (_, i) => `big${i}`);
  const files = names.map((n) => path.join(dir, `${n}-1.0-x86-64.raw`));
  if (files.every((f) => existsSync(f))) return files;
  log(`building a ${(SET.count * SET.bytes) / 2 ** 30} GiB sysext set (${SET.count} x ${SET.bytes / 2 ** 20} MiB random)`);
  for (const name of names) {
    await makeSyntheticSysext({ dir, name, version: '1.0', files: { [`usr/lib/${name}/blob`]: randomBytes(SET.bytes) } });
  }
  return files;
}

export async function rootSizeRows(b: RootSizeBench): Promise<{ rows: Array<[string, string, string]>; json: Record<string, number> }> {
  const files = await sysextSet(b.setDir, b.log);
  const setBytes = (await Promise.all(files.map((f) => stat(f)))).reduce((sum, s) => sum + s.size, 0);
  const args = files.map((f) => `${path.basename(f).split('-')[0]}:${f}`);
  const sizeArg = ['--root-size', BENCH_ROOT_SIZE];
  const clear = (dir: string) => rm(path.join(b.work, dir), { recursive: true, force: true });

  const cold = await b.best(2, async (run) => {
    const t = await b.bake(`cold bake of the 1 GiB set with --root-size ${BENCH_ROOT_SIZE}`, 'big-cold', `cache-big-${run}`, [...sizeArg, ...args]);
    await clear('big-cold');
    if (run === 0) await clear(`cache-big-${run}`);
    return t;
  });
  const warmGrown = await b.best(3, async () => {
    const t = await b.bake(`warm bake of the 1 GiB set with --root-size ${BENCH_ROOT_SIZE}`, 'big-warm', 'cache-big-1', [...sizeArg, ...args]);
    return t;
  });
  const out = path.join(b.work, 'big-warm', 'flatcar_production_image.bin');
  const grownAllocated = (await stat(out)).blocks * 512;
  await clear('big-warm');
  const warmPlain = await b.best(3, async () => {
    const t = await b.bake('warm bake of the 1 GiB set, no growth (it fits the full-size ROOT)', 'big-plain', 'cache-big-1', args);
    await clear('big-plain');
    return t;
  });
  await mkdir(path.join(b.work, 'copy'), { recursive: true });
  const copy = await b.best(3, async () => {
    const t = await b.shell('baseline: cp of the set (its own bytes written once)', `cp ${files.map((f) => `"${f}"`).join(' ')} "${b.work}/copy/" && sync`);
    for (const f of await readdir(path.join(b.work, 'copy'))) await rm(path.join(b.work, 'copy', f));
    return t;
  });
  await clear('cache-big-1');
  const growth = warmGrown.seconds - warmPlain.seconds;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  return {
    rows: [
      [`cold bake, 1 GiB sysext set, --root-size ${BENCH_ROOT_SIZE} (best of 2)`, `${cold.seconds.toFixed(1)} s`, ''],
      [`warm bake, 1 GiB sysext set, --root-size ${BENCH_ROOT_SIZE} (best of 3)`, `${warmGrown.seconds.toFixed(1)} s`, ''],
      ['warm bake, 1 GiB sysext set, no growth (best of 3)', `${warmPlain.seconds.toFixed(1)} s`, ''],
      ['ROOT growth (warm grown minus warm not grown)', `${growth.toFixed(1)} s`, `${(growth / copy.seconds).toFixed(2)}x writing the set's bytes with cp, ${copy.seconds.toFixed(1)} s (target <= 1x)`],
      ['output allocated, grown ROOT', mib(grownAllocated), `${((grownAllocated - b.baseAllocated) / setBytes).toFixed(3)}x the set's ${mib(setBytes)} over the base (target ~1: growth stays a hole)`],
    ],
    json: { bigCold: cold.seconds, bigWarmGrown: warmGrown.seconds, bigWarmPlain: warmPlain.seconds, bigCopy: copy.seconds, bigGrownAllocated: grownAllocated, bigSetBytes: setBytes },
  };
}
