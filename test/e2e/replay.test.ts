/**
 * `flatbake --replay flatbake-manifest.json` against the synthetic release on 127.0.0.1: the
 * same version, sysexts and vendors again, and a refusal once a served input has changed.
 */
import { copyFile, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runCli } from '../helpers/cli.js';
import { serveSyntheticRelease, type ServedRelease } from '../helpers/release.js';
import { schemaErrors } from '../helpers/schemas.js';
import type { Manifest } from '../../src/bake/manifest.js';

describe('flatbake --replay', () => {
  let served: ServedRelease;
  let scratch: string;
  let recorded: string;
  beforeAll(async () => {
    served = await serveSyntheticRelease();
    scratch = await mkdtemp(path.join(served.dir, 'replay-'));
    const hello = path.basename(served.release.sysexts.find((s) => s.name === 'hello')!.file);
    // The recorded bake: a pinned version, --install-to oem, --sysupdate, one bakery sysext.
    const r = await runCli([
      ...served.args({ output: path.join(scratch, 'first'), cacheDir: path.join(scratch, 'cache') }),
      '--quiet', '--fetch', '--sysupdate', '--release', served.release.version, `hello:${hello}`,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    recorded = path.join(scratch, 'first', 'flatbake-manifest.json');
  });
  afterAll(async () => {
    await served?.close();
  });

  it('the manifest records what replay needs, and replay bakes the same version from the same inputs', async () => {
    const first = await readJson<Manifest>(recorded);
    expect(schemaErrors('manifest', first)).toEqual([]);
    expect(first.settings).toEqual({
      releaseServer: `${served.server.url}/{channel}`,
      releasesJson: `${served.server.url}/releases.json`,
      signingKey: `${served.server.url}/key.asc`,
      bakeryUrl: `${served.server.url}/extensions`,
    });
    // Only the manifest and the output dir on the command line: nothing else.
    const output = path.join(scratch, 'again');
    const r = await runCli(['--replay', recorded, '--output', output, '--no-cache']);
    expect(r.exitCode, r.stderr).toBe(0);
    const again = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(schemaErrors('manifest', again)).toEqual([]);
    expect(again.release).toEqual(first.release);
    expect(again.base).toEqual(first.base);
    expect(again.sysexts).toEqual(first.sysexts);
    expect(again.sysupdate).toEqual(first.sysupdate);
    expect(again.vendors).toEqual(first.vendors);
    expect(again.installTo).toBe(first.installTo);
    expect(again.settings).toEqual(first.settings);
  });

  it('refuses when a served input changed: one error line and a hint, exit 1, nothing written', async () => {
    // The bakery now serves other bytes as hello's file, its SHA256SUMS updated to match (so
    // only the manifest can tell): wasmtime's image under hello's name.
    const bakery = path.join(served.release.root, 'extensions');
    const hello = served.release.sysexts.find((s) => s.name === 'hello')!;
    const wasmtime = served.release.sysexts.find((s) => s.name === 'wasmtime')!;
    const helloFile = path.basename(hello.file);
    await copyFile(wasmtime.file, path.join(bakery, helloFile));
    const digest = createHash('sha256').update(await readFile(wasmtime.file)).digest('hex');
    const sums = (await readFile(path.join(bakery, 'SHA256SUMS'), 'utf8')).replace(new RegExp(`^[0-9a-f]{64}(\\s+\\*?${helloFile.replace(/\./g, '\\.')})$`, 'm'), `${digest}$1`);
    await writeFile(path.join(bakery, 'SHA256SUMS'), sums);
    expect(sums).toContain(`${digest}  ${helloFile}`);

    const output = path.join(scratch, 'refused');
    const r = await runCli(['--replay', recorded, '--output', output, '--no-cache']);
    expect(r.exitCode).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.slice(-2)).toEqual([
      `flatbake: error: --replay: the sysext hello (${served.server.url}/extensions/${helloFile}) differs from ${recorded}: sha256 ${digest}, the manifest recorded ${hello.sha256}`,
      expect.stringMatching(/^flatbake: hint: that input changed since the recorded bake; nothing was written/),
    ]);
    expect(await readdir(output).catch(() => [])).toEqual([]);
  });

  it('refuses NAME:FILE arguments and --config beside --replay (usage errors, exit 2)', async () => {
    const r = await runCli(['--replay', recorded, 'x:y.raw']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^flatbake: error: --replay takes the sysexts from the manifest/m);
    const missing = await runCli(['--replay', path.join(scratch, 'nope.json')]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^flatbake: error: --replay .*nope\.json: no such file$/), expect.stringMatching(/^flatbake: hint: /)]);
  });
});

