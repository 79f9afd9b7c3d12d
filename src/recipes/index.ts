/**
 * The recipe registry and the public API of recipes: list them, find one by name, build one.
 */
import path from 'node:path';
import { InputError } from '../errors.js';
import { buildRecipeWith, type BuildRecipeOptions, type BuildRecipeResult } from './build.js';
import { bird } from './catalog/bird.js';
import { btop } from './catalog/btop.js';
import { chrony } from './catalog/chrony.js';
import { containerd } from './catalog/containerd.js';
import { crio } from './catalog/crio.js';
import { docker } from './catalog/docker.js';
import { haproxy } from './catalog/haproxy.js';
import { keepalived } from './catalog/keepalived.js';
import { kubernetes } from './catalog/kubernetes.js';
import { nvidiaRuntime } from './catalog/nvidia-runtime.js';
import { tailscale } from './catalog/tailscale.js';
import { tilde } from './catalog/tilde.js';
import { wasmcloud } from './catalog/wasmcloud.js';
import type { Recipe } from './recipe.js';
import { BUILTIN_RECIPE_DIR, loadRecipeDir } from './recipe-file.js';

export { recipeCacheKey, type BuildRecipeOptions, type BuildRecipeResult } from './build.js';
export { parseRecipeFileName, recipeFileName, type ParsedRecipeFileName } from './names.js';
export type { ArchiveKind, ChecksumSource, Recipe, RecipeDownload, RecipeInput, RecipeOption } from './recipe.js';
export type { RecipeContext } from './context.js';
export { parseRecipeFile, BUILTIN_RECIPE_DIR, SCHEMA_FILE } from './recipe-file.js';

/** The recipes that need code; the others are recipe files in <checkout>/recipes. */
const CODE_RECIPES: readonly Recipe[] = [bird, btop, chrony, containerd, crio, docker, haproxy, keepalived, kubernetes, nvidiaRuntime, tailscale, tilde, wasmcloud];

const byName = (a: Recipe, b: Recipe) => a.name.localeCompare(b.name);
let builtins: readonly Recipe[] | undefined;
let catalog: readonly Recipe[] | undefined;

/** The recipes that ship with flatbake: TypeScript ones and recipe files. */
export function builtinRecipes(): readonly Recipe[] {
  builtins ??= [...CODE_RECIPES, ...loadRecipeDir(BUILTIN_RECIPE_DIR)].sort(byName);
  return builtins;
}

const answersTo = (r: Recipe, name: string) => r.name === name || (r.aliases ?? []).includes(name);

/**
 * Add the recipe files of DIRS (in order; a later one wins) to the catalogue of this run. A user
 * recipe called like a built-in one (or one of its aliases) replaces it, with a notice: a team
 * can carry its own fix of a recipe until flatbake ships it.
 */
export function useRecipeDirs(dirs: readonly string[], notice: (text: string) => void): void {
  let recipes = [...builtinRecipes()];
  for (const dir of dirs) {
    for (const recipe of loadRecipeDir(path.resolve(dir))) {
      const replaced = recipes.filter((r) => answersTo(r, recipe.name) || (recipe.aliases ?? []).some((a) => answersTo(r, a)));
      for (const old of replaced) notice(`recipe ${recipe.name} from ${recipe.file} overrides ${old.file ? `the recipe from ${old.file}` : `the built-in ${old.name}`}`);
      recipes = [...recipes.filter((r) => !replaced.includes(r)), recipe];
    }
  }
  catalog = recipes.sort(byName);
}

/** Every recipe, sorted by name (built-ins plus those of useRecipeDirs()). */
export function listRecipes(): readonly Recipe[] {
  return catalog ?? builtinRecipes();
}

/**
 * The recipe called NAME or answering to it as an alias (`docker_compose` is docker-compose), or
 * undefined: the one resolver for every place a user names a recipe.
 */
export function findRecipe(name: string): Recipe | undefined {
  return listRecipes().find((r) => answersTo(r, name));
}

/** The recipe called NAME (or one of its aliases); InputError listing the known ones otherwise. */
export function getRecipe(name: string): Recipe {
  const found = findRecipe(name);
  if (!found) {
    throw new InputError(`unknown recipe "${name}"`, `known recipes: ${listRecipes().map((r) => r.name).join(', ')} (\`flatbake sysext recipes\` describes them; --recipes-dir adds your own)`);
  }
  return found;
}

export interface BuildRecipeRequest extends Omit<BuildRecipeOptions, 'recipe'> {
  /** A recipe or its name. */
  recipe: Recipe | string;
}

/** Build `<recipe>-<version>-<arch>.raw` in outputDir; see build.ts for the steps. */
export async function buildRecipe(request: BuildRecipeRequest): Promise<BuildRecipeResult> {
  const recipe = typeof request.recipe === 'string' ? getRecipe(request.recipe) : request.recipe;
  return buildRecipeWith({ ...request, recipe });
}
