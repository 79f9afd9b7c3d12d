/**
 * What a recipe is: a declarative description of one sysext built from upstream release files.
 * A recipe says which files to fetch for a version and architecture (and how to verify them),
 * and where their contents go in the image; the framework (build.ts) does the fetching,
 * verifying, extracting, packing and caching. Pure: no I/O here.
 */
import { InputError } from '../errors.js';
import type { RecipeContext } from './context.js';
import { normalizeArch, type Arch } from '../arch.js';

/** The two architectures Flatcar ships, in systemd's spelling. */
export const ARCHES: readonly Arch[] = ['x86-64', 'arm64'];

/** How a download is unpacked before install() sees it. `none` leaves the file as it is. */
export type ArchiveKind = 'tar.gz' | 'tgz' | 'tar.bz2' | 'tar.xz' | 'tar.zst' | 'zip' | 'none';

/** An upstream-published checksum file that holds the digest of a download. */
export interface ChecksumSource {
  url: string;
  /**
   * `sha256sum`: lines of `<hex>  <name>` (or `<hex> *<name>`), the entry is looked up by name;
   * `bare`: the file's first word is the digest (Kubernetes' `.sha256` files);
   * `github-release`: the GitHub API's JSON of a release, whose assets carry `digest: sha256:<hex>`.
   */
  format: 'sha256sum' | 'bare' | 'github-release';
  /** The name to look up in a `sha256sum` file; default: the last path segment of the download URL. */
  entry?: string;
}

export interface RecipeDownload {
  /** How install() refers to this file (`ctx.file(id)`, `ctx.dir(id)`). */
  id: string;
  url: string;
  /** A digest the recipe knows (pinned). */
  sha256?: string;
  /** A digest the upstream publishes next to the file. */
  checksum?: ChecksumSource;
  /** Default `none`. */
  extract?: ArchiveKind;
}

/** Everything a recipe's functions get to know about the build being asked for. */
export interface RecipeInput {
  version: string;
  arch: Arch;
  /** The upstream's name for `arch` (amd64, x86_64, aarch64, ...). */
  upstreamArch: string;
  variant: string | undefined;
  /** Recipe options as given by the user, defaults filled in. */
  options: Readonly<Record<string, string>>;
  /** Values found by `resolve()` (e.g. the runc version a containerd release pins). */
  params: Readonly<Record<string, string>>;
}

/** Fetch a small text file (through the mirror, if any); used by resolve(). */
export type FetchText = (url: string) => Promise<string>;

/** Fetch a file (through the mirror, if any) into the build's scratch space; resolves to its path. */
export type FetchFile = (url: string) => Promise<string>;

export interface RecipeOption {
  description: string;
  /** Used when the user does not give the option; undefined means "resolve() decides". */
  default?: string;
  /** Accepted values. */
  pattern?: RegExp;
}

export interface Recipe {
  /** The sysext name: `extension-release.NAME`, output `NAME-VERSION-ARCH.raw`. */
  name: string;
  /** Other spellings users know it by (the bakery renamed a few). */
  aliases?: readonly string[];
  description: string;
  /** Architectures offered, each with the upstream's name for it. */
  arches: Readonly<Partial<Record<Arch, string>>>;
  /** extension-release ID=: `_any` or an os-release ID such as `flatcar`. */
  os: string;
  /** EXTENSION_RELOAD_MANAGER=1: the image ships units systemd must see right after merging. */
  reload: boolean;
  /** A version must match this... */
  versionPattern: RegExp;
  /** ...like this example (shown when it does not). */
  versionExample: string;
  /** Named variants (e.g. docker's only-docker); each with a description. */
  variants?: Readonly<Record<string, string>>;
  options?: Readonly<Record<string, RecipeOption>>;
  /** `import.meta.url` of the recipe's module (or its recipe file): its content is part of the build cache key. */
  source: string;
  /** The recipe file of a recipe written as data (`sysext recipes --show` prints it). */
  file?: string;
  /** Versions the recipe is known to handle (documentation: the README's recipe table). */
  knownVersions?: readonly string[];
  /** Look up values the download list depends on (pinned dependency versions, "latest"). */
  resolve?(input: Omit<RecipeInput, 'params'>, fetchText: FetchText, fetchFile: FetchFile): Promise<Record<string, string>>;
  downloads(input: RecipeInput): RecipeDownload[];
  /** Place files into ctx.root (usr/..., opt/...). */
  install(ctx: RecipeContext): Promise<void>;
}

