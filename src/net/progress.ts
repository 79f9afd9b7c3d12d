import ora, { type Ora } from 'ora';

/** One unit of work with a byte count (a download, a decompression). */
export interface ProgressTask {
  /** `bytes` more are done. */
  advance(bytes: number): void;
  /**
   * Set the absolute position (and the total, once known). Used when a
   * download resumes from a partial file or has to start over from zero.
   */
  update(done: number, total?: number): void;
  succeed(text?: string): void;
  fail(text?: string): void;
}

export interface ProgressSink {
  start(label: string, total?: number): ProgressTask;
}

export interface ProgressOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * The run prints a JSON manifest on stdout: keep stderr to plain lines even
   * on a terminal, so a captured log stays readable.
   */
  json?: boolean;
  /** Clock in milliseconds; tests inject one instead of waiting. */
  now?: () => number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 1536 -> "1.5 KiB"; bytes below 1 KiB are exact. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  // Compare the rounded figure so 1023.96 KiB shows as "1.0 MiB", not "1024.0 KiB".
  while (unit < UNITS.length - 1 && Number((value).toFixed(1)) >= 1024) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Bytes per second in the same binary units, e.g. "12.3 MiB/s". */
export function formatRate(bytesPerSecond: number | undefined): string {
  if (bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '? B/s';
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Seconds left: "45s", "3m07s", "2h05m"; "?" when unknown. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Exponentially smoothed throughput, so one slow or fast chunk does not make
 * the rate and ETA jump around. Time constant: a few seconds.
 */
class RateMeter {
  private rate: number | undefined;
  private lastTime: number;
  private lastDone: number;
  private static readonly TAU_MS = 3000;
  private static readonly MIN_SAMPLE_MS = 250;

  constructor(now: number, done: number) {
    this.lastTime = now;
    this.lastDone = done;
  }

  /** A jump in position that is not throughput (resume, restart). */
  rebase(now: number, done: number): void {
    this.lastTime = now;
    this.lastDone = done;
  }

  sample(now: number, done: number): void {
    const dt = now - this.lastTime;
    if (dt < RateMeter.MIN_SAMPLE_MS) return;
    const instant = ((done - this.lastDone) * 1000) / dt;
    this.rate = this.rate === undefined ? instant : this.rate + (instant - this.rate) * (1 - Math.exp(-dt / RateMeter.TAU_MS));
    this.lastTime = now;
    this.lastDone = done;
  }

  get value(): number | undefined {
    return this.rate;
  }
}

interface TaskState {
  label: string;
  done: number;
  total: number | undefined;
  startedAt: number;
  meter: RateMeter;
}

function figures(t: TaskState): string {
  const parts: string[] = [];
  if (t.total !== undefined && t.total > 0) {
    const pct = Math.min(100, Math.floor((t.done * 100) / t.total));
    parts.push(`${formatBytes(t.done)} / ${formatBytes(t.total)} (${pct}%)`);
  } else {
    parts.push(formatBytes(t.done));
  }
  const rate = t.meter.value;
  parts.push(formatRate(rate));
  if (t.total !== undefined) {
    const eta = rate !== undefined && rate > 0 ? Math.max(0, t.total - t.done) / rate : undefined;
    parts.push(`ETA ${formatEta(eta)}`);
  }
  return `${t.label}: ${parts.join(', ')}`;
}

function summary(t: TaskState, now: number): string {
  const seconds = (now - t.startedAt) / 1000;
  const avg = seconds > 0 ? t.done / seconds : undefined;
  return `${t.label}: done, ${formatBytes(t.done)} in ${formatEta(seconds)} (${formatRate(avg)})`;
}

function newState(label: string, total: number | undefined, now: number): TaskState {
  return { label, done: 0, total, startedAt: now, meter: new RateMeter(now, 0) };
}

const PLAIN_INTERVAL_MS = 5000;

/** Lines for logs and pipes: start, then at most one every 5 s or 10 %, then the end. */
class PlainProgress implements ProgressSink {
  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly now: () => number,
  ) {}

  start(label: string, total?: number): ProgressTask {
    const t = newState(label, total, this.now());
    let lastLineAt = t.startedAt;
    let lastDecile = 0;
    let finished = false;
    const write = (line: string): void => {
      this.stream.write(`${line}\n`);
    };
    write(`${label}: started${total !== undefined ? `, ${formatBytes(total)}` : ''}`);
    const decile = (): number => (t.total !== undefined && t.total > 0 ? Math.floor((t.done * 10) / t.total) : 0);
    const maybeReport = (): void => {
      const now = this.now();
      t.meter.sample(now, t.done);
      const d = decile();
      if (now - lastLineAt >= PLAIN_INTERVAL_MS || d > lastDecile) {
        // The 100% mark is left to the final line.
        if (t.total !== undefined && t.done >= t.total && d > lastDecile) {
          lastDecile = d;
          return;
        }
        lastLineAt = now;
        lastDecile = d;
        write(figures(t));
      }
    };
    return {
      advance: (bytes) => {
        if (finished) return;
        t.done += bytes;
        maybeReport();
      },
      update: (done, newTotal) => {
        if (finished) return;
        t.done = done;
        if (newTotal !== undefined) t.total = newTotal;
        t.meter.rebase(this.now(), done);
        // A restart lowers the decile; a resume raises it without new data.
        lastDecile = decile();
      },
      succeed: (text) => {
        if (finished) return;
        finished = true;
        write(text ?? summary(t, this.now()));
      },
      fail: (text) => {
        if (finished) return;
        finished = true;
        write(`${label}: failed${text ? `: ${text}` : ''}`);
      },
    };
  }
}

const SPINNER_TEXT_INTERVAL_MS = 100;

/** On a terminal: one spinner whose text lists every active task, one line each. */
class SpinnerProgress implements ProgressSink {
  private readonly active = new Set<TaskState>();
  private spinner: Ora | undefined;
  private lastTextAt = 0;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly now: () => number,
  ) {}

  private refresh(force: boolean): void {
    const now = this.now();
    if (!force && now - this.lastTextAt < SPINNER_TEXT_INTERVAL_MS) return;
    this.lastTextAt = now;
    if (this.active.size === 0) {
      this.spinner?.stop();
      this.spinner = undefined;
      return;
    }
    const text = [...this.active].map(figures).join('\n');
    if (this.spinner === undefined) {
      // isEnabled: the caller already decided this is a terminal; ora would
      // otherwise go quiet under CI=true. discardStdin: off, so Ctrl-C stays
      // a normal SIGINT for the whole process group.
      this.spinner = ora({ stream: this.stream, text, isEnabled: true, discardStdin: false }).start();
    } else {
      this.spinner.text = text;
    }
  }

  private finish(t: TaskState, line: string): void {
    if (!this.active.delete(t)) return;
    // ora hooks the stream: this write clears the spinner, prints, re-renders.
    this.stream.write(`${line}\n`);
    this.refresh(true);
  }

  start(label: string, total?: number): ProgressTask {
    const t = newState(label, total, this.now());
    this.active.add(t);
    this.refresh(true);
    return {
      advance: (bytes) => {
        if (!this.active.has(t)) return;
        t.done += bytes;
        t.meter.sample(this.now(), t.done);
        this.refresh(false);
      },
      update: (done, newTotal) => {
        if (!this.active.has(t)) return;
        t.done = done;
        if (newTotal !== undefined) t.total = newTotal;
        t.meter.rebase(this.now(), done);
        this.refresh(true);
      },
      succeed: (text) => this.finish(t, `✔ ${text ?? summary(t, this.now())}`),
      fail: (text) => this.finish(t, `✖ ${label}: failed${text ? `: ${text}` : ''}`),
    };
  }
}

const noopTask: ProgressTask = {
  advance: () => {},
  update: () => {},
  succeed: () => {},
  fail: () => {},
};

/** Reports nothing: for tests and for callers that show their own progress. */
export const silentProgress: ProgressSink = {
  start: () => noopTask,
};

/** A spinner on a terminal, plain lines otherwise (or when `json` is set). */
export function createProgress(options: ProgressOptions = {}): ProgressSink {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  if (stream.isTTY === true && options.json !== true) return new SpinnerProgress(stream, now);
  return new PlainProgress(stream, now);
}
