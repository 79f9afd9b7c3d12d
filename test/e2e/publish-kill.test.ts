/**
 * Publishing is atomic across files: a bake SIGKILLed in the middle of its publish step (after
 * the image is renamed into --output, before the manifest) is finished by the next run, so
 * --output ends with the new image and its own manifest, never the new image without it. The
 * kill comes from a test hook loaded with `node --import` (test/helpers/kill-after-rename.mjs),
 * not from a switch in flatbake.
 */
import { execa } from 'execa';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/bake/manifest.js';
import { reapDeadRuns } from '../../src/util/leftovers.js';
import { CLI, readJson, runCli } from '../helpers/cli.js';
import { coreutilsChunkedSha256 } from '../helpers/disk.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';

const HOOK = fileURLToPath(new URL('../helpers/kill-after-rename.mjs', import.meta.url));

describe('a bake killed in the middle of publishing', () => {
  let served: ServedRelease;
  let args: (output: string) => string[];
  beforeAll(async () => {
    served = await serveSyntheticRelease({ sysexts: [{ name: 'hello', version: '1.0.0', arch: 'x86-64' }] });
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!.file;
    args = (output) => ['--image', served.release.imagePath, '--no-cache', '--output', output, `hello:${hello}`];
  });
  afterAll(async () => {
    await served?.close();
  });

  /** A bake into OUTPUT SIGKILLed right after its first rename into OUTPUT (the image). */
  const killedInPublish = async (output: string) => {
    const r = await execa(process.execPath, ['--import', HOOK, CLI, ...args(output)], {
      reject: false,
      stdin: 'ignore',
      env: { FLATBAKE_TEST_KILL_DIR: output, FLATBAKE_TEST_KILL_AFTER: '1', TMPDIR: served.dir },
    });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    const names = await readdir(output);
    // Killed between the image and the manifest: the work dir holds the journal and the manifest.
    expect(names).toContain('flatcar_production_image.bin');
    expect(names).not.toContain('flatbake-manifest.json');
    const work = names.find((n) => n.startsWith('.flatbake-work-'))!;
    expect((await readdir(path.join(output, work))).sort()).toEqual(expect.arrayContaining(['flatbake-manifest.json', 'publishing.json']));
    return path.join(output, work);
  };

  /** The manifest in OUTPUT describes the image beside it, as coreutils digest it. */
  const consistent = async (output: string, others: string[] = []) => {
    const manifest = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(manifest.outputs.map((o) => o.file)).toEqual(['flatcar_production_image.bin']);
    expect(await coreutilsChunkedSha256(path.join(output, 'flatcar_production_image.bin'))).toBe(manifest.outputs[0]!.chunkedSha256);
    expect((await readdir(output)).sort()).toEqual([...others, 'flatbake-manifest.json', 'flatcar_production_image.bin']);
    return manifest;
  };

  it('the next run finishes the publish: the new image with its own manifest, the old manifest gone', async () => {
    const output = path.join(served.dir, 'out');
    const first = await runCli(args(output));
    expect(first.exitCode, first.stderr).toBe(0);
    const old = await consistent(output);
    const work = await killedInPublish(output);
    const staged = JSON.parse(await readFile(path.join(work, 'flatbake-manifest.json'), 'utf8')) as Manifest;
    expect(staged.outputs[0]!.chunkedSha256).not.toBe(old.outputs[0]!.chunkedSha256);
    // What the next bake does first (it holds the --output lock then), called directly here so
    // the finished set can be read before that bake publishes its own.
    const done = await reapDeadRuns({ output, tmpDir: path.join(served.dir, 'empty-tmp') });
    expect(done[0]).toBe('finished publishing flatcar_production_image.bin, flatbake-manifest.json');
    // The killed run's lock stays until the next bake takes it over.
    expect(await consistent(output, ['.flatbake-lock'])).toEqual(staged);
  });

  it('a bake into that --output finishes it first, says so, then publishes its own', async () => {
    const output = path.join(served.dir, 'out2');
    await mkdir(output);
    await killedInPublish(output);
    const r = await runCli(args(output), { env: { TMPDIR: served.dir } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed what killed runs left: finished publishing flatcar_production_image\.bin, flatbake-manifest\.json, .*\.flatbake-work-/);
    await consistent(output);
  });
});
