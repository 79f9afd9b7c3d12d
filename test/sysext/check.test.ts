import { chown, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/util/exec.js';
import { checkSysext, formatFindings, type CheckResult } from '../../src/sysext/check.js';
import { createSysext, SYSEXT_FORMATS } from '../../src/sysext/create.js';
import { EM_AARCH64, EM_X86_64 } from '../../src/sysext/elf.js';
import { cleanupAll, elfHeader, RELEASE, squash, tempDir, writeTree, type TreeSpec } from './helpers.js';

afterAll(cleanupAll);

const GOOD_RELEASE = 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n';

/** A clean image's tree: binary, unit, Upholds= drop-in, /opt content. */
function cleanTree(name: string): TreeSpec {
  return {
    [RELEASE(name)]: GOOD_RELEASE,
    'usr/bin/hello': elfHeader(EM_X86_64),
    'usr/lib/systemd/system/hello.service': '[Unit]\nDescription=hello\n[Service]\nExecStartPre=-/sbin/hello --check\nExecStart=/opt/hello/bin/hello\n',
    'usr/lib/systemd/system/multi-user.target.d/10-hello.conf': '[Unit]\nUpholds=hello.service\nWants=docker.service systemd-networkd.service\n',
    'opt/hello/bin/hello': elfHeader(EM_X86_64),
  };
}

/** Build FILE_NAME from the clean tree with OVERRIDES (null removes an entry). */
async function fixture(fileName: string, overrides: Record<string, TreeSpec[string] | null> = {}, options: { allRoot?: boolean; chownAll?: number } = {}): Promise<string> {
  const name = fileName.replace(/\.raw$/, '').split(/-(?=\d)/)[0]!;
  const spec: TreeSpec = { ...cleanTree(name) };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) delete spec[k];
    else spec[k] = v;
  }
  const dir = await writeTree(path.join(await tempDir(), 'tree'), spec);
  if (options.chownAll !== undefined) for (const rel of Object.keys(spec)) await chown(path.join(dir, rel), options.chownAll, options.chownAll);
  return squash(dir, path.join(await tempDir(), fileName), options);
}

const rules = (r: CheckResult, severity = 'error') => [...new Set(r.findings.filter((f) => f.severity === severity).map((f) => f.rule))].sort();

