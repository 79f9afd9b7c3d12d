import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { lstat, mkdir, mkdtemp, readFile, readlink, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildSyntheticRelease, makeSyntheticSysext, type SyntheticRelease } from '../../src/demo/synthetic-release.js';
import { serveStatic } from '../../src/demo/server.js';
import { InputError } from '../../src/errors.js';
import { extractPartition, gpgVerify, ok, parseSgdiskInfo, parseSgdiskPrint, probe, tool, withTempDir } from './tools.js';

const VERSION = '4459.2.1';
const SECTOR = 512;
const USR_A_GUID = '7130C94A-213A-4E5A-8E26-6CCE9662F132';
const USR_B_GUID = 'E03DD35C-7C2D-4A47-B3FE-27F15780A57C';

/** The generic layout as flatcar/scripts build_library/disk_layout.json ("base") gives it: number -> label and type GUID. */
const EXPECTED = [
  { number: 1, label: 'EFI-SYSTEM', type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' },
  { number: 2, label: 'BIOS-BOOT', type: '21686148-6449-6E6F-744E-656564454649' },
  { number: 3, label: 'USR-A', type: '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6' },
  { number: 4, label: 'USR-B', type: '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6' },
  { number: 6, label: 'OEM', type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4' },
  { number: 7, label: 'OEM-CONFIG', type: 'C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0' },
  { number: 9, label: 'ROOT', type: '3884DD41-8582-4404-B9A8-E9B84F2DF50E' },
];

// Every check runs real tools over hundreds of MiB of sparse disk.
vi.setConfig({ testTimeout: 60_000 });

let root: string;
let rel: SyntheticRelease;
let scratch: string;

/** Partition placement as sgdisk reads it back from the image (not from the builder's own report). */
async function partitionsFromDisk() {
  return parseSgdiskPrint(await ok('sgdisk', ['-p', rel.imagePath]));
}

async function partitionBytes(label: string) {
  const p = (await partitionsFromDisk()).find((x) => x.name === label);
  if (!p) throw new Error(`no ${label} in sgdisk -p`);
  return { offset: p.first * SECTOR, size: (p.last - p.first + 1) * SECTOR };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'demo-release-'));
  scratch = await mkdtemp(path.join(os.tmpdir(), 'demo-scratch-'));
  rel = await buildSyntheticRelease({
    root,
    version: VERSION,
    sysexts: [
      { name: 'hello', version: '1.2.3', arch: 'x86-64' },
      { name: 'tool-box', version: '0.9', arch: 'x86-64' },
    ],
    oemIds: ['azure', 'qemu'],
    extraVersions: ['4426.2.0', '4487.0.0', '4459.1.0', '3975.3.1'],
    bakeryUrl: 'http://127.0.0.1:9/extensions',
  });
}, 120_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('synthetic release: layout on disk', () => {
  it('reports the release identity and puts files where the release servers do', async () => {
    expect(rel.channel).toBe('stable');
    expect(rel.board).toBe('amd64-usr');
    expect(rel.releaseDir).toBe(path.join(root, 'stable', 'amd64-usr', VERSION));
    const names = (await readdir(rel.releaseDir)).sort();
    expect(names).toEqual(
      [
        'flatcar_production_image.bin.bz2',
        'flatcar_production_image.bin.bz2.sig',
        'oem-azure.raw',
        'oem-azure.raw.sig',
        'oem-qemu.raw',
        'oem-qemu.raw.sig',
        'version.txt',
        'version.txt.sig',
      ].sort(),
    );
    const alias = path.join(root, 'stable', 'amd64-usr', 'current');
    expect((await lstat(alias)).isSymbolicLink()).toBe(true);
    expect(await readlink(alias)).toBe(VERSION);
    expect((await stat(path.join(alias, 'version.txt'))).isFile()).toBe(true);
  });

  it('writes a shell-style version.txt', async () => {
    const text = await readFile(rel.files.versionTxt, 'utf8');
    // Let a real shell parse it, as scripts do.
    const env = await ok('sh', ['-c', '. "$1" && echo "$FLATCAR_VERSION|$FLATCAR_VERSION_ID|$FLATCAR_BUILD|$FLATCAR_BRANCH|$FLATCAR_PATCH|$FLATCAR_SDK_VERSION"', 'sh', rel.files.versionTxt]);
    expect(env.trim()).toBe(`${VERSION}|${VERSION}|4459|2|1|4459.0.0`);
    expect(text).toMatch(/^FLATCAR_VERSION=4459\.2\.1$/m);
  });

  it('writes releases.json in the index format, with extra versions and the current pointer', async () => {
    const index = JSON.parse(await readFile(path.join(root, 'releases.json'), 'utf8')) as Record<string, { channel: string; architectures: string[]; release_date: string }>;
    expect(index[VERSION]).toMatchObject({ channel: 'stable' });
    expect(index[VERSION]!.architectures).toContain('amd64');
    expect(index[VERSION]!.release_date).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$/);
    expect(index['4426.2.0']).toMatchObject({ channel: 'stable' });
    expect(index['4487.0.0']).toMatchObject({ channel: 'alpha' });
    expect(index['4459.1.0']).toMatchObject({ channel: 'beta' });
    expect(index['3975.3.1']).toMatchObject({ channel: 'lts' });
    expect(index.current).toBeDefined();
    expect(Object.keys(index).filter((k) => !/^\d+\.\d+\.\d+$/.test(k))).toEqual(['current']);
  });
});

