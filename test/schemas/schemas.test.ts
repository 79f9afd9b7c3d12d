import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildManifest, PartialBakeError, type Manifest } from '../../src/bake/manifest.js';
import { UsageError } from '../../src/errors.js';
import { jsonFailure } from '../../src/cli/main.js';
import { REPO, runCli } from '../helpers/cli.js';
import { schemaErrors } from '../helpers/schemas.js';

const sha = (c: string) => c.repeat(64);

/** A manifest of the shape a --fetch bake of stable 4230.2.1 with one bakery sysext writes. */
function sampleManifest(): Manifest {
  return buildManifest(
    {
      release: { version: '4230.2.1', channel: 'stable', board: 'amd64-usr', arch: 'x86-64', build: '4230', sdkVersion: '4230.2.0' },
      base: {
        source: 'https://stable.release.flatcar-linux.net/amd64-usr/4230.2.1/flatcar_production_image.bin.bz2',
        sha256: sha('a'),
        size: 491_012_345,
        signature: { verified: true, fingerprint: 'F88CFEDEFF29A5B4D9523864E25D9AED0593B34A' },
      },
      installTo: 'root:/opt/extensions',
      sysexts: [
        {
          name: 'wasmtime',
          fileName: 'wasmtime-24.0.0-x86-64.raw',
          installedTo: 'root:/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw',
          bootedPath: '/opt/extensions/wasmtime/wasmtime-24.0.0-x86-64.raw',
          symlink: '/etc/extensions/wasmtime.raw',
          sysupdateConf: '/etc/sysupdate.wasmtime.d/wasmtime.conf',
          replaced: false,
          source: 'https://extensions.flatcar.org/extensions/wasmtime-24.0.0-x86-64.raw',
          sha256: sha('b'),
          size: 12_582_912,
          sysupdateConfSha256: sha('c'),
        },
      ],
      vendors: ['generic'],
      backend: 'offline',
      // ROOT as the full-size generic image has it: partition 9, 3653632 sectors of 512 bytes.
      outputs: [{ vendor: 'generic', file: 'flatcar_production_image.bin', chunkedSha256: sha('d'), size: 8_589_934_592, rootSize: 1_870_659_584 }],
    },
    new Date('2026-12-01T23:00:00.000Z'),
  );
}

