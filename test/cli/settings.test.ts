import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownOptionTable, updateReadme } from '../../src/cli/docs.js';
import { buildProgram } from '../../src/cli/main.js';
import { commanderOptions, resolveSettings } from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';
import { defaultSettings, plainHelp, SETTINGS, settingsFor, type SettingCommand } from '../../src/settings.js';
import { REPO } from '../helpers/cli.js';

/** Parses argv the way the bake command does, without running it. */
function parse(which: SettingCommand, argv: string[], cwd = '/work/dir') {
  const command = new Command('t').exitOverride().allowExcessArguments();
  for (const option of commanderOptions(which)) command.addOption(option);
  command.parse(argv, { from: 'user' });
  return resolveSettings(command, which, {}, cwd);
}

/** The commander command for `flatbake a b`. */
function commandOf(...names: string[]): Command {
  let command = buildProgram();
  for (const name of names) command = command.commands.find((c) => c.name() === name)!;
  return command;
}

describe('settings declared once', () => {
  it('the README table is the rendering of the declarations (npm run docs)', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain(markdownOptionTable('bake'));
    expect(updateReadme(readme, 'bake')).toBe(readme);
    // every bake setting has a row, in declaration order
    const rows = markdownOptionTable('bake').split('\n').slice(2);
    expect(rows.map((r) => r.split('`')[1]!.split(' ')[0])).toEqual(settingsFor('bake').map((s) => `--${s.key}`));
  });

  it('each command that takes a setting shows the same help for it', () => {
    const where: Record<SettingCommand, string[]> = { bake: ['bake'], demo: ['demo'], 'sysext build': ['sysext', 'build'], 'sysext recipes': ['sysext', 'recipes'], release: ['release'], 'oci-rootfs': ['oci-rootfs'] };
    for (const setting of SETTINGS) {
      for (const which of setting.commands) {
        const option = commandOf(...where[which]).options.find((o) => o.long === `--${setting.key}`);
        expect(option, `${which} --${setting.key}`).toBeDefined();
        expect(option!.description.startsWith(plainHelp(setting.help)), `${which} --${setting.key}`).toBe(true);
      }
    }
    // --mirror, --cache-dir, --no-cache, --retries are not redeclared by hand anywhere
    for (const which of ['sysext build', 'release', 'oci-rootfs'] as const) {
      const options = commandOf(...where[which]).options.map((o) => o.long);
      expect(options.filter((o) => o === '--mirror' || o === '--cache-dir' || o === '--no-cache')).toHaveLength(3);
    }
    expect(commandOf('sysext', 'build').options.map((o) => o.long)).toContain('--retries');
    expect(commandOf('release').options.map((o) => o.long)).toContain('--retries');
  });

  it('with nothing given, every setting is its default (paths made absolute)', () => {
    const settings = parse('bake', []);
    expect(settings).toEqual({ ...defaultSettings('bake', '/work/dir'), output: '/work/dir' });
    expect(settings).toMatchObject({ vendors: ['generic'], arch: 'x86-64', release: 'stable', cache: true, retries: 5, backend: 'auto', oemSysexts: [], noOemSysext: false, mirror: undefined });
    expect(parse('demo', []).output).toBe('/work/dir/flatbake-demo');
  });

  it('parses, negates, repeats and aliases', () => {
    const s = parse('bake', ['--vendor', 'qemu_uefi,azure', '--arch', 'aarch64', '--no-cache', '--install_to', 'oem:/sysexts', '--oem-sysext', 'a.raw', '--oem-sysext', '/b.raw', '--retries', '0', '--cache-dir', 'c', '--signing-key', 'k.asc', '--image', 'base.bin', '--fetch']);
    expect(s).toMatchObject({ vendors: ['qemu_uefi', 'azure'], arch: 'arm64', cache: false, installTo: 'oem:/sysexts', oemSysexts: ['/work/dir/a.raw', '/b.raw'], retries: 0, cacheDir: '/work/dir/c', signingKey: '/work/dir/k.asc', image: '/work/dir/base.bin', fetch: true });
    expect(parse('bake', ['--signing-key', 'https://example.org/k.asc']).signingKey).toBe('https://example.org/k.asc');
    expect(parse('bake', ['--no-oem-sysext'])).toMatchObject({ noOemSysext: true, oemSysexts: [] });
    expect(parse('bake', ['--recipes-dir', 'mine', '--recipes-dir', '/team']).recipesDirs).toEqual(['/work/dir/mine', '/team']);
  });

  it('bad values are usage errors with a hint', () => {
    for (const argv of [['--retries', 'x'], ['--retries', '101'], ['--arch', 'mips'], ['--backend', 'loop']]) {
      let error: unknown;
      try {
        parse('bake', argv);
      } catch (e) {
        error = e;
      }
      expect(error, argv.join(' ')).toBeInstanceOf(UsageError);
      expect((error as UsageError).hint).toBeTruthy();
    }
  });
});
