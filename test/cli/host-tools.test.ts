/**
 * Host tools, checked before anything happens: `flatbake doctor` (per backend and --vendor,
 * exit 1 when NOT ready, a hint that installs what it names), the bake refusing a missing
 * vendor tool before it downloads or writes, and the --json outputs of doctor and vendors
 * (schemaVersion, their schemas in schemas/, a JSON error object on failure). A missing tool
 * is a PATH made of symlinks to everything on this host's PATH but that tool.
 */
import { constants } from 'node:fs';
import { execa } from 'execa';
import { access, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeSyntheticSysext } from '../../src/demo/synthetic-sysext.js';
import { schemaErrors } from '../helpers/schemas.js';

let dir: string;
/** A real (tiny) sysext: the bake checks its NAME:FILE arguments before the host tools. */
let hello: string;

/** A PATH dir holding a symlink to every executable on PATH (the first of each name), except `without`. */
async function pathWithout(without: string[]): Promise<string> {
  const bin = await mkdtemp(path.join(dir, 'bin-'));
  const seen = new Set<string>();
  const search = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`.split(':').filter(Boolean);
  for (const d of search) {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      if (seen.has(name) || without.includes(name)) continue;
      const full = path.join(d, name);
      if (!(await access(full, constants.X_OK).then(() => true, () => false))) continue;
      seen.add(name);
      await symlink(full, path.join(bin, name));
    }
  }
  return bin;
}

interface DoctorJson {
  schemaVersion: number;
  backend: string;
  vendors: string[];
  tools: Array<{ command: string; package: string; required: boolean; path?: string }>;
  files: Array<{ path: string; required: boolean; found: boolean }>;
  ok: boolean;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flatbake-host-tools-'));
  hello = (await makeSyntheticSysext({ dir, name: 'hello', version: '1.0.0', arch: 'x86-64' })).file;
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('flatbake doctor', () => {
  it('on this host (every tool installed): exit 0, JSON valid against schemas/doctor.schema.json, only the chosen backend\'s tools required', async () => {
    const r = await runCli(['doctor', '--json', '--backend', 'offline']);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as DoctorJson;
    expect(schemaErrors('doctor', report)).toEqual([]);
    expect(report).toMatchObject({ schemaVersion: 1, backend: 'offline', vendors: [], ok: true });
    const byCommand = Object.fromEntries(report.tools.map((t) => [t.command, t]));
    // The offline backend runs debugfs; it needs no losetup, mount, nor sudo.
    expect(byCommand.debugfs?.required).toBe(true);
    for (const c of ['losetup', 'mount', 'umount', 'sudo']) expect(byCommand[c]).toBeUndefined();
    // Vendor tools are optional without --vendor.
    expect(byCommand['qemu-img']?.required).toBe(false);
    const mount = JSON.parse((await runCli(['doctor', '--json', '--backend', 'mount'])).stdout) as DoctorJson;
    expect(schemaErrors('doctor', mount)).toEqual([]);
    const mountTools = Object.fromEntries(mount.tools.map((t) => [t.command, t]));
    expect(mountTools.losetup?.required).toBe(true);
    expect(mountTools.debugfs?.required).toBe(false);
    // As root sudo is neither needed nor suggested.
    if (process.getuid?.() === 0) expect(mountTools.sudo).toBeUndefined();
  });

  it('without qemu-img and with --vendor qemu_uefi: NOT ready, exit 1, and the hint installs exactly the package of what is missing', async () => {
    const bin = await pathWithout(['qemu-img']);
    const env = { PATH: bin };
    const text = await runCli(['doctor', '--backend', 'offline', '--vendor', 'qemu_uefi'], { env });
    expect(text.exitCode, text.stderr).toBe(1);
    expect(text.stdout).toMatch(/^MISSING\s+qemu-img\s+qemu-utils\s+.*\(required\)$/m);
    expect(text.stdout).toMatch(/^NOT ready to bake: see above$/m);
    const hints = text.stdout.split('\n').filter((l) => /apt-get install/.test(l));
    expect(hints[0]).toBe(`install what is required: ${process.getuid?.() === 0 ? '' : 'sudo '}apt-get install -y --no-install-recommends qemu-utils`);
    // The optional line (what else this host lacks, e.g. qemu-system-arm) installs only what is listed as missing.
    const listedMissing = new Set(text.stdout.split('\n').filter((l) => /^missing /.test(l)).flatMap((l) => (/\(([^:)]+):/.exec(l)?.[1] ?? l.split(/\s+/)[2]!).split(/[,\s]+/)));
    for (const p of hints[1]?.replace(/^.*--no-install-recommends /, '').split(' ') ?? []) expect(listedMissing).toContain(p);
    expect(hints.length).toBeLessThanOrEqual(2);
    // Root is never told to use sudo.
    if (process.getuid?.() === 0) expect(text.stdout).not.toMatch(/sudo/);
    const json = await runCli(['doctor', '--json', '--backend', 'offline', '--vendor', 'qemu_uefi'], { env });
    expect(json.exitCode).toBe(1);
    const report = JSON.parse(json.stdout) as DoctorJson;
    expect(schemaErrors('doctor', report)).toEqual([]);
    expect(report.ok).toBe(false);
    expect(report.vendors).toEqual(['qemu_uefi']);
    expect(report.tools.find((t) => t.command === 'qemu-img')).toMatchObject({ required: true, package: 'qemu-utils' });
    expect(report.tools.find((t) => t.command === 'qemu-img')?.path).toBeUndefined();
    // The firmware qemu_uefi ships beside its image is required too, and that of its Secure Boot variant (qemu_uefi_secure).
    expect(report.files.filter((f) => f.required).map((f) => f.path)).toEqual([
      '/usr/share/OVMF/OVMF_CODE.fd',
      '/usr/share/OVMF/OVMF_VARS.fd',
      '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
      '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
    ]);
    // Without --vendor the same host is ready: qemu-img is optional, and the optional hint names it.
    const plain = await runCli(['doctor', '--backend', 'offline'], { env });
    expect(plain.exitCode, plain.stdout).toBe(0);
    expect(plain.stdout).toMatch(/^missing\s+qemu-img\s+qemu-utils\s+.*\(optional\)$/m);
    expect(plain.stdout).toMatch(/^and, for what is optional above: (sudo )?apt-get install -y --no-install-recommends .*\bqemu-utils\b/m);
    expect(plain.stdout).not.toMatch(/^install what is required/m);
  });

  it('an unknown --vendor or --backend is a usage error, and --json gives a JSON error object valid against schemas/error.schema.json', async () => {
    const r = await runCli(['doctor', '--json', '--vendor', 'qemu_uefy']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^flatbake: error: .*qemu_uefy/m);
    const error = JSON.parse(r.stdout);
    expect(schemaErrors('error', error)).toEqual([]);
    expect(error.error.exitCode).toBe(2);
    expect(error.error.message).toMatch(/qemu_uefy/);
    const b = await runCli(['doctor', '--backend', 'loop']);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toMatch(/^flatbake: error: unknown --backend 'loop'\nflatbake: hint: /m);
  });
});

describe('the bake refuses a missing vendor tool before it starts', () => {
  it('--vendor qemu_uefi without qemu-img: one error naming the tool and its package, hint apt-get/doctor, nothing written', async () => {
    const bin = await pathWithout(['qemu-img']);
    // The check comes before the image is read: a file with the right name is enough.
    const image = path.join(dir, 'flatcar_production_image.bin');
    await writeFile(image, 'not read\n');
    const output = path.join(dir, 'out-qemu');
    const r = await runCli(['--image', image, '--no-cache', '--vendor', 'generic,qemu_uefi', '--output', output, `hello:${hello}`], { env: { PATH: bin } });
    expect(r.exitCode).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('flatbake: error:'))).toEqual([
      'flatbake: error: --vendor qemu_uefi needs qemu-img (qemu-utils), not installed; nothing was downloaded or written',
    ]);
    expect(r.stderr).toMatch(/^flatbake: hint: apt-get install -y --no-install-recommends qemu-utils \(or run scripts\/setup\.sh\); flatbake doctor lists what is missing$/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await access(output).then(() => true, () => false)).toBe(false);
  });

  it('--json: the same failure as a JSON error object', async () => {
    const bin = await pathWithout(['xorriso', 'cpio']);
    const image = path.join(dir, 'flatcar_production_image.bin');
    await writeFile(image, 'not read\n');
    const r = await runCli(['--json', '--image', image, '--no-cache', '--vendor', 'iso', '--output', path.join(dir, 'out-iso'), `hello:${hello}`], { env: { PATH: bin } });
    expect(r.exitCode).toBe(1);
    const error = JSON.parse(r.stdout);
    expect(schemaErrors('error', error)).toEqual([]);
    expect(error.error.message).toBe('--vendor iso needs cpio (cpio), xorriso (xorriso), not installed; nothing was downloaded or written');
  });
});

describe('flatbake vendors --json', () => {
  it('carries schemaVersion, is valid against schemas/vendors.schema.json, and names sizes `size` in bytes', async () => {
    const r = await runCli(['vendors', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { schemaVersion: number; vendors: Array<{ id: string; disk?: Record<string, unknown> | null }> };
    expect(schemaErrors('vendors', out)).toEqual([]);
    expect(out.schemaVersion).toBe(1);
    expect(out.vendors[0]!.id).toBe('generic');
    // exoscale's disk is exactly 10 GiB (vendors.json); no *Bytes keys in the output.
    expect(out.vendors.find((v) => v.id === 'exoscale')?.disk?.virtualSize).toBe(10 * 1024 ** 3);
    expect(r.stdout).not.toMatch(/Bytes"/);
  });

  it('a parser error with --json still prints a JSON error object on stdout', async () => {
    const r = await runCli(['vendors', '--json', '--bogus']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^flatbake: error: unknown option '--bogus'/m);
    const error = JSON.parse(r.stdout);
    expect(schemaErrors('error', error)).toEqual([]);
    expect(error.error).toMatchObject({ exitCode: 2, message: expect.stringMatching(/--bogus/) });
  });
});

describe('sysext --json', () => {
  it('create and check print one document each, with schemaVersion, valid against their schemas; a failed check prints its findings, not a second (error) document', async () => {
    const tree = path.join(dir, 'tree');
    await mkdir(path.join(tree, 'usr', 'bin'), { recursive: true });
    await writeFile(path.join(tree, 'usr', 'bin', 'hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
    const created = await runCli(['sysext', 'create', tree, 'greet', '--os', 'flatcar', '--arch', 'x86-64', '--output', dir, '--json']);
    expect(created.exitCode, created.stderr).toBe(0);
    const result = JSON.parse(created.stdout) as { schemaVersion: number; path: string };
    expect(schemaErrors('sysext-create', result)).toEqual([]);
    expect(result.schemaVersion).toBe(1);
    const checked = await runCli(['sysext', 'check', '--json', result.path]);
    expect(checked.exitCode, checked.stderr).toBe(0);
    expect(schemaErrors('sysext-check', JSON.parse(checked.stdout))).toEqual([]);
    // squashfs-tools' own image of the tree, without an extension-release: the check fails.
    const bare = path.join(dir, 'bare.raw');
    await execa('mksquashfs', [tree, bare, '-noappend', '-quiet', '-all-root']);
    const failed = await runCli(['sysext', 'check', '--json', bare]);
    expect(failed.exitCode).toBe(1);
    const findings = JSON.parse(failed.stdout) as { ok: boolean; findings: Array<{ severity: string }> };
    expect(schemaErrors('sysext-check', findings)).toEqual([]);
    expect(findings.ok).toBe(false);
    expect(findings.findings.some((f) => f.severity === 'error')).toBe(true);
    expect(failed.stderr).toMatch(/^flatbake: error: .*bare\.raw failed the sysext check$/m);
  });
});

describe('--json failures of other commands', () => {
  it('inspect --json of a missing file: JSON error on stdout, the usual lines on stderr', async () => {
    const r = await runCli(['inspect', '--json', path.join(dir, 'nope.bin')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^flatbake: error: /m);
    const error = JSON.parse(r.stdout);
    expect(schemaErrors('error', error)).toEqual([]);
    expect(error.error.message).toMatch(/nope\.bin/);
  });

  it('sysext check --json of a missing file, and boot --json of a missing image: the same', async () => {
    for (const args of [['sysext', 'check', '--json', path.join(dir, 'nope.raw')], ['boot', '--json', path.join(dir, 'nope.bin')]]) {
      const r = await runCli(args);
      expect(r.exitCode, args.join(' ')).not.toBe(0);
      const error = JSON.parse(r.stdout);
      expect(schemaErrors('error', error)).toEqual([]);
      expect(error.error.message).toMatch(/nope\.(raw|bin)/);
    }
  });
});

