import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { installUnit, parseUnit, unitValues, upholdsDropIn, upholdsDropInPath } from '../../src/sysext/units.js';
import { cleanupAll, tempDir } from './helpers.js';

afterEach(cleanupAll);

describe('installUnit / upholdsDropIn', () => {
  it('writes the unit under usr/lib/systemd/system and an Upholds= drop-in for the target', async () => {
    const root = await tempDir();
    const unit = await installUnit(root, 'hello.service', '[Service]\nExecStart=/usr/bin/hello');
    expect(unit).toBe(path.join(root, 'usr/lib/systemd/system/hello.service'));
    expect(await readFile(unit, 'utf8')).toBe('[Service]\nExecStart=/usr/bin/hello\n');
    const dropIn = await upholdsDropIn(root, 'multi-user.target', 'hello.service');
    expect(dropIn).toBe(path.join(root, 'usr/lib/systemd/system/multi-user.target.d/10-hello.conf'));
    expect(await readFile(dropIn, 'utf8')).toBe('[Unit]\nUpholds=hello.service\n');
    expect(upholdsDropInPath('sockets.target', 'x.socket', 5)).toBe('usr/lib/systemd/system/sockets.target.d/05-x.conf');
  });
  it('refuses names that are not unit names or would escape the directory', async () => {
    const root = await tempDir();
    await expect(installUnit(root, '../evil.service', '')).rejects.toThrow(InputError);
    await expect(installUnit(root, 'noext', '')).rejects.toThrow(InputError);
    await expect(upholdsDropIn(root, 'multi-user.target', 'a/b.service')).rejects.toThrow(InputError);
    await expect(upholdsDropIn(root, 'multi-user.target', 'a.service', { priority: 100 })).rejects.toThrow(InputError);
  });
});

describe('parseUnit', () => {
  it('reads sections, repeated keys, comments and continuations', () => {
    const unit = parseUnit(
      '# head\n[Unit]\nDescription=Demo\nWants=a.service\nWants=b.service c.service\n\n[Service]\n; note\nExecStartPre=-/usr/bin/prep\nExecStart=/usr/bin/run \\\n  --flag \\\n# comment inside\n  --other\n',
    );
    expect(unit.errors).toEqual([]);
    expect(unit.sections.map((s) => s.name)).toEqual(['Unit', 'Service']);
    expect(unitValues(unit, 'Unit', 'Wants')).toEqual(['a.service', 'b.service c.service']);
    // systemd turns the backslash into a space; only the words matter.
    expect(unitValues(unit, 'Service', 'ExecStart').map((v) => v.split(/\s+/))).toEqual([['/usr/bin/run', '--flag', '--other']]);
    expect(unit.sections[1]!.entries[0]).toEqual({ key: 'ExecStartPre', value: '-/usr/bin/prep', line: 9 });
  });
  it('treats an empty assignment as a reset, like systemd', () => {
    expect(unitValues(parseUnit('[Unit]\nWants=a\nWants=\nWants=b\n'), 'Unit', 'Wants')).toEqual(['b']);
  });
  it('reports assignments outside sections and lines without =', () => {
    const unit = parseUnit('Orphan=1\n[Unit\n[Service]\njunk\n');
    expect(unit.errors.map((e) => e.line)).toEqual([1, 2, 4]);
  });
});
