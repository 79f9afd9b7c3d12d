import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { schemaErrors } from '../helpers/schemas.js';
import { buildJqRootfs, JQ, tarGz } from '../wrap/fixtures.js';

describe('software without a recipe, through the CLI', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'flatbake-wrap-cli-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it.skipIf(!existsSync(JQ))('flix packs jq with its libraries and rewritten interpreter', async () => {
    const rootfs = await buildJqRootfs(path.join(scratch, 'rootfs'));
    const r = await runCli(['flix', rootfs, 'jq', '/usr/bin/jq', '--os', 'flatcar', '--output', scratch, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(schemaErrors('flix', result)).toEqual([]);
    expect(result.schemaVersion).toBe(1);
    expect(result.sysext.path).toBe(path.join(scratch, 'jq.raw'));
    const listing = (await execa('unsquashfs', ['-lln', path.join(scratch, 'jq.raw')])).stdout;
    expect(listing).toMatch(/usr\/bin\/jq/);
    expect(listing).toMatch(/usr\/lib\/flix-jq\/libjq\.so/);
    expect((await runCli(['sysext', 'check', path.join(scratch, 'jq.raw')])).exitCode).toBe(0);
  });

  it('convert-torcx turns a Torcx tarball into a sysext and reports what it changed', async () => {
    const tarball = path.join(scratch, 'docker.torcx.tgz');
    await writeFile(
      tarball,
      tarGz([
        { name: 'bin', type: 'dir' },
        { name: 'bin/dockerd', content: '#!/bin/sh\n', mode: 0o755 },
        { name: 'lib/systemd/system/docker.service', content: '[Unit]\nRequires=torcx.target\nAfter=torcx.target\n[Service]\nEnvironmentFile=/run/metadata/torcx\nExecStart=${TORCX_BINDIR}/dockerd\n' },
      ]),
    );
    const r = await runCli(['convert-torcx', tarball, 'docker', '--output', scratch]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^changed: /m);
    const unit = (await execa('unsquashfs', ['-cat', path.join(scratch, 'docker.raw'), 'usr/lib/systemd/system/docker.service'])).stdout;
    expect(unit).not.toMatch(/torcx\.target|run\/metadata\/torcx/);
    expect(unit).toMatch(/TORCX_BINDIR=\/usr\/bin/);

    // --json: one document valid against schemas/convert-torcx.schema.json, the changes in it, not on stderr.
    const json = await runCli(['convert-torcx', tarball, 'docker', '--output', scratch, '--force', '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(schemaErrors('convert-torcx', result)).toEqual([]);
    expect(result.changed.length).toBeGreaterThan(0);
    expect(json.stderr).not.toMatch(/^changed: /m);
  });

  it('oci-rootfs says clearly when the registry cannot be reached', async () => {
    const r = await runCli(['oci-rootfs', '127.0.0.1:9/nothing:latest', path.join(scratch, 'never'), '--no-cache']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^flatbake: error: .*127\.0\.0\.1:9/m);
    expect(await readFile(path.join(scratch, 'never')).catch(() => 'absent')).toBe('absent');

    // --json: the same failure as a JSON error object on stdout.
    const json = await runCli(['oci-rootfs', '127.0.0.1:9/nothing:latest', path.join(scratch, 'never'), '--no-cache', '--json']);
    expect(json.exitCode).toBe(1);
    const failure = JSON.parse(json.stdout);
    expect(schemaErrors('error', failure)).toEqual([]);
    expect(failure.error.message).toMatch(/127\.0\.0\.1:9/);
  });

  it('flix and flatwrap --json failures (a rootfs that is not there) are JSON error objects on stdout', async () => {
    for (const command of ['flix', 'flatwrap']) {
      const r = await runCli([command, path.join(scratch, 'no-rootfs'), 'x', '/usr/bin/x', '--output', scratch, '--json']);
      expect(r.exitCode, `${command}: ${r.stderr}`).not.toBe(0);
      const failure = JSON.parse(r.stdout);
      expect(schemaErrors('error', failure)).toEqual([]);
      expect(failure.error.exitCode).toBe(r.exitCode);
    }
  });
});
