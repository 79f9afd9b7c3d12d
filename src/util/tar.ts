/**
 * The project's one tar reader: OCI layers (streamed, any size) and the small tar segments of
 * Alpine packages and indexes (in memory). Ours rather than tar-stream's or node-tar's because
 * both decode PAX records as UTF-8 text, which mangles binary `SCHILY.xattr.*` values such as
 * `security.capability`, and a layer's file capabilities must reach the sysext byte for byte.
 * Archives are written by GNU tar (recipes, bundles, test fixtures), never by us.
 */
import { InputError } from '../errors.js';

/** A layer whose tar stream is damaged or uses a form we do not read. */
export class TarFormatError extends InputError {}

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'directory' | 'fifo' | 'unsupported';

export interface TarEntry {
  /** As stored (after PAX and GNU long-name records), not yet normalised or checked. */
  path: string;
  type: TarEntryType;
  /** The raw type flag, for messages about unsupported entries. */
  typeflag: string;
  /** Permission bits including setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow the header. */
  size: number;
  /** Seconds since the epoch; PAX may give a fraction. */
  mtime: number;
  /** Symlink target or hard-link source. */
  linkpath: string;
  devmajor: number;
  devminor: number;
  uname: string;
  gname: string;
  /** From PAX `SCHILY.xattr.*` records. */
  xattrs: Record<string, Buffer>;
}

export interface TarStreamEntry {
  entry: TarEntry;
  /**
   * The content, streamed. Read it before asking for the next entry, or
   * leave it: whatever is left is skipped.
   */
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
/** PAX and GNU long-name records are read into memory; real ones are a few hundred bytes. */
const MAX_META_SIZE = 1 << 20;

/** The fixed part of a header block, before PAX and GNU records are merged in. */
export interface RawTarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/**
 * A numeric field: octal text (NUL/space padded), or GNU base-256 when the
 * high bit of the first byte is set (sizes of 8 GiB and more, large ids).
 */
export function parseTarNumber(field: Buffer, what: string): number {
  if (field.length > 0 && (field[0]! & 0x80) !== 0) {
    if (field[0] === 0xff) throw new TarFormatError(`negative base-256 ${what} in tar header`);
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) {
      value = value * 256 + field[i]!;
      if (!Number.isSafeInteger(value)) throw new TarFormatError(`tar header ${what} is too large`);
    }
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`tar header ${what} ${JSON.stringify(text)} is not octal`);
  return parseInt(text, 8);
}

/** True for an all-zero block: the end-of-archive marker. */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parse one 512-byte header block, checking its checksum. */
export function parseTarHeader(block: Buffer): RawTarHeader {
  if (block.length !== BLOCK) throw new TarFormatError(`tar header block has ${block.length} bytes, not ${BLOCK}`);
  const stored = parseTarNumber(block.subarray(148, 156), 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // Some old tars summed signed bytes; both are accepted, as GNU tar does.
  if (stored !== unsigned && stored !== signed) {
    throw new TarFormatError(`tar header checksum mismatch (stored ${stored}, computed ${unsigned}): not a tar stream, or a damaged one`);
  }
  const magic = block.subarray(257, 263).toString('latin1');
  let name = cString(block, 0, 100);
  // POSIX ustar splits long names into prefix/name; the old GNU format uses that space for other things.
  if (magic === 'ustar\0') {
    const prefix = cString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const flag = block[156]!;
  return {
    name,
    mode: parseTarNumber(block.subarray(100, 108), 'mode') & 0o7777,
    uid: parseTarNumber(block.subarray(108, 116), 'uid'),
    gid: parseTarNumber(block.subarray(116, 124), 'gid'),
    size: parseTarNumber(block.subarray(124, 136), 'size'),
    mtime: parseTarNumber(block.subarray(136, 148), 'mtime'),
    typeflag: flag === 0 ? '0' : String.fromCharCode(flag),
    linkname: cString(block, 157, 100),
    uname: cString(block, 265, 32),
    gname: cString(block, 297, 32),
    devmajor: parseTarNumber(block.subarray(329, 337), 'devmajor'),
    devminor: parseTarNumber(block.subarray(337, 345), 'devminor'),
  };
}

/** PAX extended header records: `<length> <key>=<value>\n`, the length counting the whole record. */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    // Tolerate NUL padding at the end, which some writers leave.
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space === -1) throw new TarFormatError('PAX header record without a length');
    const lengthText = data.subarray(pos, space).toString('latin1');
    if (!/^[1-9][0-9]*$/.test(lengthText)) throw new TarFormatError(`PAX header record length ${JSON.stringify(lengthText)} is not a number`);
    const length = Number(lengthText);
    const end = pos + length;
    if (end > data.length || data[end - 1] !== 0x0a) throw new TarFormatError('PAX header record runs past its header or lacks its newline');
    const record = data.subarray(space + 1, end - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new TarFormatError('PAX header record without key=value');
    records.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    pos = end;
  }
  return records;
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '7': // contiguous file: an ordinary file everywhere that matters
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'chardev';
    case '4':
      return 'blockdev';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return 'unsupported';
  }
}

function paxNumber(value: Buffer, key: string): number {
  const text = value.toString('utf8');
  if (!/^-?[0-9]+(?:\.[0-9]+)?$/.test(text)) throw new TarFormatError(`PAX ${key} ${JSON.stringify(text)} is not a number`);
  const n = Number(text);
  if (!Number.isFinite(n)) throw new TarFormatError(`PAX ${key} is out of range`);
  return n;
}

