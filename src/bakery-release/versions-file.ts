/**
 * The bakery's versions file: one `<recipe>-<version>` per line (e.g. `kubernetes-v1.31.1`,
 * `nvidia-runtime-v1.16.2`, `k3s-v1.31.1+k3s1`), `#` comments, blank lines. Pure: the text and
 * the known recipes go in, entries (or every problem, with its line number) come out.
 */
import { InputError } from '../errors.js';
import type { Recipe } from '../recipes/index.js';

export interface VersionEntry {
  /** The recipe's canonical name (an alias in the file is resolved). */
  recipe: string;
  version: string;
  /** Where it came from: `versions.txt:3`, or `discovered (...)`. */
  origin: string;
}

/** A version starts with a digit or `v` and a digit; `+`, `-`, `~`, `_` and `.` may follow. */
const VERSION = /^v?\d[A-Za-z0-9._+~-]*$/;
/** A whole line: a recipe-looking name, a dash, something version-looking. */
const LINE = /^[A-Za-z0-9][A-Za-z0-9_.-]*-v?\d[A-Za-z0-9._+~-]*$/;

/** Drop a `#` comment: the whole line, or from a `#` that follows whitespace. */
function stripComment(line: string): string {
  const m = /(^|\s)#/.exec(line);
  return (m ? line.slice(0, m.index) : line).trim();
}

interface Candidate {
  recipe: Recipe;
  version: string;
}

/**
 * Which recipe a `<name>-<version>` line names. Names are matched against the known recipes and
 * aliases (longest first), so dashes inside a name (`nvidia-runtime`, `docker-compose`) cannot be
 * mistaken for the start of the version.
 */
function splitLine(line: string, byName: ReadonlyArray<[string, Recipe]>): Candidate | undefined {
  for (const [name, recipe] of byName) {
    if (!line.startsWith(`${name}-`)) continue;
    const version = line.slice(name.length + 1);
    if (VERSION.test(version)) return { recipe, version };
  }
  return undefined;
}

/**
 * Parse a versions file. Every malformed line, unknown recipe, version its recipe does not
 * accept and repeated entry is reported in one InputError, each with its line number.
 */
export function parseVersionsFile(text: string, recipes: readonly Recipe[], source = 'versions file'): VersionEntry[] {
  const byName: Array<[string, Recipe]> = recipes.flatMap((r): Array<[string, Recipe]> => [[r.name, r], ...(r.aliases ?? []).map((a): [string, Recipe] => [a, r])]);
  byName.sort((a, b) => b[0].length - a[0].length);
  const entries: VersionEntry[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const lineNo = index + 1;
    const line = stripComment(raw);
    if (line === '') return;
    const where = `${source} line ${lineNo}`;
    if (!LINE.test(line)) {
      problems.push(`${where}: "${line.slice(0, 80)}" is not <recipe>-<version> (a version starts with a digit or v and a digit, e.g. kubernetes-v1.31.1)`);
      return;
    }
    const found = splitLine(line, byName);
    if (!found) {
      // The name as the file name convention would read it, to say which recipe is unknown.
      const guess = line.slice(0, /-(?=v?\d)/.exec(line)!.index);
      problems.push(`${where}: unknown recipe "${guess}" in "${line}"`);
      return;
    }
    const { recipe, version } = found;
    if (!recipe.versionPattern.test(version)) {
      problems.push(`${where}: "${version}" is not a ${recipe.name} version (e.g. ${recipe.name}-${recipe.versionExample})`);
      return;
    }
    const key = `${recipe.name}-${version}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push(`${where}: ${key} repeats line ${earlier}`);
      return;
    }
    seen.set(key, lineNo);
    entries.push({ recipe: recipe.name, version, origin: `${source}:${lineNo}` });
  });
  if (problems.length > 0) {
    const known = [...new Set(recipes.map((r) => r.name))].join(', ');
    throw new InputError(problems.join('\n'), `one <recipe>-<version> per line, # for comments; known recipes: ${known}`);
  }
  return entries;
}

/** Entries of A, then those of B not already in A (same recipe and version). */
export function mergeVersionEntries(a: readonly VersionEntry[], b: readonly VersionEntry[]): VersionEntry[] {
  const keys = new Set(a.map((e) => `${e.recipe}-${e.version}`));
  return [...a, ...b.filter((e) => !keys.has(`${e.recipe}-${e.version}`))];
}
