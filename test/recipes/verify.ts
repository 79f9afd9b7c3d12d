/** Reading a built recipe image back and comparing it with a fixture's expectation. */
import { expect } from 'vitest';
import { run } from '../../src/util/exec.js';
import { checkSysext } from '../../src/sysext/check.js';
import { openSysextImage } from '../../src/sysext/image-reader.js';
import type { Expectation } from './fixtures.js';
import type { Arch } from '../../src/arch.js';

export function expectedRelease(os: string, arch: Arch, reload: boolean): string {
  return [`ID=${os}`, ...(os === '_any' ? [] : ['SYSEXT_LEVEL=1.0']), `ARCHITECTURE=${arch}`, ...(reload ? ['EXTENSION_RELOAD_MANAGER=1'] : [])].join('\n') + '\n';
}

const modeOf = (m: number) => `0${m.toString(8)}`;

/** Everything the expectation says, plus: only usr/ at the top, all root-owned, check clean. */
export async function verifyImage(file: string, name: string, arch: Arch, exp: Expectation): Promise<void> {
  // The squashfs tool's own view of ownership, independent of the project's parser.
  const listing = (await run('unsquashfs', ['-lln', file])).stdout.trim().split('\n').filter((l) => /^[-dlcbps][rwx-]{3}/.test(l));
  expect(listing.length).toBeGreaterThan(3);
  for (const line of listing) expect(line.split(/\s+/)[1], line).toBe('0/0');

  const image = await openSysextImage(file);
  try {
    const paths = image.entries.map((e) => e.path);
    expect(paths.filter((p) => !p.includes('/')).sort()).toEqual(exp.tops ?? ['usr']);
    expect((await image.readFile(`usr/lib/extension-release.d/extension-release.${name}`)).toString()).toBe(expectedRelease(exp.os, arch, exp.reload));

    for (const [p, mode] of Object.entries(exp.files)) {
      const e = image.entry(p);
      expect(e?.type, `${p} in ${name}`).toBe('file');
      expect(modeOf(e!.mode), p).toBe(modeOf(mode));
      expect([e!.uid, e!.gid], p).toEqual([0, 0]);
    }
    for (const [p, target] of Object.entries(exp.symlinks ?? {})) {
      const e = image.entry(p);
      expect(e?.type, p).toBe('symlink');
      expect(e!.target, p).toBe(target);
    }
    for (const p of exp.absent ?? []) {
      expect(paths.filter((x) => x === p || x.startsWith(`${p}/`)), `${p} must not be in ${name}`).toEqual([]);
    }
    for (const [p, content] of Object.entries(exp.contents ?? {})) {
      expect((await image.readFile(p)).equals(Buffer.from(content)), `content of ${p}`).toBe(true);
    }
    for (const [p, lines] of Object.entries(exp.lines ?? {})) {
      const text = (await image.readFile(p)).toString().split('\n');
      for (const line of lines) expect(text, `${p} must hold ${line}`).toContain(line);
    }
    const upholds = exp.upholds ?? [];
    for (const [target, unit] of upholds) {
      const dropIn = `usr/lib/systemd/system/${target}.d/10-${unit.slice(0, unit.lastIndexOf('.'))}.conf`;
      expect((await image.readFile(dropIn)).toString(), dropIn).toBe(`[Unit]\nUpholds=${unit}\n`);
    }
    // No Upholds= drop-ins beyond the expected ones.
    const dropIns = paths.filter((p) => /^usr\/lib\/systemd\/system\/[^/]+\.target\.d\/[^/]+\.conf$/.test(p));
    expect(dropIns.length, dropIns.join(', ')).toBe(upholds.length);
    // Every unit the image ships parses and points at programs that exist (checked by the checker).
  } finally {
    await image.close();
  }

  const check = await checkSysext(file, { expectName: name });
  expect(check.findings.filter((f) => f.severity === 'error')).toEqual([]);
  expect(check.format).toBe('squashfs');
}
