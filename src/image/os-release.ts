import { readFile } from 'node:fs/promises';
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
