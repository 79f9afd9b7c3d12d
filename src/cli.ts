#!/usr/bin/env node
// No static imports: undici 8 and commander 15 need Node.js >= 22.19, and a user who runs
// dist/cli.js with an older `node` must get this one line, not a syntax error from a dependency.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `flatbake: Node.js >= 22.19 is needed, this is ${process.versions.node}\n` +
      'hint: run scripts/setup.sh, then `npx flatbake ...` (it uses the Node.js 24 in node_modules/.bin)\n',
  );
  process.exit(1);
}

// `flatbake vendors | head`: a closed pipe is not an error worth a stack trace
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const { main } = await import('./cli/main.js');
process.exitCode = await main(process.argv.slice(2));
