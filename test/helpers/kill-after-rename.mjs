// Test hook, loaded with `node --import` by test/e2e/publish-kill.test.ts (never by flatbake
// itself): SIGKILLs this process right after the Nth rename of a file into the directory
// FLATBAKE_TEST_KILL_DIR, to stop a bake in the middle of its publish step.
import fs from 'node:fs';
import path from 'node:path';
import { syncBuiltinESMExports } from 'node:module';

const dir = process.env.FLATBAKE_TEST_KILL_DIR;
let left = Number(process.env.FLATBAKE_TEST_KILL_AFTER ?? 1);
if (dir) {
  const rename = fs.promises.rename;
  fs.promises.rename = async (from, to) => {
    await rename(from, to);
    if (path.dirname(path.resolve(String(to))) === path.resolve(dir) && --left === 0) process.kill(process.pid, 'SIGKILL');
  };
  syncBuiltinESMExports();
}
