/**
 * Writes tar archives for tests, byte by byte, so every header form the
 * reader must understand (ustar prefix, GNU long names, PAX, base-256) can be
 * produced on purpose, including hostile and broken ones.
 */
export interface TestEntry {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'raw';
  /** For `raw`: the type flag byte. */
  typeflag?: string;
  content?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  /** Per-entry PAX records (an `x` header before this entry). */
  pax?: Record<string, string>;
  /** Put a long path / link target in GNU `L` / `K` records instead of PAX. */
  gnuLong?: boolean;
  /** Write uid/gid in GNU base-256. */
  base256Ids?: boolean;
  /** Use the old GNU magic (`ustar  \0`), where the prefix field means something else. */
  gnuMagic?: boolean;
}

const FLAGS: Record<string, string> = { file: '0', dir: '5', symlink: '2', hardlink: '1', char: '3', block: '4', fifo: '6' };

function octal(value: number, width: number): Buffer {
  const text = value.toString(8).padStart(width - 1, '0');
  if (text.length > width - 1) throw new Error(`value ${value} does not fit in ${width} octal bytes`);
  return Buffer.from(`${text}\0`, 'latin1');
}

function base256(value: number, width: number): Buffer {
  const out = Buffer.alloc(width);
  let v = value;
  for (let i = width - 1; i > 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  out[0] = 0x80;
  return out;
}

function header(fields: {
  name: string;
  prefix?: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  base256Ids?: boolean;
  gnuMagic?: boolean;
}): Buffer {
  const b = Buffer.alloc(512);
  const put = (buf: Buffer, at: number): void => {
    buf.copy(b, at);
  };
  const name = Buffer.from(fields.name, 'utf8');
  if (name.length > 100) throw new Error(`name too long for a header: ${fields.name}`);
  put(name, 0);
  put(octal(fields.mode, 8), 100);
  put(fields.base256Ids ? base256(fields.uid, 8) : octal(fields.uid, 8), 108);
  put(fields.base256Ids ? base256(fields.gid, 8) : octal(fields.gid, 8), 116);
  put(octal(fields.size, 12), 124);
  put(octal(fields.mtime, 12), 136);
  b.write(fields.typeflag, 156, 'latin1');
  const link = Buffer.from(fields.linkname, 'utf8');
  if (link.length > 100) throw new Error(`link name too long for a header: ${fields.linkname}`);
  put(link, 157);
  if (fields.gnuMagic) b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\x0000', 257, 'latin1');
  b.write('root', 265, 'latin1');
  b.write('root', 297, 'latin1');
  put(octal(fields.devmajor, 8), 329);
  put(octal(fields.devminor, 8), 337);
  if (fields.prefix) b.write(fields.prefix, 345, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function pad(data: Buffer): Buffer {
  const rest = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(rest)]);
}

export function paxData(records: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    const bodyLen = Buffer.byteLength(body);
    let len = bodyLen + 1;
    while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
    parts.push(Buffer.from(`${len}${body}`, 'utf8'));
  }
  return Buffer.concat(parts);
}

function meta(typeflag: string, data: Buffer, name = '././@LongLink'): Buffer {
  return Buffer.concat([
    header({ name, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0, typeflag, linkname: '', devmajor: 0, devminor: 0 }),
    pad(data),
  ]);
}

/** One entry with whatever extension records it needs. */
export function tarEntry(e: TestEntry): Buffer {
  const type = e.type ?? (e.path.endsWith('/') ? 'dir' : 'file');
  const content = e.content === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content, 'utf8');
  const typeflag = type === 'raw' ? (e.typeflag ?? '0') : FLAGS[type]!;
  const out: Buffer[] = [];
  const pax: Record<string, string> = { ...(e.pax ?? {}) };
  let name = e.path;
  let prefix: string | undefined;
  let linkname = e.linkpath ?? '';
  if (Buffer.byteLength(name) > 100) {
    const slash = name.lastIndexOf('/', name.length - 2);
    if (!e.gnuLong && !e.pax && slash > 0 && slash <= 155 && Buffer.byteLength(name.slice(slash + 1)) <= 100) {
      prefix = name.slice(0, slash);
      name = name.slice(slash + 1);
    } else if (e.gnuLong) {
      out.push(meta('L', Buffer.from(`${name}\0`)));
      name = name.slice(0, 100);
    } else {
      pax['path'] = name;
      name = name.slice(0, 100);
    }
  }
  if (Buffer.byteLength(linkname) > 100) {
    if (e.gnuLong) out.push(meta('K', Buffer.from(`${linkname}\0`)));
    else pax['linkpath'] = linkname;
    linkname = linkname.slice(0, 100);
  }
  if (Object.keys(pax).length > 0) out.push(meta('x', paxData(pax), 'PaxHeaders/x'));
  const carriesData = type === 'file' || type === 'raw';
  out.push(
    header({
      name,
      prefix,
      mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: carriesData ? content.length : 0,
      mtime: e.mtime ?? 1_700_000_000,
      typeflag,
      linkname,
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
      base256Ids: e.base256Ids,
      gnuMagic: e.gnuMagic,
    }),
  );
  if (carriesData) out.push(pad(content));
  return Buffer.concat(out);
}

/** A whole archive: the entries, a global PAX header first when given, two zero blocks. */
export function buildTar(entries: readonly TestEntry[], options: { globalPax?: Record<string, string>; noEndMarker?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  if (options.globalPax) parts.push(meta('g', paxData(options.globalPax), 'PaxHeaders/global'));
  for (const e of entries) parts.push(tarEntry(e));
  if (!options.noEndMarker) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
