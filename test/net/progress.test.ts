import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress, endLine, formatBytes, formatEta, formatRate, silentProgress } from '../../src/net/progress.js';
import { formatDuration } from '../../src/util/duration.js';

const MiB = 1024 * 1024;

function fakeStream(isTTY = false): { stream: Writable & { isTTY?: boolean }; text: () => string; lines: () => string[] } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  if (isTTY) {
    // What ora needs from a tty.WriteStream; cursor moves are not asserted on.
    Object.assign(stream, { isTTY: true, columns: 200, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  }
  return { stream, text: () => out, lines: () => out.split('\n').filter(Boolean) };
}

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [1024 * 1023.9, '1023.9 KiB'],
    [1024 * 1023.96, '1.0 MiB'],
    [MiB, '1.0 MiB'],
    [512 * MiB, '512.0 MiB'],
    [8 * 1024 * MiB, '8.0 GiB'],
    [1.25 * 1024 * 1024 * MiB, '1.3 TiB'],
    [-1, '?'],
    [Number.NaN, '?'],
    [Number.POSITIVE_INFINITY, '?'],
  ])('%d -> %s', (n, s) => {
    expect(formatBytes(n)).toBe(s);
  });
});

describe('formatRate', () => {
  it.each([
    [0, '0 B/s'],
    [2.5 * MiB, '2.5 MiB/s'],
    [800 * 1024, '800.0 KiB/s'],
    [undefined, '? B/s'],
    [Number.NaN, '? B/s'],
  ])('%s -> %s', (n, s) => {
    expect(formatRate(n)).toBe(s);
  });
});

describe('formatEta', () => {
  it.each([
    [0, '0s'],
    [0.2, '1s'],
    [59, '59s'],
    [59.5, '1m00s'],
    [60, '1m00s'],
    [187, '3m07s'],
    [3599, '59m59s'],
    [3600, '1h00m'],
    [7500, '2h05m'],
    [undefined, '?'],
    [Number.POSITIVE_INFINITY, '?'],
    [-5, '?'],
  ])('%s -> %s', (n, s) => {
    expect(formatEta(n)).toBe(s);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0.0s', 0],
    [0.04, '0.0s', 0],
    [0.46, '0.5s', 0.5],
    [7.25, '7.3s', 7.3],
    [9.94, '9.9s', 9.9],
    [9.96, '10s', 10],
    [42.4, '42s', 42],
    [187, '3m07s', 187],
    [7500, '2h05m', 7500],
  ])('%s s -> %s', (n, text, seconds) => {
    expect(formatDuration(n)).toEqual({ text, seconds });
  });
});

describe('endLine', () => {
  it('computes the rate from the duration as printed, and prints none for 0.0s', () => {
    // 1.26 s prints as 1.3s: the rate is 13 MiB / 1.3 s = 10.0 MiB/s, not 13 / 1.26.
    expect(endLine('x', 13 * MiB, 1.26)).toBe('x: done, 13.0 MiB in 1.3s (10.0 MiB/s)');
    expect(endLine('x', 4096, 0.01)).toBe('x: done, 4.0 KiB in 0.0s');
  });
});

