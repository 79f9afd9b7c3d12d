import type { Arch } from '../arch.js';
/**
 * Release file names of recipe builds, `<recipe>-<version>-<arch>.raw` as the bakery publishes
 * them. Pure.
 */

/** `<recipe>-<version>-<arch>.raw`. */
export function recipeFileName(recipe: string, version: string, arch: Arch): string {
  return `${recipe}-${version}-${arch}.raw`;
}

export interface ParsedRecipeFileName {
  recipe: string;
  version: string;
  arch: Arch;
}

/**
 * Split `<recipe>-<version>-<arch>.raw`. The architecture is the last `-x86-64` / `-arm64`
 * suffix; the version starts after the first `-` that is followed by a digit or by `v` and a
 * digit (recipe names such as `nvidia-runtime` hold dashes, versions such as `v1.31.1+k3s1`
 * or `2.0.0-rc.1` hold `-` and `+`). Returns undefined for anything else.
 */
export function parseRecipeFileName(fileName: string): ParsedRecipeFileName | undefined {
  const m = /^(.+)-(x86-64|arm64)\.raw$/.exec(fileName);
  if (!m) return undefined;
  const stem = m[1]!;
  const arch = m[2] as Arch;
  const split = /-(?=v?\d)/.exec(stem);
  if (!split || split.index === 0) return undefined;
  const recipe = stem.slice(0, split.index);
  const version = stem.slice(split.index + 1);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(recipe) || !/^[A-Za-z0-9][A-Za-z0-9_.+~-]*$/.test(version)) return undefined;
  return { recipe, version, arch };
}
