/**
 * Before the boot: what the image links in /etc/extensions, what each linked
 * extension must show under /usr or /opt once merged (read from the extension
 * image itself), and the verdict unit written into the overlay's ROOT.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError, FlatbakeError } from '../errors.js';
import { GptError, locateFlatcarPartition } from '../gpt/index.js';
import type { PartitionEditor } from '../backend/editor.js';
import { openExt4Editor } from '../image/offline/index.js';
import { openSysextImage } from '../sysext/image-reader.js';
import { parseExtensionRelease } from '../sysext/extension-release.js';
import { copyRangeIn, copyRangeOut, readOverlayGpt } from './overlay.js';
import { UNIT_NAME, verdictUnit } from './guest.js';

export const EXTENSIONS_DIR = '/etc/extensions';
/** Files hashed per extension: enough to show its tree is there, few enough to keep the unit short. */
export const FILES_PER_EXTENSION = 8;

export interface ExpectedFile {
  path: string;
  /** Absent when the extension image could not be read from the host (it lives on OEM or /usr). */
  sha256?: string;
}

export interface LinkedExtension {
  /** NAME of /etc/extensions/NAME.raw, which systemd-sysext calls the extension. */
  name: string;
  link: string;
  /** Where the link points (after following links inside ROOT). */
  target?: string;
  /** Why the host could not read the image (not a verdict: the guest decides). */
  hostNote?: string;
  /** Its extension-release fields, when read. */
  release?: Record<string, string>;
  expected: ExpectedFile[];
}

const MAX_HOPS = 8;

/** Follows a link chain inside ROOT; stops where the path leaves ROOT (/usr, /oem) or ends. */
async function resolveInRoot(editor: PartitionEditor, start: string): Promise<{ path: string; kind: 'file' | 'missing' | 'elsewhere' | 'other' }> {
  let p = start;
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    if (/^\/(usr|oem)(\/|$)/.test(p)) return { path: p, kind: 'elsewhere' };
    const info = await editor.lstat(p).catch(() => undefined);
    if (!info) return { path: p, kind: 'missing' };
    if (info.type === 'file') return { path: p, kind: 'file' };
    if (info.type !== 'symlink' || !info.target) return { path: p, kind: 'other' };
    p = path.posix.resolve(path.posix.dirname(p), info.target);
  }
  return { path: p, kind: 'other' };
}

async function describe(editor: PartitionEditor, work: string, entry: string, index: number): Promise<LinkedExtension> {
  const name = entry.replace(/\.raw$/, '');
  const link = `${EXTENSIONS_DIR}/${entry}`;
  // Every extension carries this file; merged, it shows under /usr whatever else the image holds.
  const releaseFile: ExpectedFile = { path: `/usr/lib/extension-release.d/extension-release.${name}` };
  const out: LinkedExtension = { name, link, expected: [releaseFile] };
  const target = await resolveInRoot(editor, link);
  out.target = target.path;
  if (target.kind === 'missing') return { ...out, hostNote: `${target.path} does not exist on ROOT` };
  if (target.kind === 'elsewhere') return { ...out, hostNote: `${target.path} is not on ROOT; only the guest checks it` };
  if (target.kind === 'other') return { ...out, hostNote: `${target.path} is not a regular file` };
  const copy = path.join(work, `extension-${index}.raw`);
  await writeFile(copy, await editor.readFile(target.path));
  const image = await openSysextImage(copy).catch((err: Error) => err);
  if (image instanceof Error) return { ...out, hostNote: `cannot read ${target.path}: ${image.message.split('\n')[0]}` };
  try {
    const rel = image.entry(releaseFile.path.slice(1));
    if (rel?.type === 'file') {
      const text = (await image.readFile(releaseFile.path.slice(1))).toString('utf8');
      out.release = parseExtensionRelease(text).fields;
      releaseFile.sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
    }
    const files = image.entries
      .filter((e) => e.type === 'file' && /^(usr|opt)\//.test(e.path) && `/${e.path}` !== releaseFile.path)
      .sort((a, b) => a.path.localeCompare(b.path))
      .slice(0, FILES_PER_EXTENSION - 1);
    for (const f of files) {
      out.expected.push({ path: `/${f.path}`, sha256: createHash('sha256').update(await image.readFile(f.path)).digest('hex') });
    }
  } finally {
    await image.close();
  }
  return out;
}

export interface PreparedDisk {
  extensions: LinkedExtension[];
}

/** Reads ROOT's /etc/extensions and writes the verdict unit, both in the overlay. */
export async function prepareOverlay(overlay: string, virtualSize: number, work: string, nonce: string, tty: string): Promise<PreparedDisk> {
  let root;
  try {
    root = locateFlatcarPartition(await readOverlayGpt(overlay, virtualSize, work), 'ROOT');
  } catch (err) {
    if (err instanceof FlatbakeError && !(err instanceof GptError)) throw err;
    throw new DiskFormatError(`the image has no readable GPT with a ROOT partition: ${(err as Error).message}`, 'pass a Flatcar disk image (flatcar_production_image.bin or a qemu_uefi qcow2)', { cause: err });
  }
  const rootFile = path.join(work, 'root.ext4');
  await copyRangeOut(overlay, root.startByte, root.sizeBytes, rootFile);
  const editor = await openExt4Editor(rootFile, { offset: 0, size: root.sizeBytes }, { partition: 'ROOT' });
  let extensions: LinkedExtension[];
  try {
    const dir = await editor.lstat(EXTENSIONS_DIR);
    const entries = dir?.type === 'dir' ? (await editor.list(EXTENSIONS_DIR)).filter((e) => e.endsWith('.raw')).sort() : [];
    extensions = [];
    for (const [i, entry] of entries.entries()) extensions.push(await describe(editor, work, entry, i));
    const unit = path.join(work, UNIT_NAME);
    await writeFile(unit, verdictUnit({ nonce, tty, links: extensions.map((e) => e.link), files: extensions.flatMap((e) => e.expected.map((f) => f.path)) }));
    await editor.mkdirp('/etc/systemd/system/sysinit.target.wants', 0o755);
    await editor.writeFile(`/etc/systemd/system/${UNIT_NAME}`, unit, { mode: 0o644 });
    await editor.symlink(`/etc/systemd/system/sysinit.target.wants/${UNIT_NAME}`, `../${UNIT_NAME}`);
    await editor.commit();
  } finally {
    await editor.close();
  }
  await copyRangeIn(rootFile, overlay, root.startByte, root.sizeBytes);
  return { extensions };
}