/** Which recipe-owned values are given at build time. */
export interface RecipeRequest {
  version: string;
  arch: string;
  variant?: string;
  options?: Record<string, string>;
}

const DOWNLOAD_ID = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Check a request against what the recipe offers; returns the canonical architecture and the
 * options with defaults filled in. Throws InputError naming what is accepted.
 */
export function validateRequest(recipe: Recipe, request: RecipeRequest, normalizeArch: (a: string) => Arch): { arch: Arch; upstreamArch: string; options: Record<string, string> } {
  const arch = normalizeArch(request.arch);
  const upstreamArch = recipe.arches[arch];
  if (upstreamArch === undefined) {
    const offered = Object.keys(recipe.arches).join(', ');
    throw new InputError(`recipe ${recipe.name} does not offer ${arch}`, `its upstream publishes builds for: ${offered}`);
  }
  if (!recipe.versionPattern.test(request.version)) {
    throw new InputError(`"${request.version}" is not a ${recipe.name} version`, `give the upstream release version, e.g. ${recipe.versionExample}`);
  }
  if (request.variant !== undefined) {
    const variants = Object.keys(recipe.variants ?? {});
    if (!variants.includes(request.variant)) {
      throw new InputError(
        `recipe ${recipe.name} has no variant "${request.variant}"`,
        variants.length > 0 ? `its variants: ${variants.join(', ')}` : `${recipe.name} has no variants`,
      );
    }
  }
  const declared = recipe.options ?? {};
  const options: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.options ?? {})) {
    const spec = declared[key];
    if (!spec) {
      const known = Object.keys(declared);
      throw new InputError(`recipe ${recipe.name} has no option "${key}"`, known.length > 0 ? `its options: ${known.join(', ')}` : `${recipe.name} takes no options`);
    }
    if (spec.pattern && !spec.pattern.test(value)) throw new InputError(`option ${key}="${value}" of recipe ${recipe.name} is not valid`, spec.description);
    options[key] = value;
  }
  for (const [key, spec] of Object.entries(declared)) {
    if (options[key] === undefined && spec.default !== undefined) options[key] = spec.default;
  }
  return { arch, upstreamArch, options };
}

/** Check what a recipe's downloads() returned: ids unique and safe, URLs http(s). */
export function validateDownloads(recipe: Recipe, downloads: readonly RecipeDownload[]): void {
  const seen = new Set<string>();
  for (const d of downloads) {
    // These are programming errors in the recipe, not user errors: plain Error.
    if (!DOWNLOAD_ID.test(d.id) || seen.has(d.id)) throw new Error(`recipe ${recipe.name}: bad or duplicate download id "${d.id}"`);
    seen.add(d.id);
    for (const url of [d.url, d.checksum?.url].filter((u): u is string => u !== undefined)) {
      if (!/^https?:\/\//.test(url)) throw new Error(`recipe ${recipe.name}: download ${d.id} has a non-http URL ${url}`);
    }
    if (d.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(d.sha256)) throw new Error(`recipe ${recipe.name}: download ${d.id} has a malformed sha256`);
  }
}

/** The last path segment of a URL, decoded (`.../v1.2/kubectl` -> `kubectl`). */
export function urlBaseName(url: string): string {
  const pathname = new URL(url).pathname;
  return decodeURIComponent(pathname.slice(pathname.lastIndexOf('/') + 1));
}
