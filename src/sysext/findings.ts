/** One result of a sysext check. `path` is inside the image, without a leading slash. */
export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  rule: string;
  message: string;
  path?: string;
}

export function finding(severity: Severity, rule: string, message: string, path?: string): Finding {
  return path === undefined ? { severity, rule, message } : { severity, rule, message, path };
}
