import { lstat, readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError, InputError } from '../../src/errors.js';
import { parseUnit, unitValues } from '../../src/sysext/units.js';
import { convertTorcx, movedPath, parseTorcxManifest } from '../../src/wrap/index.js';
import { elfHeader } from '../sysext/helpers.js';
import { EM_X86_64 } from '../../src/sysext/elf.js';
import { cleanupAll, readText, tarGz, tempDir, unsquash, type TarEntry } from './fixtures.js';

const DOCKER_SERVICE = `[Unit]
Description=Docker Application Container Engine
After=containerd.service docker.socket network-online.target torcx.target
Wants=network-online.target
Requires=containerd.service docker.socket torcx.target

[Service]
EnvironmentFile=/run/metadata/torcx
Environment=TORCX_IMAGEDIR=/docker
Type=notify
# the program path is never variable-expanded by systemd
ExecStart=\${TORCX_BINDIR}/dockerd --host=fd:// \\
  --containerd=/var/run/docker/libcontainerd/docker-containerd.sock \\
  --exec-opt native.cgroupdriver=\${TORCX_UNPACKDIR}\${TORCX_IMAGEDIR}/etc/cgroupdriver
ExecReload=/bin/kill -s HUP $MAINPID

[Install]
WantedBy=multi-user.target
`;

const CONTAINERD_SERVICE = `[Unit]
Description=containerd container runtime
After=network.target torcx.target
Requires=torcx.target

[Service]
EnvironmentFile=-/run/metadata/torcx
ExecStartPre=/sbin/modprobe overlay
ExecStart=/usr/bin/env PATH=\${TORCX_BINDIR}:\${PATH} \${TORCX_BINDIR}/containerd
`;

const DOCKER_SOCKET = `[Unit]
PartOf=docker.service

[Socket]
ListenStream=/var/run/docker.sock

[Install]
WantedBy=sockets.target
`;

const MANIFEST = JSON.stringify({
  kind: 'image-manifest-v0',
  value: {
    bin: ['/bin/docker', '/bin/dockerd', '/bin/containerd', '/bin/runc'],
    units: ['/lib/systemd/system/docker.service', '/lib/systemd/system/containerd.service', '/lib/systemd/system/docker.socket'],
  },
});

function torcxImage(): TarEntry[] {
  const elf = elfHeader(EM_X86_64).toString('latin1');
  return [
    { name: './', type: 'dir' },
    { name: './.torcx/', type: 'dir' },
    { name: './.torcx/manifest.json', content: MANIFEST },
    { name: './bin/', type: 'dir' },
    { name: './bin/docker', content: elf, mode: 0o755 },
    { name: './bin/dockerd', content: elf, mode: 0o755 },
    { name: './bin/containerd', content: elf, mode: 0o755 },
    { name: './bin/docker-proxy', type: 'symlink', linkname: '/run/torcx/unpack/docker/bin/docker-proxy-real' },
    { name: './lib/systemd/system/', type: 'dir' },
    { name: './lib/systemd/system/docker.service', content: DOCKER_SERVICE },
    { name: './lib/systemd/system/containerd.service', content: CONTAINERD_SERVICE },
    { name: './lib/systemd/system/docker.socket', content: DOCKER_SOCKET },
    { name: './lib/systemd/system/multi-user.target.wants/', type: 'dir' },
    { name: './lib/systemd/system/multi-user.target.wants/containerd.service', type: 'symlink', linkname: '../containerd.service' },
    { name: './lib/systemd/system/sockets.target.wants/', type: 'dir' },
    { name: './lib/systemd/system/sockets.target.wants/docker.socket', type: 'symlink', linkname: '../docker.socket' },
    { name: './lib/systemd/system/sockets.target.wants/absent.socket', type: 'symlink', linkname: '../absent.socket' },
    { name: './etc/', type: 'dir' },
    { name: './etc/docker.conf', content: 'x\n' },
  ];
}

let tarball: string;
let out: string;
let extracted: string;
let result: Awaited<ReturnType<typeof convertTorcx>>;

beforeAll(async () => {
  const dir = await tempDir();
  tarball = path.join(dir, 'docker:20.10.torcx.tgz');
  await writeFile(tarball, tarGz(torcxImage()));
  out = await tempDir();
  result = await convertTorcx({ tarball, name: 'docker-torcx', outputDir: out });
  extracted = await unsquash(result.sysext.path, path.join(await tempDir(), 'x'));
});
afterAll(cleanupAll);

