import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { completionScript } from '../../src/cli/completion.js';
import { buildProgram } from '../../src/cli/main.js';
import { manPage } from '../../src/cli/man.js';
import { settingsFor } from '../../src/settings.js';

/** Asks real bash what it completes for the words typed so far. */
async function complete(words: string[]): Promise<string[]> {
  const script = `${completionScript(buildProgram(), 'bash')}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _flatbake; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await execa('bash', ['-c', script], { cwd: '/' } /* files complete too: / has none named like options */);
  return r.stdout.split('\n').filter(Boolean);
}

describe('completion and man page from the declarations', () => {
  it('bash completes commands, subcommands and each command\'s options', async () => {
    expect(await complete(['flatbake', 'ins'])).toContain('inspect');
    expect(await complete(['flatbake', 'sysext', 'bu'])).toContain('build');
    expect(await complete(['flatbake', '--rel'])).toEqual(['--release', '--release-server', '--releases-json']);
    expect(await complete(['flatbake', 'sysext', 'build', '--re'])).toEqual(['--recipes-dir', '--retries']);
    const bake = await complete(['flatbake', 'bake', '--']);
    for (const s of settingsFor('bake')) expect(bake).toContain(`--${s.key}`);
  });

  it('fish and zsh scripts name the same options; an unknown shell is a usage error', () => {
    const program = buildProgram();
    expect(completionScript(program, 'fish')).toContain("-l release-server -d 'base of release files");
    expect(completionScript(program, 'zsh')).toMatch(/^#compdef flatbake\n[^]*bashcompinit[^]*complete -o filenames -F _flatbake flatbake/);
    expect(() => completionScript(program, 'tcsh')).toThrow(/no completion for shell 'tcsh'/);
  });

  it('groff reads the man page without warnings and it lists every bake option', async () => {
    const page = manPage(buildProgram());
    const r = await execa('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: page });
    expect(r.stderr).toBe('');
    const text = (await execa('groff', ['-man', '-Tutf8', '-P', '-c', '-P', '-b', '-P', '-u'], { input: page, env: { GROFF_NO_SGR: '1' } })).stdout;
    for (const s of settingsFor('bake')) expect(text).toContain(`--${s.key}`);
    expect(text).toMatch(/flatbake completion <shell>/);
  });
});
