/**
 * `recipes-dir` as a key of the bake config file (--config): paths relative to the file, kept in
 * order, and the recipes found there reach the bake's recipe stage (a missing
 * `<recipe>-<version>-<arch>.raw` built from a user recipe) and its errors (file:line).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/bake/manifest.js';
import { parseConfig } from '../../src/cli/config-file.js';
import { readJson, runCli } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import { elf, sha256 } from './upstream.js';

describe('recipes-dir in the config file', () => {
  it('is a list of directories relative to the file, in order', () => {
    const config = parseConfig('recipes-dir: [team, /srv/shared-recipes]\n', '/srv/bakes/prod/bake.yaml');
    expect(config.settings).toEqual({ recipesDirs: ['/srv/bakes/prod/team', '/srv/shared-recipes'] });
    expect(parseConfig('recipes-dir: team\n', '/srv/bakes/bake.yaml').settings).toEqual({ recipesDirs: ['/srv/bakes/team'] });
  });

  describe('a bake', () => {
    let served: ServedRelease;
    beforeAll(async () => {
      served = await serveSyntheticRelease();
    });
    afterAll(async () => {
      await served?.close();
    });

    const configLines = (output: string) => [
      `release-server: ${served.server.url}/{channel}`, `releases-json: ${served.server.url}/releases.json`, `signing-key: ${served.server.url}/key.asc`,
      `release: ${served.release.version}`, 'no-cache: true', `output: ${output}`, 'recipes-dir: [team-recipes]',
    ];

    it('builds a missing sysext from a recipe of the file\'s recipes-dir', async () => {
      const dir = path.join(served.dir, 'bakes');
      await mkdir(path.join(dir, 'team-recipes'), { recursive: true });
      // The team's tool, served next to the release (a pinned sha256: it publishes no checksum file).
      const tool = elf('x86-64', 'team tool 1.2.0');
      await writeFile(path.join(served.release.root, 'teamtool-1.2.0-x86_64'), tool);
      await writeFile(path.join(dir, 'team-recipes', 'teamtool.yaml'), [
        'name: teamtool', 'description: the team\'s tool', 'arches: { x86-64: x86_64 }', 'os: _any', 'reload: false',
        "version: { pattern: '^\\d+\\.\\d+\\.\\d+$', example: 1.2.0 }",
        'downloads:', `  - { id: tool, url: '${served.server.url}/teamtool-{version}-{arch}', sha256: ${sha256(tool)} }`,
        'install:', "  - { copy: tool, to: usr/bin/teamtool, mode: '0755' }", '',
      ].join('\n'));
      await writeFile(path.join(dir, 'bake.yaml'), [...configLines('out'), 'sysexts:', '  - teamtool:teamtool-1.2.0-x86-64.raw', ''].join('\n'));
      const r = await runCli(['--config', path.join(dir, 'bake.yaml')], { cwd: served.dir });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain('teamtool-1.2.0-x86-64.raw does not exist: building it from the teamtool recipe');
      const manifest = await readJson<Manifest>(path.join(dir, 'out', 'flatbake-manifest.json'));
      expect(manifest.sysexts).toEqual([expect.objectContaining({ name: 'teamtool' })]);
    });

    it('an invalid recipe there fails the bake with file:line before anything is written', async () => {
      const dir = path.join(served.dir, 'bad');
      await mkdir(path.join(dir, 'team-recipes'), { recursive: true });
      await writeFile(path.join(dir, 'team-recipes', 'broken.yaml'), 'name: broken\ndescription: x\nreload: maybe\n');
      await writeFile(path.join(dir, 'bake.yaml'), [...configLines('out'), 'sysexts:', '  - broken:broken-1.0.0-x86-64.raw', ''].join('\n'));
      const r = await runCli(['--config', path.join(dir, 'bake.yaml')], { cwd: served.dir });
      expect(r.exitCode).toBe(1);
      expect(r.stderr.split('\n')[0]).toBe(`flatbake: error: invalid recipe file ${path.join(dir, 'team-recipes', 'broken.yaml')}:1: the recipe lacks "arches"`);
      await expect(readJson(path.join(dir, 'out', 'flatbake-manifest.json'))).rejects.toThrow(/ENOENT/);
    });
  });
});
