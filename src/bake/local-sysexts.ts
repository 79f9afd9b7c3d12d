import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { detectFilesystemKind, FS_MAGIC_PROBE_BYTES, type FilesystemKind } from '../image/fsmagic.js';
import { findRecipe, parseRecipeFileName } from '../recipes/index.js';
import { refuseUsrSbinImage } from '../sysext/check.js';
import { validateRequest } from '../recipes/recipe.js';
import { sha256File } from '../util/hash.js';
import type { SysextArg } from './inputs.js';
import type { Arch } from '../arch.js';

export interface LocalSysext {
  name: string;
  path: string;
  fileName: string;
  size: number;
  sha256: string;
  kind: FilesystemKind;
  /** `NAME.conf` found next to the file. */
  conf?: string;
}

/** Refuses anything that is not a filesystem image a sysext can be, or that ships usr/sbin (it would break the host). */
export async function checkSysextImage(file: string, label: string): Promise<{ size: number; kind: FilesystemKind }> {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new InputError(`sysext file ${file} for '${label}' not found`, 'give an existing file, or use --fetch to download it from the bakery');
  }
  if (!info.isFile()) throw new InputError(`sysext file ${file} for '${label}' is not a regular file`);
  const handle = await open(file, 'r');
  let kind: FilesystemKind | undefined;
  try {
    const head = Buffer.alloc(Math.min(FS_MAGIC_PROBE_BYTES, info.size));
    await handle.read(head, 0, head.length, 0);
    kind = detectFilesystemKind(head);
    if (!kind) {
      throw new InputError(
        `${file} for '${label}' is not a filesystem image (no squashfs, erofs, ext4 or btrfs superblock)`,
        'a sysext is a .raw filesystem image; build one with `flatbake sysext create <dir> <name>`',
      );
    }
  } finally {
    await handle.close();
  }
  await refuseUsrSbinImage(file, label);
  return { size: info.size, kind };
}

/** A FILE that does not exist but names a recipe build: `<recipe>-<version>-<arch>.raw`. */
export interface RecipeSysext {
  name: string;
  /** The path it was asked for as (absolute). */
  file: string;
  fileName: string;
  recipe: string;
  version: string;
  arch: Arch;
}

/**
 * When FILE does not exist, is not --fetch'ed, and reads `<recipe>-<version>-<arch>.raw` for a
 * known recipe (or an alias of one: `docker_compose-2.29.7-x86-64.raw` builds docker-compose), the
 * bake builds it first. The request is checked now (recipe, version pattern,
 * arch offered, arch matching the image), so a bad one fails before anything is touched.
 */
async function recipeFor(arg: SysextArg, imageArch: Arch, rebuild: boolean): Promise<RecipeSysext | undefined> {
  const exists = !rebuild && (await stat(arg.file).then(() => true, () => false));
  if (exists) return undefined;
  const fileName = path.basename(arg.file);
  const parsed = parseRecipeFileName(fileName);
  if (!parsed) return undefined;
  const recipe = findRecipe(parsed.recipe);
  if (!recipe) return undefined;
  if (parsed.arch !== imageArch) {
    throw new InputError(
      `${fileName} is built for ${parsed.arch}, but the image is ${imageArch}`,
      `name ${parsed.recipe}-${parsed.version}-${imageArch}.raw, or pass --arch ${parsed.arch}`,
    );
  }
  // The image's extension-release carries the recipe's name; systemd-sysext merges it only under that name.
  if (arg.name !== recipe.name) {
    const called = parsed.recipe === recipe.name ? '' : ` (${parsed.recipe} is its old name)`;
    throw new InputError(
      `${fileName} would be built by the ${recipe.name} recipe${called}, whose image systemd-sysext merges only as '${recipe.name}', not '${arg.name}'`,
      `name it ${recipe.name}:${arg.file}`,
    );
  }
  validateRequest(recipe, { version: parsed.version, arch: parsed.arch }, (a) => a as Arch);
  return { name: arg.name, file: path.resolve(arg.file), fileName, recipe: recipe.name, version: parsed.version, arch: parsed.arch };
}

/**
 * Splits local NAME:FILE arguments into existing images (checked) and recipe builds (planned).
 * The names in `rebuild` (a replay's recipe builds) are built again even if FILE now exists.
 */
export async function planLocalSysexts(args: readonly SysextArg[], imageArch: Arch, rebuild: ReadonlySet<string> = new Set()): Promise<{ files: LocalSysext[]; recipes: RecipeSysext[] }> {
  const recipes: RecipeSysext[] = [];
  const fileArgs: SysextArg[] = [];
  for (const arg of args) {
    const recipe = await recipeFor(arg, imageArch, rebuild.has(arg.name));
    if (recipe) recipes.push(recipe);
    else fileArgs.push(arg);
  }
  return { files: await inspectLocalSysexts(fileArgs), recipes };
}

/** Checks every local NAME:FILE before anything is touched; finds NAME.conf next to FILE. */
export async function inspectLocalSysexts(args: readonly SysextArg[]): Promise<LocalSysext[]> {
  const result: LocalSysext[] = [];
  for (const arg of args) {
    const file = path.resolve(arg.file);
    const { size, kind } = await checkSysextImage(file, arg.name);
    const confCandidate = path.join(path.dirname(file), `${arg.name}.conf`);
    const conf = await stat(confCandidate).then((s) => (s.isFile() ? confCandidate : undefined), () => undefined);
    result.push({ name: arg.name, path: file, fileName: path.basename(file), size, sha256: await sha256File(file), kind, conf });
  }
  return result;
}