describe('synthetic release: the disk image', () => {
  it('has a GPT that sgdisk verifies cleanly and a sparse file', async () => {
    const v = await tool('sgdisk', ['-v', rel.imagePath]);
    expect(v.exitCode).toBe(0);
    expect(v.stdout).toContain('No problems found');
    const st = await stat(rel.imagePath);
    expect(st.size % (258048 * SECTOR)).toBe(0);
    expect(st.blocks * 512).toBeLessThan(st.size / 4);
  });

  it('has the Flatcar partitions, labels, type GUIDs, 4096-sector alignment and gaps at 5 and 8', async () => {
    const rows = await partitionsFromDisk();
    expect(rows.map((r) => [r.number, r.name])).toEqual(EXPECTED.map((e) => [e.number, e.label]));
    for (const r of rows) expect(r.first % 4096).toBe(0);
    for (const e of EXPECTED) {
      const info = parseSgdiskInfo(await ok('sgdisk', ['-i', String(e.number), rel.imagePath]));
      expect(info['Partition GUID code']).toMatch(new RegExp(`^${e.type} `));
      expect(info['Partition name']).toBe(`'${e.label}'`);
    }
    const usrA = parseSgdiskInfo(await ok('sgdisk', ['-i', '3', rel.imagePath]));
    const usrB = parseSgdiskInfo(await ok('sgdisk', ['-i', '4', rel.imagePath]));
    expect(usrA['Partition unique GUID']).toBe(USR_A_GUID);
    expect(usrB['Partition unique GUID']).toBe(USR_B_GUID);
    // USR-A is the booted slot: priority 1 (bit 48) and successful (bit 56).
    expect(BigInt('0x' + usrA['Attribute flags']!) & ((1n << 48n) | (1n << 56n))).toBe((1n << 48n) | (1n << 56n));
    for (const gap of [5, 8]) {
      const r = await tool('sgdisk', ['-i', String(gap), rel.imagePath]);
      expect(r.stdout).toMatch(/does not exist/);
    }
    const disk = await ok('sgdisk', ['-p', rel.imagePath]);
    expect(disk).toContain('Disk identifier (GUID): 00000000-0000-0000-0000-000000000001');
  });

  it('matches the layout it reports', async () => {
    const rows = await partitionsFromDisk();
    expect(rel.layout.map((p) => [p.number, p.label, p.firstLba, p.lastLba])).toEqual(rows.map((r) => [r.number, r.name, r.first, r.last]));
  });

  it('has the filesystems blkid expects at each partition', async () => {
    const expectFs = async (label: string, type: string | undefined, fsLabel?: string) => {
      const { offset, size } = await partitionBytes(label);
      const found = await probe(rel.imagePath, offset, size);
      expect(found.TYPE, label).toBe(type);
      if (fsLabel) expect(found.LABEL, label).toBe(fsLabel);
    };
    await expectFs('EFI-SYSTEM', 'vfat', 'EFI-SYSTEM');
    await expectFs('BIOS-BOOT', undefined);
    await expectFs('USR-A', 'btrfs', 'USR-A');
    await expectFs('USR-B', undefined);
    await expectFs('OEM', 'btrfs', 'OEM');
    await expectFs('OEM-CONFIG', undefined);
    await expectFs('ROOT', 'ext4', 'ROOT');
  });

  it('has a clean EFI-SYSTEM vfat holding the kernel', async () => {
    const { offset, size } = await partitionBytes('EFI-SYSTEM');
    const img = await extractPartition(rel.imagePath, offset, size, path.join(scratch, 'efi.img'));
    expect((await tool('fsck.vfat', ['-n', img])).exitCode).toBe(0);
    const env = { MTOOLS_SKIP_CHECK: '1' };
    const kernel = await ok('mtype', ['-i', img, '::/flatcar/vmlinuz-a'], { env });
    expect(kernel).toContain(`synthetic Flatcar kernel ${VERSION}`);
    const efi = await ok('mdir', ['-b', '-i', img, '::/EFI/boot'], { env });
    expect(efi.toLowerCase()).toContain('bootx64.efi');
    // GRUB beside the shim, as x86-64 Flatcar has it from 4012 (the pxe vendor publishes it).
    expect(efi.toLowerCase()).toContain('grubx64.efi');
  });

  it('has a USR-A btrfs with Flatcar os-release and the payload', async () => {
    const { offset, size } = await partitionBytes('USR-A');
    const img = await extractPartition(rel.imagePath, offset, size, path.join(scratch, 'usr-a.img'));
    expect((await tool('btrfs', ['check', '--readonly', img])).exitCode).toBe(0);
    const out = path.join(scratch, 'usr-a');
    await mkdir(out);
    await ok('btrfs', ['restore', img, out]);
    const osRelease = await readFile(path.join(out, 'lib', 'os-release'), 'utf8');
    expect(osRelease).toMatch(/^ID=flatcar$/m);
    expect(osRelease).toMatch(new RegExp(`^VERSION_ID=${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    expect(osRelease).toMatch(/^SYSEXT_LEVEL=1\.0$/m);
    expect(osRelease).toMatch(/^PRETTY_NAME=".*"$/m);
    expect(osRelease).toMatch(/^BUILD_ID=/m);
    const payload = await stat(path.join(out, 'share', 'flatcar', 'synthetic-payload.bin'));
    expect(payload.size).toBe(8 * 1024 * 1024);
  });

  it('has an empty OEM btrfs and a minimal ROOT ext4', async () => {
    const oem = await partitionBytes('OEM');
    const oemImg = await extractPartition(rel.imagePath, oem.offset, oem.size, path.join(scratch, 'oem.img'));
    expect((await tool('btrfs', ['check', '--readonly', oemImg])).exitCode).toBe(0);
    const oemOut = path.join(scratch, 'oem');
    await mkdir(oemOut);
    await ok('btrfs', ['restore', oemImg, oemOut]);
    expect(await readdir(oemOut)).toEqual([]);

    const r = await partitionBytes('ROOT');
    const rootImg = await extractPartition(rel.imagePath, r.offset, r.size, path.join(scratch, 'root.img'));
    expect((await tool('e2fsck', ['-fn', rootImg])).exitCode).toBe(0);
    const ls = await ok('debugfs', ['-R', 'ls -l /', rootImg]);
    for (const dir of ['etc', 'opt', 'var', 'home', 'root']) expect(ls).toMatch(new RegExp(`\\s${dir}\\s*$`, 'm'));
    // root-owned, as on a real image
    expect(ls).toMatch(/40755 \(2\)\s+0\s+0\s+\d+.*\setc\s*$/m);
  });
});

describe('synthetic release: compression and signatures', () => {
  it('compresses the image losslessly', async () => {
    // Not buffered: the decompressed image is hundreds of MiB.
    const digest = await execa('lbzip2', ['-dc', rel.files.imageBz2], { buffer: false }).pipe('sha256sum');
    expect(String(digest.stdout).split(/\s+/)[0]).toBe(rel.imageSha256);
    const direct = await ok('sha256sum', [rel.imagePath]);
    expect(direct.split(/\s+/)[0]).toBe(rel.imageSha256);
  }, 60_000);

  it('signs every published file with the exported key, and the wrong key fails', async () => {
    const signed: Array<[string, string]> = [
      [rel.files.imageBz2Signature, rel.files.imageBz2],
      [rel.files.versionTxtSignature, rel.files.versionTxt],
      ...rel.oemSysexts.map((o): [string, string] => [o.signature, o.file]),
    ];
    expect(signed).toHaveLength(4);
    for (const [sig, data] of signed) {
      // Binary (not armored) detached signatures, like Flatcar's.
      expect((await readFile(sig)).subarray(0, 5).toString()).not.toBe('-----');
      const good = await gpgVerify(rel.keyFile, sig, data);
      expect(good.exitCode, sig).toBe(0);
      expect(good.stdout).toContain(`VALIDSIG ${rel.fingerprint}`);
      const bad = await gpgVerify(rel.wrongKeyFile, sig, data);
      expect(bad.exitCode, sig).not.toBe(0);
      expect(bad.stdout).not.toContain('VALIDSIG');
    }
  }, 60_000);

  it('exports armored public keys with the reported fingerprints', async () => {
    const key = await readFile(rel.keyFile, 'utf8');
    expect(key).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    expect(key).not.toContain('PRIVATE');
    const shown = await ok('gpg', ['--batch', '--with-colons', '--show-keys', rel.keyFile], { env: { GNUPGHOME: scratch } });
    expect(shown).toContain(`fpr:::::::::${rel.fingerprint}:`);
    expect(rel.wrongFingerprint).not.toBe(rel.fingerprint);
  });
});

describe('synthetic release: sysexts', () => {
  it('publishes a bakery with squashfs sysexts, transfers and SHA256SUMS', async () => {
    const dir = rel.files.extensionsDir;
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(['SHA256SUMS', 'hello-1.2.3-x86-64.raw', 'hello.conf', 'noop.conf', 'tool-box-0.9-x86-64.raw', 'tool-box.conf']);
    const check = await tool('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.trim().split('\n')).toHaveLength(2);

    const listing = await ok('unsquashfs', ['-lls', path.join(dir, 'hello-1.2.3-x86-64.raw')]);
    expect(listing).toMatch(/-rwxr-xr-x root\/root .* squashfs-root\/usr\/bin\/hello$/m);
    expect(listing).toMatch(/squashfs-root\/usr\/lib\/extension-release\.d\/extension-release\.hello$/m);
    expect(listing).not.toMatch(/squashfs-root\/(?!usr)/);
    const release = await ok('unsquashfs', ['-cat', path.join(dir, 'hello-1.2.3-x86-64.raw'), 'usr/lib/extension-release.d/extension-release.hello']);
    expect(release).toMatch(/^ID=flatcar$/m);
    expect(release).toMatch(/^SYSEXT_LEVEL=1\.0$/m);
    expect(release).toMatch(/^ARCHITECTURE=x86-64$/m);

    const conf = await readFile(path.join(dir, 'hello.conf'), 'utf8');
    expect(conf).toMatch(/\[Source\]\nType=url-file\nPath=http:\/\/127\.0\.0\.1:9\/extensions\/\nMatchPattern=hello-@v-%a\.raw/);
    expect(conf).toMatch(/\[Target\]\nInstancesMax=3\nType=regular-file\nPath=\/opt\/extensions\/hello\nCurrentSymlink=\/etc\/extensions\/hello\.raw\nMatchPattern=hello-@v-%a\.raw/);
    expect(rel.sysexts.map((s) => s.name)).toEqual(['hello', 'tool-box']);
  });

  it('publishes OEM sysexts whose extension-release carries the SYSEXT_* metadata', async () => {
    const azure = rel.oemSysexts.find((o) => o.id === 'azure')!;
    expect(path.basename(azure.file)).toBe('oem-azure.raw');
    const release = await ok('unsquashfs', ['-cat', azure.file, 'usr/lib/extension-release.d/extension-release.oem-azure']);
    for (const line of ['ID=flatcar', `VERSION_ID=${VERSION}`, 'SYSEXT_ID=oem-azure', `SYSEXT_VERSION_ID=${VERSION}`, 'SYSEXT_LEVEL=1.0', 'ARCHITECTURE=x86-64']) {
      expect(release).toMatch(new RegExp(`^${line.replace(/\./g, '\\.')}$`, 'm'));
    }
    expect(release).toMatch(/^SYSEXT_NAME=/m);
  });

  it('makes byte-identical sysexts from the same inputs', async () => {
    await withTempDir('demo-sysext-', async (dir) => {
      const a = await makeSyntheticSysext({ dir: path.join(dir, 'a'), name: 'same', version: '1', arch: 'arm64' });
      const b = await makeSyntheticSysext({ dir: path.join(dir, 'b'), name: 'same', version: '1', arch: 'arm64' });
      expect(path.basename(a.file)).toBe('same-1-arm64.raw');
      expect(a.sha256).toBe(b.sha256);
      expect((await ok('sha256sum', [a.file])).split(' ')[0]).toBe(a.sha256);
    });
  });

  it('refuses bad sysext names', async () => {
    await expect(makeSyntheticSysext({ dir: scratch, name: '../evil', version: '1' })).rejects.toBeInstanceOf(InputError);
  });
});

describe('synthetic release: options', () => {
  it('builds an arm64 release on the arm64-usr board', async () => {
    await withTempDir('demo-arm-', async (dir) => {
      const arm = await buildSyntheticRelease({ root: dir, version: '4487.0.0', arch: 'arm64', usrPayloadBytes: 0 });
      expect(arm.channel).toBe('alpha');
      expect(arm.releaseDir).toBe(path.join(dir, 'alpha', 'arm64-usr', '4487.0.0'));
      expect((await tool('sgdisk', ['-v', arm.imagePath])).exitCode).toBe(0);
      const efi = arm.layout.find((p) => p.label === 'EFI-SYSTEM')!;
      const img = await extractPartition(arm.imagePath, efi.firstLba * SECTOR, efi.sectors * SECTOR, path.join(dir, 'efi.img'));
      const listing = await ok('mdir', ['-b', '-i', img, '::/EFI/boot'], { env: { MTOOLS_SKIP_CHECK: '1' } });
      expect(listing.toLowerCase()).toContain('bootaa64.efi');
      expect((await gpgVerify(arm.keyFile, arm.files.versionTxtSignature, arm.files.versionTxt)).exitCode).toBe(0);
    });
  }, 60_000);

  it('refuses a payload that cannot fit USR-A, before writing anything', async () => {
    await withTempDir('demo-big-', async (dir) => {
      const target = path.join(dir, 'out');
      await expect(buildSyntheticRelease({ root: target, usrPayloadBytes: 1024 * 1024 * 1024 })).rejects.toBeInstanceOf(InputError);
      await expect(stat(target)).rejects.toThrow();
    });
  });

  it('refuses versions that are not MAJOR.MINOR.PATCH', async () => {
    await expect(buildSyntheticRelease({ root: scratch, version: '4459.2' })).rejects.toBeInstanceOf(InputError);
  });
});

describe('synthetic release: served over HTTP', () => {
  it('serves the release the way the release server lays it out, resumable by range', async () => {
    const server = await serveStatic(rel.root);
    try {
      const fetchBytes = async (p: string, headers: Record<string, string> = {}) => {
        const res = await request(`${server.url}${p}`, { headers });
        return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
      };
      const index = JSON.parse((await fetchBytes('/releases.json')).body.toString()) as Record<string, { channel: string }>;
      expect(index[VERSION]?.channel).toBe('stable');
      // Through the `current` alias, then checked with gpg like a client would.
      const base = `/stable/amd64-usr/current`;
      const txt = await fetchBytes(`${base}/version.txt`);
      const sig = await fetchBytes(`${base}/version.txt.sig`);
      const key = await fetchBytes('/key.asc');
      expect([txt.status, sig.status, key.status]).toEqual([200, 200, 200]);
      await writeFile(path.join(scratch, 'version.txt'), txt.body);
      await writeFile(path.join(scratch, 'version.txt.sig'), sig.body);
      await writeFile(path.join(scratch, 'key.asc'), key.body);
      expect((await gpgVerify(path.join(scratch, 'key.asc'), path.join(scratch, 'version.txt.sig'), path.join(scratch, 'version.txt'))).exitCode).toBe(0);

      const size = (await stat(rel.files.imageBz2)).size;
      const half = Math.floor(size / 2);
      const first = await fetchBytes(`/stable/amd64-usr/${VERSION}/flatcar_production_image.bin.bz2`, { range: `bytes=0-${half - 1}` });
      const rest = await fetchBytes(`/stable/amd64-usr/${VERSION}/flatcar_production_image.bin.bz2`, { range: `bytes=${half}-` });
      expect([first.status, rest.status]).toEqual([206, 206]);
      const served = createHash('sha256').update(first.body).update(rest.body).digest('hex');
      const onDisk = (await ok('sha256sum', [rel.files.imageBz2])).split(' ')[0];
      expect(served).toBe(onDisk);
    } finally {
      await server.close();
    }
  });
});
