/**
 * A resolved package set as a recipe passes it from resolve() to downloads(): one line per
 * package (`name url checksum`) in a recipe parameter, so the set is also part of the image's cache
 * key (a new package version in the index is a new image). Pure.
 */
import type { RecipeDownload } from '../recipes/recipe.js';

export interface PinnedPackage {
  name: string;
  url: string;
  /**
   * What the signed index says about the file: a SHA-256 in hex (Debian), which the framework
   * checks on download, or another format the recipe checks itself (Alpine's `Q1...`).
   */
  checksum: string;
}

export function encodePinned(packages: readonly PinnedPackage[]): string {
  return packages.map((p) => `${p.name} ${p.url} ${p.checksum}`).join('\n');
}

export function decodePinned(text: string | undefined): PinnedPackage[] {
  if (text === undefined || text === '') throw new Error('no resolved package set (resolve() did not run)');
  return text.split('\n').map((line) => {
    const [name, url, checksum] = line.split(' ');
    if (!name || !url || !checksum) throw new Error(`malformed package line "${line}"`);
    return { name, url, checksum };
  });
}

/** A download id for a package name (ids allow [a-z0-9._-]; Debian names also have +). */
export function packageDownloadId(name: string): string {
  return `pkg-${name.toLowerCase().replace(/\+/g, 'plus').replace(/[^a-z0-9._-]/g, '_')}`;
}

/** The downloads of a pinned set; a SHA-256 checksum is checked by the framework on download. */
export function pinnedDownloads(text: string | undefined): RecipeDownload[] {
  return decodePinned(text).map((p) => ({ id: packageDownloadId(p.name), url: p.url, ...(/^[0-9a-f]{64}$/.test(p.checksum) ? { sha256: p.checksum } : {}) }));
}