describe('convertTorcx', () => {
  it('moves bin/ and lib/ under usr/ and drops the Torcx metadata and non-/usr dirs', async () => {
    expect((await readdir(extracted)).sort()).toEqual(['usr']);
    expect((await readdir(path.join(extracted, 'usr/bin'))).sort()).toEqual(['containerd', 'docker', 'docker-proxy', 'dockerd']);
    expect((await lstat(path.join(extracted, 'usr/bin/dockerd'))).mode & 0o777).toBe(0o755);
    expect(await readText(path.join(extracted, 'usr/lib/extension-release.d/extension-release.docker-torcx'))).toBe('ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n');
    expect(result.changed).toContain('moved bin/ to /usr/bin/');
    expect(result.leftAlone).toContain('etc: a sysext holds only /usr and /opt; not included');
  });

  it('rewrites docker.service: no Torcx env file or target, fixed paths, TORCX_* set', async () => {
    const text = await readText(path.join(extracted, 'usr/lib/systemd/system/docker.service'));
    const unit = parseUnit(text);
    expect(unit.errors).toEqual([]);
    expect(unitValues(unit, 'Unit', 'After')).toEqual(['containerd.service docker.socket network-online.target']);
    expect(unitValues(unit, 'Unit', 'Requires')).toEqual(['containerd.service docker.socket']);
    expect(unitValues(unit, 'Service', 'EnvironmentFile')).toEqual([]);
    expect(unitValues(unit, 'Service', 'Environment')).toEqual(['TORCX_BINDIR=/usr/bin', 'TORCX_UNPACKDIR=/', 'TORCX_IMAGEDIR=']);
    expect(unitValues(unit, 'Service', 'ExecStart')).toEqual([
      '/usr/bin/dockerd --host=fd://  --containerd=/var/run/docker/libcontainerd/docker-containerd.sock  --exec-opt native.cgroupdriver=/etc/cgroupdriver',
    ]);
    expect(text).not.toMatch(/TORCX_(BINDIR|UNPACKDIR|IMAGEDIR)\}/);
    expect(text).toContain('# the program path is never variable-expanded by systemd');
  });

  it('rewrites containerd.service and leaves units without Torcx references alone', async () => {
    const unit = parseUnit(await readText(path.join(extracted, 'usr/lib/systemd/system/containerd.service')));
    expect(unitValues(unit, 'Unit', 'Requires')).toEqual([]);
    expect(unitValues(unit, 'Unit', 'After')).toEqual(['network.target']);
    expect(unitValues(unit, 'Service', 'ExecStart')).toEqual(['/usr/bin/env PATH=/usr/bin:${PATH} /usr/bin/containerd']);
    expect(await readText(path.join(extracted, 'usr/lib/systemd/system/docker.socket'))).toBe(DOCKER_SOCKET);
  });

  it('turns .wants symlinks into Upholds= drop-ins, keeping links to units it does not ship', async () => {
    const unitDir = path.join(extracted, 'usr/lib/systemd/system');
    expect(unitValues(parseUnit(await readText(path.join(unitDir, 'multi-user.target.d/10-containerd.conf'))), 'Unit', 'Upholds')).toEqual(['containerd.service']);
    expect(unitValues(parseUnit(await readText(path.join(unitDir, 'sockets.target.d/10-docker.conf'))), 'Unit', 'Upholds')).toEqual(['docker.socket']);
    await expect(lstat(path.join(unitDir, 'multi-user.target.wants'))).rejects.toThrow(/ENOENT/);
    expect(await readlink(path.join(unitDir, 'sockets.target.wants/absent.socket'))).toBe('../absent.socket');
    expect(result.leftAlone).toContain('sockets.target.wants/absent.socket: the image does not ship absent.socket; enablement link kept');
  });

  it('reports what it could not fix: Torcx symlinks and manifest entries missing from the image', () => {
    expect(result.leftAlone).toContain('usr/bin/docker-proxy -> /run/torcx/unpack/docker/bin/docker-proxy-real: points into Torcx\'s own directories');
    expect(result.leftAlone).toContain('/bin/runc: listed in the manifest but not in the image');
    expect(result.changed).toContain('docker.service: dropped EnvironmentFile=/run/metadata/torcx');
    expect(result.changed).toContain('docker.service: dropped Environment=TORCX_IMAGEDIR=/docker (set for the sysext layout instead)');
  });
});