/** Pulls exact byte counts out of a chunked stream without copying more than needed. */
class ByteReader {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly iterator: AsyncIterator<Buffer | Uint8Array | string>;
  private ended = false;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    return true;
  }

  /** Exactly `n` bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered.length < n && (await this.pull()));
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(out.length);
    return out;
  }

  /** Up to `max` bytes as they arrive; empty only at the end of the stream. */
  async some(max: number): Promise<Buffer> {
    if (this.buffered.length === 0 && !(await this.pull())) return Buffer.alloc(0);
    const out = this.buffered.subarray(0, max);
    this.buffered = this.buffered.subarray(out.length);
    return out;
  }

  /** Read and discard the rest, so a decompressor feeding us can finish. */
  async drain(): Promise<void> {
    this.buffered = Buffer.alloc(0);
    while (await this.pull()) this.buffered = Buffer.alloc(0);
  }

  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.iterator.return?.();
    }
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Read a tar stream entry by entry: ustar, GNU (`L`/`K` long names, base-256
 * numbers) and PAX (`x` per entry, `g` global) headers. Entry contents are
 * streamed, so a layer of any size needs only a little memory. The rest of
 * the source (the zero blocks and any padding after them) is drained, so the
 * caller's hash covers the whole stream and a decompressor process can exit.
 */
export async function* readTar(source: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<TarStreamEntry, void, undefined> {
  const reader = new ByteReader(source);
  const global = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let finished = false;
  try {
    for (;;) {
      const block = await reader.read(BLOCK);
      // A stream that stops at a header boundary without the end marker is accepted, as tar does.
      if (block.length === 0) break;
      if (block.length < BLOCK) throw new TarFormatError('tar stream ends inside a header block');
      if (isZeroBlock(block)) break;
      const raw = parseTarHeader(block);

      if (raw.typeflag === 'x' || raw.typeflag === 'g' || raw.typeflag === 'L' || raw.typeflag === 'K') {
        if (raw.size > MAX_META_SIZE) throw new TarFormatError(`tar ${raw.typeflag} record of ${raw.size} bytes is implausibly large`);
        const data = await reader.read(raw.size);
        if (data.length < raw.size) throw new TarFormatError('tar stream ends inside an extended header');
        await reader.read(padding(raw.size));
        if (raw.typeflag === 'x') pax = parsePaxRecords(data);
        else if (raw.typeflag === 'g') for (const [k, v] of parsePaxRecords(data)) global.set(k, v);
        else {
          const end = data.indexOf(0);
          const text = data.subarray(0, end === -1 ? data.length : end).toString('utf8');
          if (raw.typeflag === 'L') longName = text;
          else longLink = text;
        }
        continue;
      }

      const entry: TarEntry = {
        path: longName ?? raw.name,
        type: typeOf(raw.typeflag),
        typeflag: raw.typeflag,
        mode: raw.mode,
        uid: raw.uid,
        gid: raw.gid,
        size: raw.size,
        mtime: raw.mtime,
        linkpath: longLink ?? raw.linkname,
        devmajor: raw.devmajor,
        devminor: raw.devminor,
        uname: raw.uname,
        gname: raw.gname,
        xattrs: {},
      };
      // Per-entry PAX records override global ones; an empty value cancels a global one.
      const records = new Map([...global, ...(pax ?? new Map<string, Buffer>())]);
      for (const [key, value] of records) {
        if (value.length === 0) continue;
        switch (key) {
          case 'path':
            entry.path = value.toString('utf8');
            break;
          case 'linkpath':
            entry.linkpath = value.toString('utf8');
            break;
          case 'size':
            entry.size = paxNumber(value, key);
            break;
          case 'uid':
            entry.uid = paxNumber(value, key);
            break;
          case 'gid':
            entry.gid = paxNumber(value, key);
            break;
          case 'mtime':
            entry.mtime = paxNumber(value, key);
            break;
          case 'uname':
            entry.uname = value.toString('utf8');
            break;
          case 'gname':
            entry.gname = value.toString('utf8');
            break;
          default:
            if (key.startsWith('SCHILY.xattr.')) entry.xattrs[key.slice('SCHILY.xattr.'.length)] = value;
        }
      }
      pax = undefined;
      longName = undefined;
      longLink = undefined;
      if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw new TarFormatError(`tar entry ${entry.path} has an invalid size`);
      if (entry.path.includes('\0') || entry.linkpath.includes('\0')) throw new TarFormatError(`tar entry ${JSON.stringify(entry.path)} has a NUL byte in its name`);

      let remaining = entry.size;
      const body = {
        async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
          while (remaining > 0) {
            const chunk = await reader.some(Math.min(remaining, 1 << 20));
            if (chunk.length === 0) throw new TarFormatError(`tar stream ends inside the content of ${entry.path}`);
            remaining -= chunk.length;
            yield chunk;
          }
        },
      };
      yield { entry, body };
      while (remaining > 0) {
        const chunk = await reader.some(Math.min(remaining, 1 << 20));
        if (chunk.length === 0) throw new TarFormatError(`tar stream ends inside the content of ${entry.path}`);
        remaining -= chunk.length;
      }
      const pad = await reader.read(padding(entry.size));
      if (pad.length < padding(entry.size)) break;
    }
    await reader.drain();
    finished = true;
  } finally {
    // Stopped early (an error, or the consumer gave up): release the source.
    if (!finished) await reader.close();
  }
}

/** Every member of a small in-memory tar with its content (an apk control segment, an index). */
export async function tarFiles(buf: Buffer): Promise<Array<{ entry: TarEntry; data: Buffer }>> {
  const files: Array<{ entry: TarEntry; data: Buffer }> = [];
  async function* once() {
    yield buf;
  }
  for await (const { entry, body } of readTar(once())) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk);
    files.push({ entry, data: Buffer.concat(chunks) });
  }
  return files;
}
