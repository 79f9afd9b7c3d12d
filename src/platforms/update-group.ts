/**
 * The update group (channel) of the image, as Flatcar's SDK reads it before
 * writing vendor images (vm_image_util.sh setup_disk_image, V:390-396):
 * `GROUP=` of /usr/share/flatcar/update.conf (the SDK also reads
 * /etc/flatcar/update.conf, which a release image does not have: ROOT is
 * filled on first boot). pxe/iso write it into their read-only /usr; the
 * Vagrant catalogue is named after it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError } from '../errors.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { mountPartition } from '../image/loop.js';
import { extractRange } from '../image/offline/range.js';
import { restoreRegex } from '../image/os-release.js';
import type { Privileged } from '../privileged/privileged.js';
import { run } from '../util/exec.js';
import { ResourceScope } from '../util/scope.js';
import { withBtrfsMountLock } from './mount-lock.js';

export const UPDATE_CONF = 'share/flatcar/update.conf';

/** The last `GROUP=` of an update.conf (later lines win, as the SDK's `tail -n 1`), or undefined. Pure. */
export function parseUpdateGroup(text: string): string | undefined {
  let group: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^GROUP=(.*)$/.exec(line.trim());
    if (m) group = m[1]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return group || undefined;
}

/** update.conf with its GROUP= line(s) set to `group`, as the SDK's `sed -e 's/GROUP=.*$/GROUP=...'` (V:544-545). Pure. */
export function rewriteUpdateGroup(text: string, group: string): string {
  return text.replace(/GROUP=.*$/gm, `GROUP=${group}`);
}

/** /usr/share/flatcar/update.conf of USR-A: through a read-only mount as root, by restoring that one path offline. */
export async function readUpdateConf(priv: Privileged | undefined, image: string, table: GptTable, scratchDir: string): Promise<string> {
  const usr = locateFlatcarPartition(table, 'USR-A');
  const range = { offset: usr.startByte, size: usr.sizeBytes };
  const missing = missingUpdateConf;
  if (priv) {
    return withBtrfsMountLock(async () => {
      const scope = new ResourceScope();
      try {
        const dir = await mountPartition(priv, scope, image, range, { fsType: 'btrfs', readOnly: true, label: 'USR-A' });
        return await readFile(path.join(dir, UPDATE_CONF), 'utf8').catch(() => {
          throw missing();
        });
      } finally {
        await scope.release();
      }
    });
  }
  const dir = await mkdtemp(path.join(scratchDir, 'update-conf-'));
  try {
    const copy = path.join(dir, 'usr-a.img');
    await extractRange(image, range, copy);
    await run('btrfs', ['restore', '-i', '--path-regex', restoreRegex(UPDATE_CONF), copy, path.join(dir, 'tree')], { purpose: `read /usr/${UPDATE_CONF} from USR-A` });
    return await readFile(path.join(dir, 'tree', UPDATE_CONF), 'utf8').catch(() => {
      throw missing();
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The GROUP of an update.conf; none is an error (the SDK dies there, V:394-396). */
export function requireUpdateGroup(text: string): string {
  const group = parseUpdateGroup(text);
  if (!group) throw new DiskFormatError(`/usr/${UPDATE_CONF} of the image names no GROUP`, 'use a Flatcar image as released');
  return group;
}

export function missingUpdateConf(): DiskFormatError {
  return new DiskFormatError(`the image has no /usr/${UPDATE_CONF}, so its update group (channel) is unknown`, 'use a Flatcar image as released: the SDK refuses such an image too');
}

/** The image's update group. */
export async function readUpdateGroup(priv: Privileged | undefined, image: string, table: GptTable, scratchDir: string): Promise<string> {
  return requireUpdateGroup(await readUpdateConf(priv, image, table, scratchDir));
}
