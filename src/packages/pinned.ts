/**
 * A resolved package set as a recipe passes it from resolve() to downloads(): one line per
 * package (`name url sha256`) in a recipe parameter, so the set is also part of the image's cache
 * key (a new package version in the index is a new image). Pure.
 */
import type { RecipeDownload } from '../recipes/recipe.js';

export interface PinnedPackage {
  name: string;
  url: string;
  /** The digest the signed index gives; the framework checks the download against it. */
  sha256: string;
}

export function encodePinned(packages: readonly PinnedPackage[]): string {
  return packages.map((p) => `${p.name} ${p.url} ${p.sha256}`).join('\n');
}

export function decodePinned(text: string | undefined): PinnedPackage[] {
  if (text === undefined || text === '') throw new Error('no resolved package set (resolve() did not run)');
  return text.split('\n').map((line) => {
    const [name, url, sha256] = line.split(' ');
    if (!name || !url || !sha256) throw new Error(`malformed package line "${line}"`);
    return { name, url, sha256 };
  });
}

/** A download id for a package name (ids allow [a-z0-9._-]; Debian names also have +). */
export function packageDownloadId(name: string): string {
  return `pkg-${name.toLowerCase().replace(/\+/g, 'plus').replace(/[^a-z0-9._-]/g, '_')}`;
}

/** The downloads of a pinned set: each checked against the index's digest. */
export function pinnedDownloads(text: string | undefined): RecipeDownload[] {
  return decodePinned(text).map((p) => ({ id: packageDownloadId(p.name), url: p.url, sha256: p.sha256 }));
}