describe('plain-line progress', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a long task: a start line after a second, figures every 10 s, an end line; nothing with "?"', () => {
    const { stream, lines } = fakeStream();
    const progress = createProgress({ stream, now: Date.now });
    const task = progress.start('image.bin.bz2', 100 * MiB);
    expect(lines()).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(lines()).toEqual(['image.bin.bz2: started, 100.0 MiB']);
    for (let s = 2; s <= 12; s++) {
      vi.advanceTimersByTime(1000);
      task.advance(5 * MiB);
    }
    // One figures line, 10 s after the start line (at 11 s), none per 10 %.
    expect(lines()).toHaveLength(2);
    expect(lines()[1]).toMatch(/^image\.bin\.bz2: 50% 50\.0 MiB of 100\.0 MiB, [45]\.\d MiB\/s, ETA 1\ds$/); // smoothed rate
    vi.advanceTimersByTime(8000);
    task.advance(45 * MiB);
    task.succeed();
    expect(lines()[2]).toBe('image.bin.bz2: done, 100.0 MiB in 20s (5.0 MiB/s)');
    // Nothing after the end.
    task.advance(1);
    task.fail('late');
    vi.advanceTimersByTime(20_000);
    expect(lines()).toHaveLength(3);
    expect(lines().join('\n')).not.toContain('?');
  });

  it('a sub-second task prints its end line only; a small one nothing at all', () => {
    const { stream, lines } = fakeStream();
    const progress = createProgress({ stream, now: Date.now });
    const big = progress.start('big', 8 * MiB);
    const small = progress.start('SHA256SUMS', 182);
    for (let i = 0; i < 8; i++) {
      vi.advanceTimersByTime(50);
      big.advance(MiB);
    }
    small.advance(182);
    small.succeed();
    big.succeed();
    vi.advanceTimersByTime(5000);
    expect(lines()).toEqual(['big: done, 8.0 MiB in 0.4s (20.0 MiB/s)']);
  });

  it('reports output bytes when told them (decompression), and a failure', () => {
    const { stream, lines } = fakeStream();
    const progress = createProgress({ stream, now: Date.now });
    const task = progress.start('decompress');
    task.estimate(0.5);
    vi.advanceTimersByTime(2500);
    task.succeed({ bytes: 600 * MiB });
    expect(lines()).toEqual(['decompress: started', 'decompress: done, 600.0 MiB in 2.5s (240.0 MiB/s)']);
    const failing = progress.start('NAME.conf');
    failing.fail('HTTP 500');
    expect(lines().at(-1)).toBe('NAME.conf: failed: HTTP 500');
  });

  it('does not count resumed bytes as throughput', () => {
    const { stream, lines } = fakeStream();
    const task = createProgress({ stream, now: Date.now }).start('f', 100 * MiB);
    vi.advanceTimersByTime(1000);
    task.update(50 * MiB, 100 * MiB); // resumed from a .part
    for (let s = 0; s < 10; s++) {
      vi.advanceTimersByTime(1000);
      task.advance(MiB);
    }
    expect(lines()[1]).toBe('f: 60% 60.0 MiB of 100.0 MiB, 1.0 MiB/s, ETA 40s');
  });

  it('uses plain lines on a terminal when json is set, and a custom end text', () => {
    const { stream, lines } = fakeStream(true);
    const task = createProgress({ stream, json: true, now: Date.now }).start('x', 10);
    task.succeed('x: cached');
    expect(lines()).toEqual(['x: cached']);
  });
});

describe('live progress on a terminal', () => {
  it('shows one line per active task with percentage, rate and ETA, and a line when each ends', () => {
    vi.useFakeTimers({ now: 0 });
    const { stream, text } = fakeStream(true);
    const progress = createProgress({ stream, now: Date.now, env: { NO_COLOR: '1' } });
    const a = progress.start('a.raw', 4 * MiB);
    const b = progress.start('b.raw', 8 * MiB);
    for (let i = 1; i <= 3; i++) {
      vi.advanceTimersByTime(500); // ora renders its frame on its own timer
      a.advance(MiB / 2);
      b.advance(MiB);
    }
    vi.advanceTimersByTime(100);
    // The spinner frame listed both tasks while they were active, with what is known.
    expect(text()).toMatch(/a\.raw: 37% 1\.5 MiB of 4\.0 MiB, 1\.0 MiB\/s, ETA 3s\n[^\n]*b\.raw: \d+% [0-9.]+ MiB of 8\.0 MiB, 2\.0 MiB\/s, ETA [34]s/);
    vi.setSystemTime(2000);
    a.succeed({ bytes: 4 * MiB });
    expect(text()).toContain('✔ a.raw: done, 4.0 MiB in 2.0s (2.0 MiB/s)');
    b.fail('HTTP 503');
    expect(text()).toContain('✖ b.raw: failed: HTTP 503');
    expect(text().replace(/\u001b\[\??[0-9;]*[a-zA-Z]/g, '')).not.toContain('?');
    // NO_COLOR: no colour codes (ora's cursor movements aside).
    expect(text()).not.toMatch(/\u001b\[3\dm/);
    vi.useRealTimers();
  });

  it('colours the end marks on a terminal without NO_COLOR', () => {
    const { stream, text } = fakeStream(true);
    const task = createProgress({ stream, now: () => 5000, env: {} }).start('c', 2 * MiB);
    task.advance(2 * MiB);
    task.succeed();
    expect(text()).toContain('\u001b[32m✔\u001b[0m c: done');
  });
});

describe('silentProgress', () => {
  it('accepts every call and prints nothing (the quiet reporter and library callers use it)', () => {
    const stderr = vi.spyOn(process.stderr, 'write');
    const stdout = vi.spyOn(process.stdout, 'write');
    try {
      const t = silentProgress.start('x', 10);
      t.advance(5);
      t.update(0, 10);
      t.estimate(0.5);
      t.succeed('done');
      t.fail('failed');
      expect(stderr).not.toHaveBeenCalled();
      expect(stdout).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
    }
  });
});
