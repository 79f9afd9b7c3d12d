/**
 * Every recipe, both architectures: built from fake upstreams served over loopback through
 * --mirror, then read back and checked.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache/cache.js';
import { serveStatic, type StaticServer } from '../../src/demo/server.js';
import { buildRecipe, getRecipe, listRecipes } from '../../src/recipes/index.js';
import { quietReporter } from '../../src/util/report.js';
import { FIXTURES as CODE_FIXTURES, recipeOfFixture, type Expectation } from './fixtures.js';
import { BAKERY_FIXTURES } from './fixtures-bakery.js';
import { Upstream } from './upstream.js';
import { verifyImage } from './verify.js';
import { ARCHES, type Arch } from '../../src/arch.js';

const FIXTURES = { ...CODE_FIXTURES, ...BAKERY_FIXTURES };

let work: string;
let upstream: Upstream;
let server: StaticServer;
const expectations = new Map<string, Expectation>();

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'flatbake-recipes-'));
  upstream = new Upstream(path.join(work, 'mirror'));
  for (const [name, fixture] of Object.entries(FIXTURES)) {
    for (const arch of fixture.arches ?? ARCHES) expectations.set(`${name}/${arch}`, await fixture.publish(upstream, arch));
  }
  server = await serveStatic(upstream.root);
});

afterAll(async () => {
  await server?.close();
  await upstream?.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('fixtures', () => {
  it('cover every recipe but those built from source or distribution packages (see keepalived.test.ts, source-builds.test.ts, tilde.test.ts, btop.test.ts)', () => {
    const fromSource = ['bird', 'btop', 'chrony', 'haproxy', 'keepalived', 'tilde'];
    expect([...new Set(Object.keys(FIXTURES).map(recipeOfFixture))].sort()).toEqual(listRecipes().map((r) => r.name).filter((n) => !fromSource.includes(n)).sort());
  });
});

const cases = Object.entries(FIXTURES).flatMap(([key, f]) => (f.arches ?? ARCHES).map((arch) => [key, arch] as [string, Arch]));

describe.each(cases)('recipe %s for %s', (key, arch) => {
  it('builds an image with the upstream files in the bakery layout', async () => {
    const exp = expectations.get(`${key}/${arch}`)!;
    const name = recipeOfFixture(key);
    const outputDir = path.join(work, 'out', key, arch);
    const result = await buildRecipe({ recipe: name, version: exp.version, arch, outputDir, mirror: server.url, cache: new Cache(undefined), report: quietReporter, sourceDateEpoch: 0 });
    const recipe = getRecipe(name);
    expect(path.basename(result.path)).toBe(`${recipe.name}-${exp.version}-${arch}.raw`);
    expect(result.cached).toBe(false);
    // Every input that has a published checksum was verified against it.
    expect(result.inputs.length).toBeGreaterThan(0);
    // Only the final image is left in the output directory.
    expect(await readdir(outputDir)).toEqual([path.basename(result.path)]);
    await verifyImage(result.path, recipe.name, arch, exp);
  });
});
