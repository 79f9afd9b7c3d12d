/**
 * The bake builds a missing local sysext FILE named `<recipe>-<version>-<arch>.raw` from the
 * recipe; it finds the recipe through the same resolver as `sysext build` (names and aliases).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planLocalSysexts } from '../../src/bake/local-sysexts.js';
import { InputError } from '../../src/errors.js';
import { findRecipe, getRecipe } from '../../src/recipes/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-local-sysexts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the bake\'s recipe builds of missing local sysexts', () => {
  it('resolves aliases as sysext build does: docker_compose-... is built by docker-compose', async () => {
    expect(findRecipe('docker_compose')).toBe(getRecipe('docker-compose'));
    const file = path.join(dir, 'docker_compose-2.29.7-x86-64.raw');
    const plan = await planLocalSysexts([{ name: 'docker-compose', file }], 'x86-64');
    expect(plan.files).toEqual([]);
    expect(plan.recipes).toEqual([{ name: 'docker-compose', file, fileName: 'docker_compose-2.29.7-x86-64.raw', recipe: 'docker-compose', version: '2.29.7', arch: 'x86-64' }]);
  });

  it('plans a build under the recipe\'s own name too', async () => {
    const plan = await planLocalSysexts([{ name: 'wasmtime', file: path.join(dir, 'wasmtime-24.0.0-x86-64.raw') }], 'x86-64');
    expect(plan.recipes.map((r) => [r.recipe, r.version])).toEqual([['wasmtime', '24.0.0']]);
  });

  it('refuses, before building, a NAME the image would not merge under', async () => {
    const file = path.join(dir, 'docker_compose-2.29.7-x86-64.raw');
    const err = await planLocalSysexts([{ name: 'docker_compose', file }], 'x86-64').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe("docker_compose-2.29.7-x86-64.raw would be built by the docker-compose recipe (docker_compose is its old name), whose image systemd-sysext merges only as 'docker-compose', not 'docker_compose'");
    expect((err as InputError).hint).toBe(`name it docker-compose:${file}`);
  });

  it('leaves an existing file and an unknown recipe name to the file checks', async () => {
    const existing = path.join(dir, 'docker_compose-2.29.6-x86-64.raw');
    await writeFile(existing, 'not an image');
    await expect(planLocalSysexts([{ name: 'docker-compose', file: existing }], 'x86-64')).rejects.toThrow(/is not a filesystem image/);
    await expect(planLocalSysexts([{ name: 'nosuch', file: path.join(dir, 'nosuch-1.0.0-x86-64.raw') }], 'x86-64')).rejects.toThrow(/not found/);
  });

  it('a replay builds its recorded recipe sysexts again even where a file now exists under that name', async () => {
    const existing = path.join(dir, 'docker_compose-2.29.6-x86-64.raw');
    await writeFile(existing, 'not an image');
    const plan = await planLocalSysexts([{ name: 'docker-compose', file: existing }], 'x86-64', new Set(['docker-compose']));
    expect(plan.files).toEqual([]);
    expect(plan.recipes).toEqual([{ name: 'docker-compose', file: existing, fileName: 'docker_compose-2.29.6-x86-64.raw', recipe: 'docker-compose', version: '2.29.6', arch: 'x86-64' }]);
  });
});
