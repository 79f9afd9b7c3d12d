/** Reading release files back the way systemd-sysupdate would, independent of the code that wrote them. */

export type Ini = Record<string, Record<string, string>>;

/** systemd's INI dialect as far as transfers use it: [Section], Key=Value, # and ; comments; a repeated key is an error here. */
export function parseIni(text: string): Ini {
  const out: Ini = {};
  let section: string | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      if (out[section]) throw new Error(`line ${i + 1}: section [${section}] repeated`);
      out[section] = {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || section === undefined) throw new Error(`line ${i + 1}: not Key=Value inside a section: ${line}`);
    if (kv[1]! in out[section]!) throw new Error(`line ${i + 1}: ${kv[1]} repeated`);
    out[section]![kv[1]!] = kv[2]!;
  }
  return out;
}

/**
 * A sysupdate MatchPattern as a regex for ARCH: `%a` is the architecture, `@v` a non-empty
 * version (systemd allows letters, digits and `.,_-+~^`); anything else is literal.
 */
export function patternRegExp(pattern: string, arch: string): RegExp {
  const parts = pattern.split(/(@v|%a)/).map((p) => {
    if (p === '@v') return '([A-Za-z0-9.,_+~^-]+)';
    if (p === '%a') return arch.replace(/[-]/g, '\\-');
    return p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('')}$`);
}

/** The image names of ALL that the pattern selects on ARCH. */
export function matching(pattern: string, arch: string, all: readonly string[]): string[] {
  const re = patternRegExp(pattern, arch);
  return all.filter((n) => re.test(n)).sort();
}
