import { Command } from 'commander';
import { NotImplementedError } from '../errors.js';

export function registerSysext(program: Command): void {
  const sysext = program.command('sysext').description('build and check sysext images');
  for (const [name, description] of [
    ['create', 'turn a folder into NAME.raw'],
    ['build', 'build a sysext from a recipe'],
    ['check', 'lint a sysext image'],
    ['recipes', 'list the recipes'],
  ] as const) {
    sysext
      .command(name)
      .description(`${description} (not implemented yet)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new NotImplementedError(`flatbake sysext ${name}`);
      });
  }
}
