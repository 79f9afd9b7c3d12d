/**
 * Reading recipe files: YAML, checked against the JSON Schema that ships in schemas/, with every
 * problem reported as FILE:LINE: what is wrong (lines from the YAML parser's node ranges).
 * Synchronous on purpose: the catalogue is a handful of small files, read once per run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import { InputError } from '../errors.js';
import { dataRecipe, PLACEHOLDER, type RecipeData } from './data-recipe.js';
import type { Recipe } from './recipe.js';

/** Shipped next to src/ and dist/: <checkout>/schemas and <checkout>/recipes. */
export const SCHEMA_FILE = fileURLToPath(new URL('../../schemas/recipe.schema.json', import.meta.url));
export const BUILTIN_RECIPE_DIR = fileURLToPath(new URL('../../recipes/', import.meta.url));

export const RECIPE_FILE_EXTENSIONS = ['.yaml', '.yml'];

// ajv is published as CommonJS: its default export arrives as the module object under NodeNext.
const Ajv = (AjvModule as unknown as { default: typeof AjvModule.default }).default;
let validator: ValidateFunction | undefined;

function validate(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addFormat('regex', { validate: (s: string) => isRegex(s) });
    validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);
  }
  return validator;
}

function isRegex(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

/** JSON pointer `/a/0/b` to a path of keys and indexes. */
function pointerPath(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** The 1-based line of the node at PATH (or of its closest existing parent). */
function lineOf(doc: Document, lines: LineCounter, at: Array<string | number>): number {
  for (let n = at.length; n >= 0; n--) {
    const node = doc.getIn(at.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0]).line;
    if (n === 0 && doc.contents?.range) return lines.linePos(doc.contents.range[0]).line;
  }
  return 1;
}

/** One readable sentence per schema error; `if` errors only repeat their `then` branch's. */
function describe(e: ErrorObject): string | undefined {
  const where = e.instancePath === '' ? 'the recipe' : e.instancePath.slice(1).replace(/\//g, '.');
  switch (e.keyword) {
    case 'if':
      return undefined;
    case 'required':
      return `${where} lacks "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'additionalProperties':
      return `${where} has an unknown key "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case 'oneOf':
      return `${where} must have exactly one of copy, tree, link, write, unit, dropin, upholds, remove`;
    case 'enum':
      return `${where} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${where} ${e.message ?? 'is not valid'}`;
  }
}

/** Errors the schema cannot see: unknown placeholders, duplicate ids, steps naming no download. */
function crossChecks(data: RecipeData): Array<{ at: Array<string | number>; what: string }> {
  const problems: Array<{ at: Array<string | number>; what: string }> = [];
  const walk = (value: unknown, at: Array<string | number>) => {
    if (typeof value === 'string') {
      for (const [, key] of value.matchAll(PLACEHOLDER)) {
        if (key!.startsWith('option.') && !data.options?.[key!.slice(7)]) problems.push({ at, what: `{${key}} names no option in "options"` });
        if (key!.startsWith('var.') && !data.vars?.[key!.slice(4)]) problems.push({ at, what: `{${key}} names no entry in "vars"` });
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...at, i]));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...at, k]);
  };
  walk(data, []);
  // One id may name alternatives for different versions or architectures, each with a `when`.
  const ids = new Set<string>();
  data.downloads.forEach((d, i) => {
    const unconditional = data.downloads.some((o, j) => j !== i && o.id === d.id && (!o.when || !d.when));
    if (unconditional && ids.has(d.id)) problems.push({ at: ['downloads', i, 'id'], what: `download id "${d.id}" is used twice (alternatives need a "when" each)` });
    ids.add(d.id);
  });
  data.install.forEach((step, i) => {
    const ref = 'copy' in step ? step.copy : 'tree' in step ? step.tree : undefined;
    const key = 'copy' in step ? 'copy' : 'tree';
    if (ref !== undefined && !ids.has(ref.split(':')[0]!)) problems.push({ at: ['install', i, key], what: `"${ref}" names no download (ids: ${[...ids].join(', ')})` });
    if (key === 'tree' && ref !== undefined) {
      const d = data.downloads.find((x) => x.id === ref.split(':')[0]);
      if (d && (d.extract ?? 'none') === 'none') problems.push({ at: ['install', i, key], what: `download "${d.id}" is not unpacked (set its extract)` });
    }
  });
  for (const [key, o] of Object.entries(data.options ?? {})) {
    if (o.default !== undefined && o.pattern !== undefined && isRegex(o.pattern) && !new RegExp(o.pattern).test(o.default)) problems.push({ at: ['options', key, 'default'], what: `default "${o.default}" does not match the option's pattern` });
  }
  if (isRegex(data.version.pattern) && !new RegExp(data.version.pattern).test(data.version.example)) problems.push({ at: ['version', 'example'], what: `example "${data.version.example}" does not match version.pattern` });
  return problems;
}

/** Parse and check TEXT (the content of FILE); returns the recipe or throws InputError naming file:line. */
export function parseRecipeFile(text: string, file: string): Recipe {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const fail = (problems: Array<{ line: number; what: string }>): never => {
    const sorted = problems.sort((a, b) => a.line - b.line);
    const [first, ...rest] = sorted.map((p) => `${file}:${p.line}: ${p.what}`);
    throw new InputError(`invalid recipe file ${first}${rest.length ? `\n${rest.join('\n')}` : ''}`, 'see `flatbake sysext recipe new <name>` for a commented example, and schemas/recipe.schema.json');
  };
  if (doc.errors.length > 0) fail(doc.errors.map((e) => ({ line: lines.linePos(e.pos[0]).line, what: e.message.split('\n')[0]! })));
  if (!isMap(doc.contents)) fail([{ line: 1, what: 'a recipe file holds a mapping (name:, description:, ...)' }]);
  const data: unknown = doc.toJS();
  const check = validate();
  if (!check(data)) {
    const errors = check.errors ?? [];
    // A step with no or several actions: one sentence, not each branch's complaints.
    const noAction = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
    const seen = new Set<string>();
    const problems = errors.flatMap((e: ErrorObject) => {
      if (e.schemaPath.includes('/oneOf/') || (noAction.has(e.instancePath) && e.keyword !== 'oneOf')) return [];
      const what = describe(e);
      if (what === undefined || seen.has(what)) return [];
      seen.add(what);
      return [{ line: lineOf(doc, lines, pointerPath(e.instancePath)), what }];
    });
    fail(problems);
  }
  const problems = crossChecks(data as RecipeData);
  if (problems.length > 0) fail(problems.map((p) => ({ line: lineOf(doc, lines, p.at), what: p.what })));
  return dataRecipe(data as RecipeData, file);
}

/** Every recipe file in DIR (not recursive), sorted by file name. */
export function loadRecipeDir(dir: string): Recipe[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read the recipe directory ${dir}${code ? ` (${code})` : ''}`, 'give a directory that holds <name>.yaml recipe files');
  }
  const files = names.filter((n) => RECIPE_FILE_EXTENSIONS.includes(path.extname(n))).sort();
  const recipes: Recipe[] = [];
  for (const name of files) {
    const file = path.join(dir, name);
    const recipe = parseRecipeFile(readFileSync(file, 'utf8'), file);
    if (path.basename(name, path.extname(name)) !== recipe.name) {
      throw new InputError(`recipe file ${file} describes "${recipe.name}"`, `name the file ${recipe.name}${path.extname(name)}: one recipe per file, named after it`);
    }
    recipes.push(recipe);
  }
  return recipes;
}
