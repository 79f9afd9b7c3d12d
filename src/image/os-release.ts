import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { extractRange } from './offline/range.js';
import { run } from '../util/exec.js';
import path from 'node:path';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import type { Privileged } from '../privileged/privileged.js';
import { parseShellVars } from '../release/resolve.js';
import type { ResourceScope } from '../util/scope.js';
import { mountPartition } from './loop.js';

/** Reads /usr/lib/os-release from USR-A (mounted read-only at its offset). */
export async function readUsrOsRelease(priv: Privileged, scope: ResourceScope, image: string, table: GptTable): Promise<Record<string, string>> {
  const usr = locateFlatcarPartition(table, 'USR-A');
  const dir = await mountPartition(priv, scope, image, { offset: usr.startByte, size: usr.sizeBytes }, { fsType: 'btrfs', readOnly: true, label: 'USR-A' });
  return parseShellVars(await readFile(path.join(dir, 'lib/os-release'), 'utf8'));
}

/** The same without mounting: USR-A's bytes are copied out and only lib/os-release is restored. */
export async function readUsrOsReleaseOffline(image: string, table: GptTable, workDir: string): Promise<Record<string, string>> {
  const usr = locateFlatcarPartition(table, 'USR-A');
  const dir = await mkdtemp(path.join(workDir, 'usr-a-'));
  try {
    const copy = path.join(dir, 'usr-a.img');
    await extractRange(image, { offset: usr.startByte, size: usr.sizeBytes }, copy);
    const out = path.join(dir, 'tree');
    await mkdir(out);
    await run('btrfs', ['restore', '-i', '--path-regex', '^/(|lib(|/os-release))$', copy, out], { purpose: 'read /usr/lib/os-release from USR-A' });
    return parseShellVars(await readFile(path.join(out, 'lib/os-release'), 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
