import { createProgress, silentProgress, type ProgressSink } from '../net/progress.js';
import { paint, useColour } from './colour.js';

/**
 * Human-facing output of a run, the one reporter every step uses: one line per stage and
 * warnings on stderr, byte progress through the ProgressSink, and the closing result. stdout
 * stays free for --json. With --quiet only the result is printed (errors are main's).
 */
export interface Reporter {
  step(stage: string, text: string): void;
  warn(text: string): void;
  /** The closing summary: printed with --quiet too. */
  result(lines: readonly string[]): void;
  progress: ProgressSink;
}

export interface ReporterOptions {
  json?: boolean;
  quiet?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
}

export function stderrReporter(options: ReporterOptions = {}): Reporter {
  const out = options.stream ?? process.stderr;
  const result = (lines: readonly string[]) => {
    for (const line of lines) out.write(`${line}\n`);
  };
  if (options.quiet) return { ...quietReporter, result };
  const colour = useColour(out, options.env ?? process.env);
  return {
    step: (stage, text) => out.write(`flatbake: ${stage}: ${text}\n`),
    warn: (text) => out.write(`flatbake: ${paint(colour, 'yellow', 'WARNING')}: ${text}\n`),
    result,
    progress: createProgress({ stream: out, json: options.json, env: options.env }),
  };
}

/** Prints nothing at all: for library callers and tests. */
export const quietReporter: Reporter = {
  step: () => undefined,
  warn: () => undefined,
  result: () => undefined,
  progress: silentProgress,
};