describe('checkSysext', () => {
  it('passes a clean image with no errors and no warnings', async () => {
    const r = await checkSysext(await fixture('hello.raw'));
    expect(formatFindings(r)).toBe('');
    expect(r.ok).toBe(true);
    expect(r.format).toBe('squashfs');
  });

  it('takes NAME from bakery file names NAME-VERSION-ARCH.raw', async () => {
    const r = await checkSysext(await fixture('hello-1.2.3-x86-64.raw'));
    expect(r.ok).toBe(true);
  });

  it('extension-release-name: release file named for another image', async () => {
    const file = await fixture('hello.raw', { [RELEASE('hello')]: null, [RELEASE('other')]: GOOD_RELEASE });
    const r = await checkSysext(file);
    expect(rules(r)).toEqual(['extension-release-name']);
    expect(r.ok).toBe(false);
    expect((await checkSysext(file, { expectName: 'other' })).ok).toBe(true);
  });

  it('extension-release-present: no release file at all', async () => {
    expect(rules(await checkSysext(await fixture('hello.raw', { [RELEASE('hello')]: null })))).toEqual(['extension-release-present']);
  });

  it('extension-release-id: invalid or missing ID', async () => {
    expect(rules(await checkSysext(await fixture('hello.raw', { [RELEASE('hello')]: 'ID=Flatcar\nSYSEXT_LEVEL=1.0\n' })))).toEqual(['extension-release-id']);
    expect(rules(await checkSysext(await fixture('hello.raw', { [RELEASE('hello')]: 'SYSEXT_LEVEL=1.0\n' })))).toEqual(['extension-release-id']);
  });

  it('extension-release-level, -arch and -syntax', async () => {
    const r = await checkSysext(await fixture('hello.raw', { [RELEASE('hello')]: 'ID=flatcar\nARCHITECTURE=amd64\nBROKEN LINE\n' }));
    expect(rules(r)).toEqual(['extension-release-arch', 'extension-release-level', 'extension-release-syntax']);
  });

  it('elf-arch: an arm64 binary in an x86-64 image is an error', async () => {
    const r = await checkSysext(await fixture('hello.raw', { 'usr/bin/intruder': elfHeader(EM_AARCH64) }));
    expect(rules(r)).toEqual(['elf-arch']);
    expect(r.findings.find((f) => f.rule === 'elf-arch')?.path).toBe('usr/bin/intruder');
  });

  it('elf-arch: several architectures without ARCHITECTURE= is a warning', async () => {
    const r = await checkSysext(await fixture('hello.raw', { [RELEASE('hello')]: 'ID=_any\n', 'usr/bin/intruder': elfHeader(EM_AARCH64) }));
    expect(r.ok).toBe(true);
    expect(rules(r, 'warning')).toEqual(['elf-arch']);
  });

  it('root-owned: files owned by uid 1000 (squashfs built without -all-root)', async () => {
    const r = await checkSysext(await fixture('hello.raw', {}, { allRoot: false, chownAll: 1000 }));
    expect(rules(r)).toEqual(['root-owned']);
    expect(r.findings.some((f) => f.path === 'usr/bin/hello' && /1000:1000/.test(f.message))).toBe(true);
  });

  it('root-owned: also read from an ext4 image made by mkfs.ext4 -d', async () => {
    const dir = await writeTree(path.join(await tempDir(), 'tree'), { ...cleanTree('hello') });
    await chown(path.join(dir, 'usr/bin/hello'), 1000, 1000);
    const img = path.join(await tempDir(), 'hello.raw');
    await truncate(img, 0).catch(() => writeFile(img, ''));
    await run('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-E', 'root_owner=0:0', '-d', dir, img, '4M']);
    const r = await checkSysext(img);
    expect(r.format).toBe('ext4');
    expect(r.findings.filter((f) => f.rule === 'root-owned').map((f) => f.path)).toEqual(['usr/bin/hello']);
  });

  it('top-level: etc/ is not part of a sysext', async () => {
    const r = await checkSysext(await fixture('hello.raw', { 'etc/hello.conf': 'x' }));
    expect(rules(r)).toEqual(['top-level']);
    expect(r.findings.find((f) => f.rule === 'top-level')?.path).toBe('etc');
  });

  it('exec-path: missing under /opt is an error, missing under /usr a warning', async () => {
    const r = await checkSysext(await fixture('hello.raw', { 'opt/hello/bin/hello': null, 'usr/bin/hello': null }));
    expect(rules(r)).toEqual(['exec-path']);
    expect(r.findings.find((f) => f.severity === 'error')?.message).toMatch(/\/opt\/hello\/bin\/hello/);
    expect(r.findings.find((f) => f.severity === 'warning')?.message).toMatch(/\/sbin\/hello is not shipped; must exist on the base OS/);
  });

  it('exec-path: a missing /opt program with the "-" prefix is only a warning (systemd tolerates it)', async () => {
    const r = await checkSysext(
      await fixture('hello.raw', { 'usr/lib/systemd/system/hello.service': '[Unit]\nDescription=hello\n[Service]\nExecStartPre=-/opt/nvidia/bin/setup\nExecStart=/opt/hello/bin/hello\n' }),
    );
    expect(r.ok).toBe(true);
    expect(r.findings).toEqual([expect.objectContaining({ severity: 'warning', rule: 'exec-path', message: expect.stringMatching(/\/opt\/nvidia\/bin\/setup/) })]);
  });

  it('dropin-unit: Upholds= of a unit the image does not ship', async () => {
    const r = await checkSysext(await fixture('hello.raw', { 'usr/lib/systemd/system/multi-user.target.d/10-hello.conf': '[Unit]\nUpholds=ghost.service\n' }));
    expect(rules(r)).toEqual(['dropin-unit']);
    expect(r.findings[0]?.message).toMatch(/ghost\.service/);
  });

  it('wants-symlink: .wants/ links are a warning recommending Upholds=', async () => {
    const r = await checkSysext(await fixture('hello.raw', { 'usr/lib/systemd/system/multi-user.target.wants/hello.service': { symlink: '../hello.service' } }));
    expect(r.ok).toBe(true);
    expect(rules(r, 'warning')).toEqual(['wants-symlink']);
    expect(r.findings[0]?.message).toMatch(/Upholds=/);
  });

  it('filesystem: a file that is no filesystem image', async () => {
    const file = path.join(await tempDir(), 'junk.raw');
    await writeFile(file, Buffer.alloc(70000, 1));
    const r = await checkSysext(file);
    expect(rules(r)).toEqual(['filesystem']);
  });

  it.each(SYSEXT_FORMATS)('reads %s images made by createSysext', async (format) => {
    const src = await writeTree(await tempDir(), Object.fromEntries(Object.entries(cleanTree('x')).filter(([k]) => !k.includes('extension-release'))));
    const made = await createSysext({ sourceDir: src, name: 'hello', outputDir: await tempDir(), format, os: 'flatcar', arch: 'x86-64' });
    const r = await checkSysext(made.path);
    expect(r.format).toBe(format);
    expect(r.findings).toEqual([]);
  });

  it('formats one line per finding', () => {
    const text = formatFindings({
      findings: [
        { severity: 'error', rule: 'top-level', message: 'only usr/ and opt/', path: 'etc' },
        { severity: 'warning', rule: 'elf-arch', message: 'several' },
      ],
    });
    expect(text).toBe('error  top-level  etc: only usr/ and opt/\nwarning  elf-arch  several');
  });
});