describe('JSON Schemas in schemas/', () => {
  it('a manifest as the bake builds it is valid, with schemaVersion 1', () => {
    const manifest = sampleManifest();
    expect(manifest.schemaVersion).toBe(1);
    expect(schemaErrors('manifest', manifest)).toEqual([]);
  });

  it('catches what it is there for: a missing schemaVersion, a renamed size, a bad digest, an unknown field', () => {
    const { schemaVersion: _v, ...unversioned } = sampleManifest();
    expect(schemaErrors('manifest', unversioned).join('\n')).toMatch(/schemaVersion/);
    const renamed = sampleManifest() as unknown as { outputs: Array<Record<string, unknown>> };
    renamed.outputs[0] = { ...renamed.outputs[0], sizeBytes: renamed.outputs[0]!.size };
    delete renamed.outputs[0]!.size;
    expect(schemaErrors('manifest', renamed).join('\n')).toMatch(/size/);
    expect(schemaErrors('manifest', { ...sampleManifest(), base: { ...sampleManifest().base, sha256: 'ABC' } })).not.toEqual([]);
    expect(schemaErrors('manifest', { ...sampleManifest(), extra: 1 }).join('\n')).toMatch(/additional/);
    expect(schemaErrors('manifest', { ...sampleManifest(), release: { ...sampleManifest().release, build: '2024-10-14-2212' } }).join('\n')).toMatch(/build/);
    const textRoot = sampleManifest() as unknown as { outputs: Array<Record<string, unknown>> };
    textRoot.outputs[0]!.rootSize = '2G';
    expect(schemaErrors('manifest', textRoot).join('\n')).toMatch(/rootSize/);
  });

  it('a vendor bake with a recipe-built sysext: oemSysexts and sysexts[].recipe are described (schemaVersion 1 still: both are new optional fields)', () => {
    const manifest = sampleManifest();
    const wasmtime = manifest.sysexts[0]!;
    manifest.sysexts[0] = {
      ...wasmtime,
      source: '/home/me/sysexts/wasmtime-24.0.0-x86-64.raw',
      recipe: {
        name: 'wasmtime',
        version: '24.0.0',
        arch: 'x86-64',
        inputs: [{ url: 'https://github.com/bytecodealliance/wasmtime/releases/download/v24.0.0/wasmtime-v24.0.0-x86_64-linux.tar.xz', sha256: sha('e') }],
      },
    };
    manifest.vendors = ['qemu_uefi'];
    manifest.oemSysexts = [{ id: 'qemu', source: 'https://stable.release.flatcar-linux.net/amd64-usr/4230.2.1/oem-qemu.raw', sha256: sha('f'), size: 1_212_416 }];
    expect(manifest.schemaVersion).toBe(1);
    expect(schemaErrors('manifest', manifest)).toEqual([]);
    expect(schemaErrors('manifest', { ...manifest, oemSysexts: [{ id: 'qemu', source: 'x', sha256: sha('f') }] }).join('\n')).toMatch(/size/);
    const noInputs = { ...manifest, sysexts: [{ ...manifest.sysexts[0]!, recipe: { name: 'wasmtime', version: '24.0.0', arch: 'x86-64' } }] };
    expect(schemaErrors('manifest', noInputs).join('\n')).toMatch(/inputs/);
  });

  it("README's manifest table names every field of the schema, and the sysexts[] and oemSysexts[] rows every field of theirs", () => {
    type Props = { properties: Record<string, { items?: Props; properties?: Record<string, unknown> }> };
    const schema = JSON.parse(readFileSync(`${REPO}/schemas/manifest.schema.json`, 'utf8')) as Props;
    const readme = readFileSync(`${REPO}/README.md`, 'utf8');
    const section = readme.slice(readme.indexOf('### The manifest'), readme.indexOf('### Replay'));
    const rows = section.split('\n').filter((l) => /^\| `/.test(l)).map((l) => l.split(' | '));
    const named = (cell: string) => [...cell.matchAll(/`([A-Za-z][A-Za-z0-9]*)(?:\[\])?`/g)].map((m) => m[1]!);
    expect(rows.flatMap((r) => named(r[0]!)).sort()).toEqual(Object.keys(schema.properties).sort());
    for (const array of ['sysexts', 'oemSysexts']) {
      const row = rows.find((r) => named(r[0]!).includes(array))!;
      const inRow = new Set(named(row.slice(1).join(' | ')));
      expect(Object.keys(schema.properties[array]!.items!.properties!).filter((f) => !inRow.has(f)), array).toEqual([]);
    }
  });

  it('--json failures: the manifest when something was published, else an error object', () => {
    const manifest = { ...sampleManifest(), failedVendors: [{ vendor: 'azure', error: 'vendor azure needs the OEM sysext oem-azure.raw' }] };
    const partial = jsonFailure(new PartialBakeError('1 of 2 vendor image(s) failed', undefined, manifest));
    expect(partial).toBe(manifest);
    expect(schemaErrors('manifest', partial)).toEqual([]);
    const usage = jsonFailure(new UsageError('bad sysext name', 'a NAME starts with a letter'));
    expect(usage).toEqual({ schemaVersion: 1, error: { message: 'bad sysext name', hint: 'a NAME starts with a letter', exitCode: 2 } });
    expect(schemaErrors('error', usage)).toEqual([]);
    expect(schemaErrors('error', jsonFailure(new Error('boom\nstack')))).toEqual([]);
  });

  it('flatbake --json prints the error object on stdout and the error line on stderr', async () => {
    const r = await runCli(['--json', '--no-cache', '--image', '/nonexistent/flatcar_production_image.bin', 'x:/nonexistent/x.raw']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^flatbake: error: /m);
    const printed = JSON.parse(r.stdout) as { error: { message: string } };
    expect(schemaErrors('error', printed)).toEqual([]);
    expect(r.stderr).toContain(printed.error.message);
  });
});
