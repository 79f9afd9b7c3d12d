import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/** What a user sees for mistakes on the command line: one error line, a hint, exit 2, nothing done. */
describe('usage errors', () => {
  it('bare flatbake prints the usage and exits 2', async () => {
    const r = await runCli([]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^Usage: flatbake /);
    expect(r.stderr).toMatch(/flatbake: error: no command and no sysexts given\nflatbake: hint: /);
    expect(r.stdout).toBe('');
  });

  it('an unknown command says so with the nearest one, instead of baking it', async () => {
    const r = await runCli(['inpsect', 'x']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n').slice(0, 2)).toEqual([
      "flatbake: error: unknown command 'inpsect' (did you mean inspect?)",
      'flatbake: hint: run `flatbake --help` for the commands; sysexts to bake are written NAME:FILE',
    ]);
    expect((await runCli(['sysext', 'chek', 'x.raw'])).stderr).toMatch(/^flatbake: error: unknown command 'chek'.*\nflatbake: hint: /);
  });

  it("commander's own errors carry the flatbake: prefix and a hint", async () => {
    const r = await runCli(['bake', '--relase', 'stable', 'a:b.raw']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("flatbake: error: unknown option '--relase' (did you mean --release?)\nflatbake: hint: run `flatbake --help`, or `flatbake COMMAND --help`, for the options");
    const missing = await runCli(['sysext', 'build']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^flatbake: error: missing required argument 'recipe'\nflatbake: hint: /);
  });

  it('unknown vendor, recipe and bad values exit 2', async () => {
    const vendor = await runCli(['--vendor', 'qemu_uefii', '--output', '/nonexistent-flatbake-test', 'a:b.raw']);
    expect(vendor.exitCode).toBe(2);
    expect(vendor.stderr).toMatch(/^flatbake: error: unknown vendor 'qemu_uefii'/);
    const recipe = await runCli(['sysext', 'build', 'wasmtim', '24.0.0', '--output', '/nonexistent-flatbake-test']);
    expect(recipe.exitCode).toBe(2);
    expect(recipe.stderr).toMatch(/^flatbake: error: unknown recipe "wasmtim" \(did you mean wasmtime\?\)\nflatbake: hint: known recipes: /);
    const retries = await runCli(['--retries', 'many', 'a:b.raw']);
    expect(retries.exitCode).toBe(2);
    expect(retries.stderr).toMatch(/^flatbake: error: --retries must be a whole number from 0 to 100, got 'many'\nflatbake: hint: /);
    const config = await runCli(['--config', '/nonexistent-flatbake-test.yaml']);
    expect(config.exitCode).toBe(1);
    expect(config.stderr).toMatch(/^flatbake: error: cannot read the config file \/nonexistent-flatbake-test.yaml: ENOENT\nflatbake: hint: /);
  });
});
