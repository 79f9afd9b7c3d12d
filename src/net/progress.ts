/**
 * Byte progress of the run's long tasks (downloads, decompression, digests, vendor conversions),
 * the one progress display every step uses through its Reporter (src/util/report.ts).
 *
 * On a terminal: one live line per running task (percentage, rate, ETA, as far as known) and a
 * line when each ends. In a pipe or log: a line when a task has been running for a second, one
 * when it ends with its size, duration and rate, and on long tasks a line every 10 s. A task that
 * ends within that second prints its end line only (or nothing, when it moved under 1 MiB: the
 * step line after it says what was fetched). Nothing prints an unknown figure as `?`.
 */
import ora, { type Ora } from 'ora';
import { formatDuration } from '../util/duration.js';
import { paint, useColour } from '../util/colour.js';

/** One unit of work with a byte count (a download, a decompression, a digest, a conversion). */
export interface ProgressTask {
  /** `bytes` more are done. */
  advance(bytes: number): void;
  /**
   * Set the absolute position (and the total, once known). Used when a download resumes from a
   * partial file or has to start over from zero: the jump does not count as throughput.
   */
  update(done: number, total?: number): void;
  /**
   * How far the task is (0..1) when the bytes it reports do not measure that: a decompression
   * reports the bytes it wrote but knows its progress from the input it read.
   */
  estimate(fraction: number): void;
  /** The end: a custom line, or the bytes the task produced when they are not those counted. */
  succeed(end?: string | { bytes: number }): void;
  fail(text?: string): void;
}

export interface TaskOptions {
  /** Leave no line when the task ends within a second, whatever its size (its result is told elsewhere). */
  brief?: boolean;
}

export interface ProgressSink {
  start(label: string, total?: number, options?: TaskOptions): ProgressTask;
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
  /** Environment for NO_COLOR; process.env by default. */
  env?: NodeJS.ProcessEnv;
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
 * Exponentially smoothed speed of a position, so one slow or fast chunk does not make the rate
 * and ETA jump around. Time constant: a few seconds.
 */
class RateMeter {
  private rate: number | undefined;
  private static readonly TAU_MS = 3000;
  private static readonly MIN_SAMPLE_MS = 250;

  constructor(
    private lastTime: number,
    private lastValue: number,
  ) {}

  /** A jump in position that is not throughput (resume, restart). */
  rebase(now: number, value: number): void {
    this.lastTime = now;
    this.lastValue = value;
  }

  sample(now: number, value: number): void {
    const dt = now - this.lastTime;
    if (dt < RateMeter.MIN_SAMPLE_MS) return;
    const instant = ((value - this.lastValue) * 1000) / dt;
    this.rate = this.rate === undefined ? instant : this.rate + (instant - this.rate) * (1 - Math.exp(-dt / RateMeter.TAU_MS));
    this.lastTime = now;
    this.lastValue = value;
  }

  get value(): number | undefined {
    return this.rate;
  }
}

class TaskState {
  done = 0;
  /** Set by estimate(): progress not measured by `done`. */
  fraction: number | undefined;
  readonly bytes: RateMeter;
  readonly progress: RateMeter;
  constructor(
    readonly label: string,
    public total: number | undefined,
    readonly startedAt: number,
  ) {
    this.bytes = new RateMeter(startedAt, 0);
    this.progress = new RateMeter(startedAt, 0);
  }

  /** 0..1, when known. */
  get part(): number | undefined {
    if (this.fraction !== undefined) return this.fraction;
    return this.total !== undefined && this.total > 0 ? Math.min(1, this.done / this.total) : undefined;
  }

  sample(now: number): void {
    this.bytes.sample(now, this.done);
    const part = this.part;
    if (part !== undefined) this.progress.sample(now, part);
  }

  rebase(now: number): void {
    this.bytes.rebase(now, this.done);
    this.progress.rebase(now, this.part ?? 0);
  }
}

/** `label: 40% 3.2 MiB of 8.1 MiB, 8.2 MiB/s, ETA 1s`, leaving out what is not known yet. */
function figures(t: TaskState): string {
  const part = t.part;
  const parts: string[] = [];
  const pct = part === undefined ? '' : `${Math.floor(part * 100)}% `;
  parts.push(t.fraction === undefined && t.total !== undefined && t.total > 0 ? `${pct}${formatBytes(t.done)} of ${formatBytes(t.total)}` : `${pct}${formatBytes(t.done)}`);
  const rate = t.bytes.value;
  if (rate !== undefined && rate > 0) parts.push(formatRate(rate));
  const speed = t.progress.value;
  if (part !== undefined && speed !== undefined && speed > 0) parts.push(`ETA ${formatEta(Math.round(((1 - part) / speed) * 10) / 10)}`); // rounded: 40.0000001 s is 40s
  return `${t.label}: ${parts.join(', ')}`;
}

/** `label: done, 8.1 MiB in 1.2s (6.8 MiB/s)`: the rate is the bytes over the duration as printed. */
export function endLine(label: string, bytes: number, seconds: number): string {
  const duration = formatDuration(seconds);
  const rate = duration.seconds > 0 ? ` (${formatRate(bytes / duration.seconds)})` : '';
  return `${label}: done, ${formatBytes(bytes)} in ${duration.text}${rate}`;
}

/** A task below this size that ends within START_DELAY_MS leaves no line: the step line says it. */
const QUIET_BELOW_BYTES = 1024 * 1024;
/** A task announces its start once it has run this long (a fast one prints its end only). */
const START_DELAY_MS = 1000;
/** In a pipe, a long task prints its figures at most this often. */
const PLAIN_INTERVAL_MS = 10_000;

/** What both displays do with a task: its state, the end text, and whether it is worth a line. */
abstract class Display implements ProgressSink {
  constructor(
    protected readonly stream: NodeJS.WritableStream,
    protected readonly now: () => number,
  ) {}

