/**
 * Colour on stderr: only on a terminal, and never when NO_COLOR is set to anything
 * (https://no-color.org) or TERM is `dumb`.
 */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (stream.isTTY !== true) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

const CODES = { red: 31, green: 32, yellow: 33, bold: 1, dim: 2 } as const;

/** `text` in `colour` when `on`, else unchanged. */
export function paint(on: boolean, colour: keyof typeof CODES, text: string): string {
  return on ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text;
}
