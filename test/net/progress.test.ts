import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createProgress, formatBytes, formatEta, formatRate, silentProgress } from '../../src/net/progress.js';

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

describe('plain-line progress', () => {
  it('prints a start line, a line per 10 % or 5 s, and an end line', () => {
    const { stream, lines } = fakeStream();
    let now = 0;
    const progress = createProgress({ stream, now: () => now });
    const task = progress.start('image.bin.bz2', 100 * MiB);
    expect(lines()).toEqual(['image.bin.bz2: started, 100.0 MiB']);

    now = 1000;
    task.advance(5 * MiB); // 5 % after 1 s: nothing yet
    expect(lines()).toHaveLength(1);

    now = 2000;
    task.advance(5 * MiB); // 10 %
    expect(lines()[1]).toBe('image.bin.bz2: 10.0 MiB / 100.0 MiB (10%), 5.0 MiB/s, ETA 18s');

    now = 3000;
    task.advance(1 * MiB); // 11 % after 1 s: nothing
    expect(lines()).toHaveLength(2);

    now = 7500;
    task.advance(1 * MiB); // 12 %, but 5.5 s since the last line
    expect(lines()).toHaveLength(3);
    expect(lines()[2]).toMatch(/^image\.bin\.bz2: 12\.0 MiB \/ 100\.0 MiB \(12%\), [0-9.]+ (KiB|MiB)\/s, ETA \d+(m\d\ds|s)$/);

    now = 10_000;
    task.advance(88 * MiB); // 100 %: left to the end line
    expect(lines()).toHaveLength(3);
    task.succeed();
    expect(lines()[3]).toBe('image.bin.bz2: done, 100.0 MiB in 10s (10.0 MiB/s)');

    // Nothing after the end.
    task.advance(1);
    task.fail('late');
    expect(lines()).toHaveLength(4);
  });

  it('reports a failure and works without a total', () => {
    const { stream, lines } = fakeStream();
    let now = 0;
    const task = createProgress({ stream, now: () => now }).start('NAME.conf');
    now = 6000;
    task.advance(3000);
    task.fail('HTTP 500');
    expect(lines()).toEqual(['NAME.conf: started', 'NAME.conf: 2.9 KiB, 500 B/s', 'NAME.conf: failed: HTTP 500']);
  });

  it('does not count resumed bytes as throughput', () => {
    const { stream, lines } = fakeStream();
    let now = 0;
    const task = createProgress({ stream, now: () => now }).start('f', 100 * MiB);
    now = 1000;
    task.update(50 * MiB, 100 * MiB); // resumed from a .part
    now = 2000;
    task.advance(10 * MiB); // 60 %
    expect(lines()[1]).toBe('f: 60.0 MiB / 100.0 MiB (60%), 10.0 MiB/s, ETA 4s');
  });

  it('uses plain lines on a terminal when json is set, and a custom end text', () => {
    const { stream, lines } = fakeStream(true);
    const task = createProgress({ stream, json: true, now: () => 0 }).start('x', 10);
    task.succeed('x: cached');
    expect(lines()).toEqual(['x: started, 10 B', 'x: cached']);
  });
});

describe('spinner progress', () => {
  it('shows active tasks on a terminal and prints a line when each ends', () => {
    const { stream, text } = fakeStream(true);
    let now = 0;
    const progress = createProgress({ stream, now: () => now });
    const a = progress.start('a.raw', 2 * MiB);
    const b = progress.start('b.raw', 4 * MiB);
    now = 1000;
    a.advance(MiB);
    b.advance(MiB);
    a.succeed();
    expect(text()).toContain('✔ a.raw: done, 1.0 MiB in 1s (1.0 MiB/s)');
    b.fail('HTTP 503');
    expect(text()).toContain('✖ b.raw: failed: HTTP 503');
    // The spinner frame listed both tasks while they were active.
    expect(text()).toMatch(/a\.raw: [^\n]+ \/ 2\.0 MiB [^\n]*\n[^\n]*b\.raw: [^\n]+ \/ 4\.0 MiB/);
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
