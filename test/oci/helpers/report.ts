import { silentProgress } from '../../../src/net/progress.js';
import type { Reporter } from '../../../src/util/report.js';

/** A Reporter that keeps what it is told, for assertions. */
export function recordingReporter(): Reporter & { steps: string[]; warnings: string[] } {
  const steps: string[] = [];
  const warnings: string[] = [];
  return {
    steps,
    warnings,
    step: (stage, text) => steps.push(`${stage}: ${text}`),
    warn: (text) => warnings.push(text),
    result: () => undefined,
    progress: silentProgress,
  };
}
