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

// Last-resort guards, so that no failure ends in Node's own dump or exit status 13. The code
// awaits every promise it makes; these only catch a bug in that, and still report it as one
// clear error after releasing what the run holds.
// - A rejection nobody handles yet is remembered, not fatal: the await that handles it usually
//   follows. One still unhandled when main() is done fails the run.
const unhandled = new Map<Promise<unknown>, unknown>();
process.on('unhandledRejection', (reason, promise) => void unhandled.set(promise, reason));
process.on('rejectionHandled', (promise) => void unhandled.delete(promise));
// - The event loop running dry while main() still waits means a promise that can never settle.
let finished = false;
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  void (async () => {
    const { releaseAllScopes } = await import('./util/scope.js');
    await releaseAllScopes();
    process.stderr.write('flatbake: error: the run stopped before it finished (a task waited for something that never came)\n');
    process.stderr.write('flatbake: hint: this is a flatbake bug; rerun with FLATBAKE_DEBUG=1 and report it\n');
    process.exit(1);
  })();
});

const { main, reportError } = await import('./cli/main.js');
let code = await main(process.argv.slice(2));
finished = true;
const [leftover] = unhandled.values();
if (code === 0 && unhandled.size > 0) code = reportError(leftover);
process.exitCode = code;
