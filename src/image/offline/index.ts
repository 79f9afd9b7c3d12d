/** The offline backend's partition editors (the interface is src/backend/editor.ts). */
import { readGptFromFile } from '../../gpt/file.js';
import { locateFlatcarPartition } from '../../gpt/locate.js';
import { openBtrfsEditor, type OpenBtrfsOptions } from './btrfs.js';
import type { EditablePartition, PartitionEditor } from '../../backend/editor.js';
import { openExt4Editor } from './ext4.js';

export { openBtrfsEditor, type OpenBtrfsOptions } from './btrfs.js';
export { openExt4Editor, type OpenExt4Options } from './ext4.js';
export { detectOwnershipMode, type OwnershipMode } from './ownership.js';

/** Finds ROOT (ext4) or OEM (btrfs) in the image's GPT by label and opens the matching editor. */
export async function openPartitionEditor(image: string, partition: EditablePartition, options: Pick<OpenBtrfsOptions, 'ownership'> = {}): Promise<PartitionEditor> {
  const table = await readGptFromFile(image);
  const part = locateFlatcarPartition(table, partition);
  const range = { offset: part.startByte, size: part.sizeBytes };
  return partition === 'ROOT' ? openExt4Editor(image, range, { partition }) : openBtrfsEditor(image, range, { partition, ...options });
}