describe('convertTorcx refuses hostile archives and writes nothing', () => {
  for (const [what, entry] of [
    ['a ".." member', { name: '../escape', content: 'x' }],
    ['a nested ".." member', { name: 'bin/../../escape', content: 'x' }],
    ['an absolute member', { name: '/etc/cron.d/evil', content: 'x' }],
  ] as Array<[string, TarEntry]>) {
    it(what, async () => {
      const dir = await tempDir();
      const bad = path.join(dir, 'bad.torcx.tgz');
      await writeFile(bad, tarGz([{ name: 'bin/ok', content: 'x', mode: 0o755 }, entry]));
      const output = await tempDir();
      const err = await convertTorcx({ tarball: bad, name: 'bad', outputDir: output }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(`member "${entry.name}"`);
      expect(await readdir(output)).toEqual([]);
      expect(await readdir(dir)).toEqual(['bad.torcx.tgz']);
    });
  }

  it('never writes through a symlink member, and never ships a symlinked bin/', async () => {
    const dir = await tempDir();
    const outside = await tempDir();
    const bad = path.join(dir, 'bad.torcx.tgz');
    await writeFile(bad, tarGz([{ name: 'lib', type: 'symlink', linkname: outside }, { name: 'lib/evil', content: 'x' }]));
    const err = await convertTorcx({ tarball: bad, name: 'bad', outputDir: await tempDir() }).catch((e: unknown) => e);
    // GNU tar delays absolute-target links until the end, so the member behind it cannot be written.
    expect((err as CommandError).message).toContain('lib/evil: Cannot open: Not a directory');
    expect(await readdir(outside)).toEqual([]);
    // Alone, the link unpacks, but must not become /usr/bin -> elsewhere in the image.
    await writeFile(bad, tarGz([{ name: 'bin', type: 'symlink', linkname: '/etc' }, { name: 'lib/systemd/system/x.service', content: '[Service]\nExecStart=/usr/bin/true\n' }]));
    const r = await convertTorcx({ tarball: bad, name: 'linked', outputDir: await tempDir() });
    expect(r.leftAlone).toContain('bin -> /etc: a top-level symlink; not included');
    const x = await unsquash(r.sysext.path, path.join(await tempDir(), 'x'));
    expect((await readdir(path.join(x, 'usr'))).sort()).toEqual(['lib']);
  });

  it('refuses an archive with nothing for a sysext', async () => {
    const dir = await tempDir();
    const empty = path.join(dir, 'empty.tgz');
    await writeFile(empty, tarGz([{ name: 'etc/x', content: 'x' }]));
    await expect(convertTorcx({ tarball: empty, name: 'empty', outputDir: await tempDir() })).rejects.toThrow(/nothing to put in a sysext/);
  });
});

describe('convertTorcx and sbin', () => {
  it('merges sbin/ and usr/sbin/ into usr/bin: Flatcar\'s /usr/sbin is a symlink a sysext must not shadow', async () => {
    const dir = await tempDir();
    const image = path.join(dir, 'net.torcx.tgz');
    await writeFile(image, tarGz([
      { name: 'bin/ipset', content: '#!/bin/sh\n', mode: 0o755 },
      { name: 'sbin/iptables', content: '#!/bin/sh\n', mode: 0o755 },
      { name: 'usr/sbin/conntrack', content: '#!/bin/sh\n', mode: 0o755 },
      { name: 'lib/systemd/system/x.service', content: '[Service]\nExecStart=/usr/sbin/conntrack\n' },
    ]));
    const r = await convertTorcx({ tarball: image, name: 'net', outputDir: await tempDir() });
    expect(r.changed).toEqual(expect.arrayContaining(['moved sbin/ to /usr/bin/', "moved usr/sbin/ to /usr/bin/ (Flatcar's /usr/sbin is a symlink to /usr/bin)"]));
    const x = await unsquash(r.sysext.path, path.join(await tempDir(), 'x'));
    expect((await readdir(path.join(x, 'usr'))).sort()).toEqual(['bin', 'lib']);
    expect((await readdir(path.join(x, 'usr/bin'))).sort()).toEqual(['conntrack', 'ipset', 'iptables']);
  });

  it('refuses a program that is in both sbin/ and bin/ instead of dropping one', async () => {
    const dir = await tempDir();
    const image = path.join(dir, 'dup.torcx.tgz');
    await writeFile(image, tarGz([{ name: 'bin/tool', content: 'a', mode: 0o755 }, { name: 'sbin/tool', content: 'b', mode: 0o755 }]));
    const output = await tempDir();
    const err = await convertTorcx({ tarball: image, name: 'dup', outputDir: output }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/tool/);
    expect(await readdir(output)).toEqual([]);
  });
});

describe('Torcx manifest helpers', () => {
  it('parses image-manifest-v0 lists and rejects other JSON', () => {
    expect(parseTorcxManifest(MANIFEST)?.units).toHaveLength(3);
    expect(parseTorcxManifest('not json')).toBeUndefined();
    expect(parseTorcxManifest('{"kind":"x"}')).toBeUndefined();
    expect(parseTorcxManifest('{"value":{"bin":["/bin/a",3]}}')).toEqual({ bin: ['/bin/a'], units: [] });
  });

  it('maps manifest paths to their place in the sysext', () => {
    expect(movedPath('/bin/docker')).toBe('usr/bin/docker');
    expect(movedPath('/lib/systemd/system/docker.service')).toBe('usr/lib/systemd/system/docker.service');
    expect(movedPath('/usr/share/x')).toBe('usr/share/x');
    expect(movedPath('/binary')).toBe('binary');
    expect(movedPath('/sbin/iptables')).toBe('usr/bin/iptables');
  });
});