describe('flatbake --replay of a vendor image: its OEM sysext', () => {
  let served: ServedRelease;
  let scratch: string;
  let recorded: string;
  beforeAll(async () => {
    // Two OEM sysexts, both signed by the release's key: gce's stands in for a changed qemu one.
    served = await serveSyntheticRelease({ oemIds: ['qemu', 'gce'], sysexts: [{ name: 'hello', version: '1.0.0', arch: 'x86-64' }] });
    scratch = await mkdtemp(path.join(served.dir, 'replay-oem-'));
    const hello = path.basename(served.release.sysexts[0]!.file);
    const r = await runCli([...served.args({ output: path.join(scratch, 'first') }), '--quiet', '--fetch', '--vendor', 'qemu_uefi', '--release', served.release.version, `hello:${hello}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    recorded = path.join(scratch, 'first', 'flatbake-manifest.json');
  });
  afterAll(async () => {
    await served?.close();
  });

  it('records the fetched oem-qemu.raw (where from, digest, size), and replay fetches it once and bakes', async () => {
    const first = await readJson<Manifest>(recorded);
    expect(schemaErrors('manifest', first)).toEqual([]);
    const qemu = served.release.oemSysexts.find((o) => o.id === 'qemu')!;
    const releaseDir = path.posix.dirname(first.base.source);
    expect(first.oemSysexts).toEqual([{ id: 'qemu', source: `${releaseDir}/oem-qemu.raw`, sha256: qemu.sha256, size: qemu.size }]);

    const before = served.server.requests.length;
    const output = path.join(scratch, 'again');
    const r = await runCli(['--replay', recorded, '--output', output, '--no-cache']);
    expect(r.exitCode, r.stderr).toBe(0);
    const again = await readJson<Manifest>(path.join(output, 'flatbake-manifest.json'));
    expect(schemaErrors('manifest', again)).toEqual([]);
    expect(again.vendors).toEqual(['qemu_uefi']);
    expect(again.oemSysexts).toEqual(first.oemSysexts);
    // The replay's check and the vendor share one download.
    expect(served.server.requests.slice(before).filter((q) => q.method === 'GET' && q.path.endsWith('/oem-qemu.raw'))).toHaveLength(1);
  });

  it('refuses a changed oem-qemu.raw with a good signature before the base image is downloaded: exit 1, nothing written', async () => {
    const qemu = served.release.oemSysexts.find((o) => o.id === 'qemu')!;
    const gce = served.release.oemSysexts.find((o) => o.id === 'gce')!;
    // Other bytes under qemu's name, with their own valid signature by the release's key.
    await copyFile(gce.file, qemu.file);
    await copyFile(gce.signature, qemu.signature);

    const before = served.server.requests.length;
    const output = path.join(scratch, 'refused');
    const r = await runCli(['--replay', recorded, '--output', output, '--no-cache']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/oem-qemu\.raw, signature good/);
    const first = await readJson<Manifest>(recorded);
    expect(r.stderr.trimEnd().split('\n').slice(-2)).toEqual([
      `flatbake: error: --replay: the OEM sysext oem-qemu.raw (${first.oemSysexts![0]!.source}) differs from ${recorded}: sha256 ${gce.sha256}, the manifest recorded ${qemu.sha256}`,
      expect.stringMatching(/^flatbake: hint: that input changed since the recorded bake; nothing was written/),
    ]);
    expect(served.server.requests.slice(before).some((q) => q.path.endsWith('flatcar_production_image.bin.bz2'))).toBe(false);
    expect(await readdir(output).catch(() => [])).toEqual([]);
  });
});
