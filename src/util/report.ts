import { createProgress, silentProgress, type ProgressSink } from '../net/progress.js';

/**
 * Human-facing output of a run: one line per stage and warnings on stderr,
 * byte progress through the ProgressSink. stdout stays free for --json.
 */
export interface Reporter {
  step(stage: string, text: string): void;
  warn(text: string): void;
  progress: ProgressSink;
}

export function stderrReporter(options: { json?: boolean; quiet?: boolean } = {}): Reporter {
  if (options.quiet) return quietReporter;
  const out = process.stderr;
  return {
    step: (stage, text) => out.write(`flatbake: ${stage}: ${text}\n`),
    warn: (text) => out.write(`flatbake: WARNING: ${text}\n`),
    progress: createProgress({ stream: out, json: options.json }),
  };
}

export const quietReporter: Reporter = {
  step: () => undefined,
  warn: () => undefined,
  progress: silentProgress,
};