  protected abstract begin(t: TaskState): void;
  protected abstract moved(t: TaskState): void;
  /** `line` undefined: the task ends without a line. */
  protected abstract end(t: TaskState, line: string | undefined, ok: boolean): void;

  start(label: string, total?: number, options: TaskOptions = {}): ProgressTask {
    const t = new TaskState(label, total, this.now());
    let finished = false;
    this.begin(t);
    return {
      advance: (bytes) => {
        if (finished) return;
        t.done += bytes;
        t.sample(this.now());
        this.moved(t);
      },
      update: (done, newTotal) => {
        if (finished) return;
        t.done = done;
        if (newTotal !== undefined) t.total = newTotal;
        // A jump (resume, restart) is no throughput.
        t.rebase(this.now());
        this.moved(t);
      },
      estimate: (fraction) => {
        if (finished) return;
        t.fraction = Math.max(0, Math.min(1, fraction));
        t.sample(this.now());
        this.moved(t);
      },
      succeed: (endText) => {
        if (finished) return;
        finished = true;
        const now = this.now();
        if (typeof endText === 'string') return this.end(t, endText, true);
        const bytes = endText?.bytes ?? t.done;
        const quick = now - t.startedAt < START_DELAY_MS;
        const silent = quick && (options.brief === true || bytes < QUIET_BELOW_BYTES);
        this.end(t, silent ? undefined : endLine(label, bytes, (now - t.startedAt) / 1000), true);
      },
      fail: (text) => {
        if (finished) return;
        finished = true;
        this.end(t, `${label}: failed${text ? `: ${text}` : ''}`, false);
      },
    };
  }
}

/** Lines for logs and pipes. */
class PlainProgress extends Display {
  private readonly shown = new Map<TaskState, { timer?: NodeJS.Timeout; started: boolean; lastLineAt: number }>();

  private write(line: string): void {
    this.stream.write(`${line}\n`);
  }

  protected begin(t: TaskState): void {
    const state: { timer?: NodeJS.Timeout; started: boolean; lastLineAt: number } = { started: false, lastLineAt: t.startedAt };
    state.timer = setTimeout(() => {
      state.started = true;
      state.lastLineAt = this.now();
      this.write(`${t.label}: started${t.total !== undefined ? `, ${formatBytes(t.total)}` : ''}`);
    }, START_DELAY_MS);
    // A pending announcement never keeps the process alive.
    state.timer.unref();
    this.shown.set(t, state);
  }

  protected moved(t: TaskState): void {
    const state = this.shown.get(t);
    const now = this.now();
    if (!state?.started || now - state.lastLineAt < PLAIN_INTERVAL_MS) return;
    state.lastLineAt = now;
    this.write(figures(t));
  }

  protected end(t: TaskState, line: string | undefined): void {
    clearTimeout(this.shown.get(t)?.timer);
    this.shown.delete(t);
    if (line !== undefined) this.write(line);
  }
}

const SPINNER_TEXT_INTERVAL_MS = 100;

/** On a terminal: one spinner whose text lists every active task, one line each. */
class SpinnerProgress extends Display {
  private readonly active = new Set<TaskState>();
  private spinner: Ora | undefined;
  private lastTextAt = 0;

  constructor(
    stream: NodeJS.WritableStream,
    now: () => number,
    private readonly colour: boolean,
  ) {
    super(stream, now);
  }

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
      this.spinner = ora({ stream: this.stream, text, isEnabled: true, discardStdin: false, color: this.colour ? 'cyan' : false }).start();
    } else {
      this.spinner.text = text;
    }
  }

  protected begin(t: TaskState): void {
    this.active.add(t);
    this.refresh(true);
  }

  protected moved(): void {
    this.refresh(false);
  }

  protected end(t: TaskState, line: string | undefined, ok: boolean): void {
    if (!this.active.delete(t)) return;
    // ora hooks the stream: this write clears the spinner, prints, re-renders.
    if (line !== undefined) this.stream.write(`${ok ? paint(this.colour, 'green', '✔') : paint(this.colour, 'red', '✖')} ${line}\n`);
    this.refresh(true);
  }
}

const noopTask: ProgressTask = {
  advance: () => {},
  update: () => {},
  estimate: () => {},
  succeed: () => {},
  fail: () => {},
};

/** Reports nothing: for --quiet, tests and callers that show their own progress. */
export const silentProgress: ProgressSink = {
  start: () => noopTask,
};

/** Live lines on a terminal, plain lines otherwise (or when `json` is set). */
export function createProgress(options: ProgressOptions = {}): ProgressSink {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  // A terminal of no known width (a pty nobody sized, as under `script`) gets plain lines: ora
  // would divide by its 0 columns and redraw forever.
  const columns = (stream as { columns?: number }).columns ?? 0;
  if (stream.isTTY === true && options.json !== true && columns > 0) return new SpinnerProgress(stream, now, useColour(stream, options.env ?? process.env));
  return new PlainProgress(stream, now);
}
