/**
 * The update group (channel) of the image, as Flatcar's SDK reads it before
 * writing vendor images (vm_image_util.sh setup_disk_image, V:390-396):
 * `GROUP=` of /usr/share/flatcar/update.conf (the SDK also reads
 * /etc/flatcar/update.conf, which a release image does not have: ROOT is
 * filled on first boot). pxe/iso write it into their read-only /usr; the
 * Vagrant catalogue is named after it.
 */
import type { Backend } from '../backend/index.js';
import { DiskFormatError } from '../errors.js';
import type { GptTable } from '../gpt/types.js';

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

/** /usr/share/flatcar/update.conf of USR-A, read by the backend. */
export async function readUpdateConf(backend: Backend, image: string, table: GptTable, scratchDir: string): Promise<string> {
  const text = await backend.readUsrFile(image, table, UPDATE_CONF, scratchDir);
  if (text === undefined) throw missingUpdateConf();
  return text;
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
export async function readUpdateGroup(backend: Backend, image: string, table: GptTable, scratchDir: string): Promise<string> {
  return requireUpdateGroup(await readUpdateConf(backend, image, table, scratchDir));
}
