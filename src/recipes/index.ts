/**
 * The recipe registry and the public API of recipes: list them, find one by name, build one.
 */
import { InputError } from '../errors.js';
import { buildRecipeWith, type BuildRecipeOptions, type BuildRecipeResult } from './build.js';
import { containerd } from './catalog/containerd.js';
import { crio } from './catalog/crio.js';
import { docker } from './catalog/docker.js';
import { dockerCompose } from './catalog/docker-compose.js';
import { falco } from './catalog/falco.js';
import { k3s } from './catalog/k3s.js';
import { keepalived } from './catalog/keepalived.js';
import { kubernetes } from './catalog/kubernetes.js';
import { llamaedge } from './catalog/llamaedge.js';
import { nvidiaRuntime } from './catalog/nvidia-runtime.js';
import { ollama } from './catalog/ollama.js';
import { rke2 } from './catalog/rke2.js';
import { tailscale } from './catalog/tailscale.js';
import { wasmcloud } from './catalog/wasmcloud.js';
import { wasmedge } from './catalog/wasmedge.js';
import { wasmtime } from './catalog/wasmtime.js';
import type { Recipe } from './recipe.js';

export { recipeCacheKey, type BuildRecipeOptions, type BuildRecipeResult } from './build.js';
export { parseRecipeFileName, recipeFileName, type ParsedRecipeFileName } from './names.js';
export type { Arch, ArchiveKind, ChecksumSource, Recipe, RecipeDownload, RecipeInput, RecipeOption } from './recipe.js';
export type { RecipeContext } from './context.js';

const RECIPES: readonly Recipe[] = [
  containerd, crio, docker, dockerCompose, falco, k3s, keepalived, kubernetes,
  llamaedge, nvidiaRuntime, ollama, rke2, tailscale, wasmcloud, wasmedge, wasmtime,
].sort((a, b) => a.name.localeCompare(b.name));

/** Every recipe, sorted by name. */
export function listRecipes(): readonly Recipe[] {
  return RECIPES;
}

/** The recipe called NAME (or one of its aliases); InputError listing the known ones otherwise. */
export function getRecipe(name: string): Recipe {
  const found = RECIPES.find((r) => r.name === name || (r.aliases ?? []).includes(name));
  if (!found) {
    throw new InputError(`unknown recipe "${name}"`, `known recipes: ${RECIPES.map((r) => r.name).join(', ')} (\`flatbake sysext recipes\` describes them)`);
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
