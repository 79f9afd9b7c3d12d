/**
 * Recipes written as data (YAML files checked against schemas/recipe.schema.json): turn one
 * into a Recipe, the interface TypeScript recipes implement, so the framework builds both the
 * same way. Placeholders ({version}, {arch}, ...) are filled in here; every path goes through
 * the RecipeContext, which keeps destinations under usr/ and opt/. Pure but for install().
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../errors.js';
import type { RecipeContext } from './context.js';
import type { ArchiveKind, Recipe, RecipeDownload, RecipeInput, RecipeOption } from './recipe.js';
import { versionInRange } from './version-range.js';
import type { Arch } from '../arch.js';

/** What a recipe file holds once it passed the schema (see schemas/recipe.schema.json). */
export interface RecipeData {
  name: string;
  aliases?: string[];
  description: string;
  arches: Partial<Record<Arch, string>>;
  os: string;
  reload: boolean;
  version: { pattern: string; example: string; known?: string[] };
  options?: Record<string, { description: string; default?: string; pattern?: string }>;
  vars?: Record<string, Partial<Record<Arch, string>>>;
  downloads: DownloadData[];
  install: StepData[];
}

export interface When {
  version?: string;
  arch?: Arch;
  option?: string;
  no_option?: string;
}

export interface DownloadData {
  id: string;
  url: string;
  extract?: ArchiveKind;
  sha256?: string;
  checksum?: { url: string; format: 'sha256sum' | 'bare' | 'github-release'; entry?: string };
  when?: When;
}

export type StepData = { when?: When } & (
  | { copy: string; to: string; mode?: string; optional?: boolean }
  | { tree: string; to: string }
  | { link: string; to: string; optional?: boolean }
  | { write: string; content: string; mode?: string }
  | { unit: string; content: string }
  | { dropin: string; content: string }
  | { upholds: string; target?: string }
  | { remove: string }
);

/** Placeholder names a recipe may use; option.X and var.X must name a declared option or var. */
export const PLACEHOLDER = /\{(version|version_number|arch|sysext_arch|option\.[a-z][a-z0-9-]*|var\.[a-z][a-z0-9_]*)\}/g;

type Values = Pick<RecipeInput, 'version' | 'arch' | 'upstreamArch' | 'options'>;

/** TEXT with its placeholders filled in for INPUT. */
export function fill(data: RecipeData, text: string, input: Values): string {
  return text.replace(PLACEHOLDER, (_m, key: string) => {
    if (key === 'version') return input.version;
    if (key === 'version_number') return input.version.replace(/^v/, '');
    if (key === 'arch') return input.upstreamArch;
    if (key === 'sysext_arch') return input.arch;
    if (key.startsWith('option.')) return input.options[key.slice(7)] ?? '';
    return data.vars?.[key.slice(4)]?.[input.arch] ?? '';
  });
}

/** Whether a download or step applies to INPUT. */
export function applies(when: When | undefined, input: Values): boolean {
  if (!when) return true;
  if (when.arch !== undefined && when.arch !== input.arch) return false;
  if (when.option !== undefined && !input.options[when.option]) return false;
  if (when.no_option !== undefined && input.options[when.no_option]) return false;
  if (when.version !== undefined && !versionInRange(input.version, when.version)) return false;
  return true;
}

const mode = (m: string | undefined, fallback: number) => (m === undefined ? fallback : parseInt(m, 8));

/** `ID` or `ID:PATH` of copy and tree steps. */
function splitSource(ref: string): { id: string; rel: string | undefined } {
  const colon = ref.indexOf(':');
  return colon < 0 ? { id: ref, rel: undefined } : { id: ref.slice(0, colon), rel: ref.slice(colon + 1) };
}

async function runStep(data: RecipeData, step: StepData, ctx: RecipeContext): Promise<void> {
  const f = (s: string) => fill(data, s, ctx);
  if ('copy' in step) {
    const { id, rel } = splitSource(f(step.copy));
    if (rel === undefined) return ctx.installFile(ctx.file(id), f(step.to), mode(step.mode, 0o644));
    if (step.optional && !(await ctx.source(id, rel).then(() => true, () => false))) return;
    return ctx.installFile(await ctx.source(id, rel), f(step.to), mode(step.mode, 0o644));
  }
  if ('tree' in step) {
    const { id, rel } = splitSource(f(step.tree));
    return ctx.installTree(rel === undefined ? ctx.dir(id) : await ctx.source(id, rel), f(step.to));
  }
  if ('link' in step) {
    const target = f(step.link);
    const to = f(step.to);
    // A relative link must point at something the image holds: the upstream may have dropped it.
    if (!target.startsWith('/')) {
      const pointsAt = path.posix.join(path.posix.dirname(to), target);
      const inImage = /^(usr|opt)\//.test(pointsAt) && (await ctx.exists(pointsAt));
      if (!inImage) {
        if (step.optional) return;
        throw new InputError(`recipe ${data.name}: ${to} would point at ${pointsAt}, which ${ctx.version} does not have`, 'the upstream layout changed for this version, or the version is wrong; the recipe needs an update');
      }
    }
    return ctx.symlink(target, to);
  }
  if ('write' in step) return ctx.writeFile(f(step.write), f(step.content), mode(step.mode, 0o644));
  if ('unit' in step) return ctx.unit(f(step.unit), f(step.content));
  if ('dropin' in step) {
    const [unit, file] = f(step.dropin).split('/') as [string, string];
    return ctx.unitDropIn(unit, file, f(step.content));
  }
  if ('remove' in step) return ctx.remove(f(step.remove));
  return ctx.upholds(step.target ?? 'multi-user.target', f(step.upholds));
}

/** The Recipe a recipe file describes. FILE is where it came from (its content is the cache key). */
export function dataRecipe(data: RecipeData, file: string): Recipe {
  const options: Record<string, RecipeOption> = {};
  for (const [key, o] of Object.entries(data.options ?? {})) {
    options[key] = { description: o.description, default: o.default, pattern: o.pattern === undefined ? undefined : new RegExp(o.pattern) };
  }
  return {
    name: data.name,
    aliases: data.aliases,
    description: data.description,
    arches: data.arches,
    os: data.os,
    reload: data.reload,
    versionPattern: new RegExp(data.version.pattern),
    versionExample: data.version.example,
    knownVersions: data.version.known,
    options,
    source: pathToFileURL(file).href,
    file,
    downloads(input): RecipeDownload[] {
      return data.downloads
        .filter((d) => applies(d.when, input))
        .map((d) => ({
          id: d.id,
          url: fill(data, d.url, input),
          extract: d.extract,
          sha256: d.sha256,
          checksum: d.checksum && { url: fill(data, d.checksum.url, input), format: d.checksum.format, entry: d.checksum.entry && fill(data, d.checksum.entry, input) },
        }));
    },
    async install(ctx) {
      for (const step of data.install) if (applies(step.when, ctx)) await runStep(data, step, ctx);
    },
  };
}
