/**
 * src/bake/replay.ts without a bake: what --replay reads from a manifest with a recipe-built
 * sysext and a given --oem-sysext, and how it judges a recipe build's inputs and image. The
 * bakes themselves are test/e2e/replay.test.ts's and test/e2e/recipe-dependency.test.ts's.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, type Manifest } from '../../src/bake/manifest.js';
import { checkReplayed, loadReplay, recipeInputCheck, type ReplayExpectations } from '../../src/bake/replay.js';
import { quietReporter, type Reporter } from '../../src/util/report.js';

const sha = (c: string) => c.repeat(64);
const tarball = 'https://github.com/bytecodealliance/wasmtime/releases/download/v25.0.1/wasmtime-v25.0.1-x86_64-linux.tar.xz';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-replay-unit-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A --image bake of one recipe-built wasmtime into qemu_uefi with a given oem-qemu.raw. */
function recipeManifest(): Manifest {
  const fileName = 'wasmtime-v25.0.1-x86-64.raw';
  return buildManifest({
    release: { version: '4459.2.1', channel: 'stable', board: 'amd64-usr', arch: 'x86-64' },
    base: { source: path.join(dir, 'flatcar_production_image.bin'), sha256: sha('a'), size: 1, signature: { verified: false } },
    installTo: 'root:/opt/extensions',
    sysexts: [
      {
        name: 'wasmtime',
        fileName,
        installedTo: `root:/opt/extensions/${fileName}`,
        bootedPath: `/opt/extensions/${fileName}`,
        symlink: '/etc/extensions/wasmtime.raw',
        replaced: false,
        // Asked for as a path that never existed: the bake built it.
        source: path.join(dir, 'gone', fileName),
        sha256: sha('b'),
        size: 4096,
        recipe: { name: 'wasmtime', version: 'v25.0.1', arch: 'x86-64', inputs: [{ url: tarball, sha256: sha('c') }] },
      },
    ],
    vendors: ['qemu_uefi'],
    oemSysexts: [{ id: 'qemu', source: path.join(dir, 'oem-qemu.raw'), sha256: sha('d'), size: 4096 }],
    backend: 'offline',
    outputs: [],
  });
}

function expectations(): ReplayExpectations {
  const m = recipeManifest();
  return { manifest: 'm.json', base: { source: m.base.source, sha256: m.base.sha256 }, sysexts: [{ ...m.sysexts[0]!, recipe: m.sysexts[0]!.recipe! }], oemSysexts: m.oemSysexts! };
}

describe('--replay of a recipe-built sysext and a given OEM sysext', () => {
  it('asks for the recipe build again under its recorded path (gone, as recipe builds are), and gives the --oem-sysext file again', async () => {
    const file = path.join(dir, 'flatbake-manifest.json');
    await writeFile(file, JSON.stringify(recipeManifest()));
    const loaded = await loadReplay(file);
    expect(loaded.sysexts).toEqual([`wasmtime:${path.join(dir, 'gone', 'wasmtime-v25.0.1-x86-64.raw')}`]);
    expect(loaded.settings.oemSysexts).toEqual([path.join(dir, 'oem-qemu.raw')]);
    expect(loaded.settings.image).toBe(path.join(dir, 'flatcar_production_image.bin'));
    expect(loaded.expect.sysexts[0]!.recipe).toEqual(recipeManifest().sysexts[0]!.recipe);
    expect(loaded.expect.oemSysexts).toEqual(recipeManifest().oemSysexts);
  });

  it('holds the recipe inputs to the recorded digests: another digest or another file refuses, the same passes', () => {
    const check = recipeInputCheck(expectations(), 'wasmtime')!;
    expect(() => check([{ url: tarball, sha256: sha('c') }])).not.toThrow();
    expect(() => check([{ url: tarball, sha256: sha('e') }])).toThrow(`--replay: ${tarball}, which the wasmtime recipe fetched for the sysext wasmtime, differs from m.json: sha256 ${sha('e')}, the manifest recorded ${sha('c')}`);
    expect(() => check([])).toThrow(/sha256 \(none\), the manifest recorded c{64}/);
    expect(() => check([{ url: tarball, sha256: sha('c') }, { url: 'https://example.invalid/new-dep.tar.gz', sha256: sha('f') }])).toThrow(/now also https:\/\/example\.invalid\/new-dep\.tar\.gz/);
    expect(recipeInputCheck(expectations(), 'other')).toBeUndefined();
  });

  it('a rebuilt image with another digest is no refusal: it is said (with both digests), and the other inputs are still held', () => {
    const warnings: string[] = [];
    const report: Reporter = { ...quietReporter, warn: (t) => warnings.push(t) };
    const base = { source: expectations().base.source, sha256: sha('a') };
    const gathered = (sha256: string) => ({ toInject: [], describe: new Map([['wasmtime', { source: 'x', sha256, size: 4096 }]]) });
    checkReplayed(expectations(), base, gathered(sha('9')), report);
    expect(warnings).toEqual([
      `--replay: wasmtime-v25.0.1-x86-64.raw rebuilt from the same inputs is not the same image: sha256 ${sha('9')}, the manifest recorded ${sha('b')} (recipe builds are not byte-for-byte reproducible; the new digest is recorded)`,
    ]);
    expect(() => checkReplayed(expectations(), { ...base, sha256: sha('0') }, gathered(sha('b')), report)).toThrow(/the base image .* differs/);
  });
});
