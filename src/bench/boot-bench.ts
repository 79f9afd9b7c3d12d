/**
 * The boot rows of `npm run bench`: the demo image (the bootable synthetic
 * release with hello baked in) from `flatbake boot` to its verdict, under TCG,
 * and under KVM where it works (a /dev/kvm QEMU cannot use is a row that says why). Standalone: `node dist/bench/boot-bench.js`.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kvmState } from '../boot/kvm.js';
import { MACHINES } from '../boot/qemu.js';
import { defaultCacheDir } from '../cache/cache.js';
import { prepareBootParts } from '../demo/bootable/index.js';
import { buildDisk, computeLayout } from '../demo/synthetic-disk.js';
import { makeSyntheticSysext } from '../demo/synthetic-sysext.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

export interface BootRow {
  accel: 'tcg' | 'kvm';
  /** Set when this accelerator could not run: the row says why instead of a time. */
  unusable?: string;
  /** `flatbake boot` start to exit: overlay, ROOT edit, firmware, kernel, systemd, verdict. */
  wallSeconds: number;
  /** QEMU start to the verdict, as the report gives it. */
  bootSeconds: number;
}

/** Builds the demo image in `work` and boots it once per accelerator. */
export async function benchBoot(work: string, log: (m: string) => void): Promise<BootRow[]> {
  await mkdir(work, { recursive: true });
  const dir = await mkdtemp(path.join(work, 'boot-'));
  try {
    log('boot: the bootable synthetic release (kernel, systemd /usr: built once into the flatbake cache)');
    const boot = await prepareBootParts(defaultCacheDir(process.env), log);
    const base = path.join(dir, 'base.bin');
    const seed = 'flatbake-bench-boot';
    await buildDisk(base, computeLayout('small', seed), await mkdtemp(path.join(dir, 'work-')), {
      version: '4459.2.1', arch: 'x86-64', board: 'amd64-usr', seed, sourceDateEpoch: 1735689600, usrPayloadBytes: 0, buildId: '2025-01-01-0000', boot,
    });
    const hello = await makeSyntheticSysext({ dir, name: 'hello', version: '1.0.0', arch: 'x86-64' });
    await execa(process.execPath, [CLI, '--image', base, '--no-cache', '--output', path.join(dir, 'out'), `hello:${hello.file}`]);
    const image = path.join(dir, 'out', 'flatcar_production_image.bin');
    const rows: BootRow[] = [];
    const kvm = await kvmState('x86-64', MACHINES['x86-64']);
    for (const accel of ['tcg', ...(kvm.usable ? ['kvm'] : [])] as Array<'tcg' | 'kvm'>) {
      log(`boot: flatbake boot --accel ${accel} on the demo image`);
      await execa('sync');
      const start = process.hrtime.bigint();
      const r = await execa(process.execPath, [CLI, 'boot', '--accel', accel, '--json', image], { reject: false });
      const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (r.exitCode !== 0) {
        log(`boot --accel ${accel} failed (${r.exitCode}): ${String(r.stderr).split('\n').slice(-3).join(' | ')}`);
        continue;
      }
      rows.push({ accel, wallSeconds, bootSeconds: (JSON.parse(String(r.stdout)) as { bootSeconds: number }).bootSeconds });
    }
    if (!kvm.usable && kvm.present) rows.push({ accel: 'kvm', wallSeconds: 0, bootSeconds: 0, unusable: kvm.reason });
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function bootTable(rows: BootRow[]): Array<[string, string, string]> {
  return rows.map((r) => {
    const what = `flatbake boot, demo image to verdict (${r.accel})`;
    if (r.unusable) return [what, '-', `KVM present but not usable: ${r.unusable}`];
    return [what, `${r.wallSeconds.toFixed(1)} s`, `QEMU start to verdict ${r.bootSeconds.toFixed(1)} s${r.accel === 'tcg' ? ' (target <= 90 s)' : ''}`];
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const rows = await benchBoot(process.env.FLATBAKE_BENCH_DIR ?? '/var/tmp/flatbake-bench', (m) => process.stderr.write(`bench: ${m}\n`));
  for (const [what, value, note] of bootTable(rows)) process.stdout.write(`  ${what}  ${value}  ${note}\n`);
}
