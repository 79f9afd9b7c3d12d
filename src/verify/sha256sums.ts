import { InputError } from '../errors.js';

/** Parses `sha256sum` output: `<64 hex>  <name>` (text) or `<64 hex> *<name>` (binary). */
export function parseSha256Sums(text: string, source = 'SHA256SUMS'): Map<string, string> {
  const sums = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const match = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (!match) throw new InputError(`${source} line ${i + 1} is malformed: '${line.slice(0, 80)}'`);
    const name = match[2]!.replace(/^\.\//, '');
    sums.set(name, match[1]!.toLowerCase());
  });
  return sums;
}
