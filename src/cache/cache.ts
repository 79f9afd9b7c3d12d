import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { InputError } from '../errors.js';
import { DIGEST_CHUNK, pieceDigests, zeroPieceDigest } from '../util/chunked-digest.js';
import { pieceMismatch, piecesOf, type PiecesRecord } from './pieces.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { sha256File } from '../util/hash.js';

/**
 * `$XDG_CACHE_HOME/flatbake`, else `~/.cache/flatbake`. A relative
 * XDG_CACHE_HOME is ignored, as the XDG spec requires.
 */
export function defaultCacheDir(env: Readonly<Record<string, string | undefined>>, home?: string): string {
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'flatbake');
  const h = home ?? env['HOME'];
  if (h === undefined || h === '' || !isAbsolute(h)) {
    throw new InputError('cannot choose a cache directory: neither XDG_CACHE_HOME nor HOME is an absolute path', 'pass --cache-dir <dir> or --no-cache');
  }
  return join(h, '.cache', 'flatbake');
}

export interface CacheEntry {
  /** The blob: treat as read-only, it may be shared with other entries and other runs. */
  path: string;
  sha256: string;
  size: number;
  meta: Record<string, unknown>;
  /** The SHA-256 of each 4 MiB piece that is not all zeros, by index, when the entry records them. */
  pieces?: Map<number, string>;
  /** Returned unhashed because the caller said it will not read the bytes (see LookupOptions). */
  unchecked?: boolean;
}

export interface LookupOptions {
  /**
   * Says, given the entry's recorded SHA-256, whether the caller can do without the blob's bytes
   * (a product made from them is cached and proven, say): then the blob is not hashed, and the
   * entry comes back with `unchecked`. Its bytes must then not be read.
   */
  unread?: (sha256: string) => Promise<boolean>;
}

export interface StoreOptions {
  sha256: string;
  size: number;
  meta?: Record<string, unknown>;
  /** Take the file (rename) instead of hard-linking it; the source name is gone afterwards. */
  move?: boolean;
  /**
   * Record the file's 4 MiB piece digests (those given are taken as they are, the others are
   * hashed here), so that every later lookup can prove the blob in parallel and skip its holes.
   * Blobs bigger than VERIFY_LIMIT always get them.
   */
  pieces?: Map<number, string>;
}

interface RefRecord {
  key: string;
  sha256: string;
  size: number;
  createdAt: string;
  meta: Record<string, unknown>;
  /** Piece digests (see StoreOptions.pieces): pieces not listed are all zeros. */
  pieces?: PiecesRecord;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** Blobs up to this size may be proven by their plain SHA-256; bigger ones by their piece digests. */
const VERIFY_LIMIT = 256 * 1024 * 1024;
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function code(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

function tempName(dir: string, base: string): string {
  return join(dir, `.tmp-${base}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

function isRecord(value: unknown): value is RefRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['key'] === 'string' &&
    typeof v['sha256'] === 'string' &&
    HEX64.test(v['sha256']) &&
    typeof v['size'] === 'number' &&
    Number.isSafeInteger(v['size']) &&
    typeof v['meta'] === 'object' &&
    v['meta'] !== null &&
    (v['pieces'] === undefined || piecesOf(v['pieces'] as PiecesRecord) !== undefined)
  );
}

/**
 * Verified files, stored once by content (`blobs/sha256/<hex>`) and found by
 * key (`refs/<namespace>/<sha256 of key>.json`). Blobs enter only by rename or
 * hard link, so an 8 GiB sparse image stays sparse and costs no copy, and every
 * name appears atomically: two processes can share the directory. Callers
 * must not modify a stored file in place: a hard-linked source and its blob
 * are the same inode.
 */
export class Cache {
  /** Where the cache is read from; `dir` (where it is written) is undefined when it is read-only. */
  private readonly readDir: string | undefined;

  /** Says that a damaged entry was dropped (it is then fetched or made again). */
  private readonly warn: (message: string) => void;

  /** Blobs proven in this run, with the identity (inode, times) they had then: proven once per run. */
  private readonly proven = new Map<string, string>();

  constructor(dir: string | undefined, options: { readOnly?: boolean; warn?: (message: string) => void } = {}) {
    this.readDir = dir;
    this.dir = options.readOnly ? undefined : dir;
    this.warn = options.warn ?? ((message) => process.stderr.write(`flatbake: WARNING: ${message}\n`));
  }

  /** The cache directory when it can be written; undefined when disabled or read-only. */
  readonly dir: string | undefined;

  get enabled(): boolean {
    return this.dir !== undefined;
  }

  private root(): string {
    const dir = this.readDir;
    if (dir === undefined) throw new Error('cache is disabled');
    return dir;
  }

  blobPath(sha256: string): string {
    if (!HEX64.test(sha256)) throw new InputError(`not a lower-case SHA-256 digest: ${sha256}`);
    return join(this.root(), 'blobs', 'sha256', sha256);
  }

  private refPath(namespace: string, key: string): string {
    if (!NAMESPACE.test(namespace)) throw new InputError(`bad cache namespace: ${namespace}`);
    const name = createHash('sha256').update(key).digest('hex');
    return join(this.root(), 'refs', namespace, `${name}.json`);
  }

  /** Drops a damaged entry; a read-only cache keeps it (and its next reader drops it again). */
  private async drop(file: string): Promise<void> {
    if (this.dir !== undefined) await rm(file, { force: true }).catch(() => undefined);
  }

  async lookup(namespace: string, key: string, options: LookupOptions = {}): Promise<CacheEntry | undefined> {
    if (this.readDir === undefined) return undefined;
    const ref = this.refPath(namespace, key);
    let record: unknown;
    try {
      record = JSON.parse(await readFile(ref, 'utf8'));
    } catch (err) {
      if (code(err) === 'ENOENT') return undefined;
      // Unreadable or not JSON: a damaged entry.
      await this.drop(ref);
      return undefined;
    }
    if (!isRecord(record) || record.key !== key) {
      await this.drop(ref);
      return undefined;
    }
    const blob = this.blobPath(record.sha256);
    let identity: string;
    let size: number;
    try {
      const st = await stat(blob);
      size = st.size;
      identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch {
      await this.drop(ref);
      return undefined;
    }
    const pieces = record.pieces ? piecesOf(record.pieces) : undefined;
    const entry: CacheEntry = { path: blob, sha256: record.sha256, size: record.size, meta: record.meta, ...(pieces ? { pieces } : {}) };
    if (size !== record.size) return this.damaged(namespace, key, blob, ref, `it has ${size} bytes, not ${record.size}`);
    if (this.proven.get(blob) === identity) return entry;
    if (options.unread && (await options.unread(record.sha256))) return { ...entry, unchecked: true };
    // A blob's name is its digest, so wrong content is wrong for every ref to it. Every blob is
    // proven before use: by its piece digests where recorded (in parallel, holes skipped: the
    // base images), else by its SHA-256 (a few MB: sysexts, keys, signatures).
    const damaged = pieces
      ? await pieceMismatch(blob, size, pieces)
      : size > VERIFY_LIMIT
        ? 'it was cached without piece digests (by an older flatbake), so it cannot be proven'
        : (await sha256File(blob)) !== record.sha256
          ? 'its content does not match its SHA-256'
          : undefined;
    if (damaged) return this.damaged(namespace, key, blob, ref, damaged);
    this.proven.set(blob, identity);
    return entry;
  }

  private async damaged(namespace: string, key: string, blob: string, ref: string, why: string): Promise<undefined> {
    this.warn(`the cached ${namespace} entry ${key} is damaged (${why}): dropped, fetching or making it again`);
    this.proven.delete(blob);
    await this.drop(blob);
    await this.drop(ref);
    return undefined;
  }

  /**
   * Record `file` (already verified by the caller: its SHA-256 and size) under
   * `key`. Returns the entry, or `undefined` when the cache is disabled or the
   * file is on another file system (a copy would lose sparseness and double
   * the disk use; the file is then left where it was).
   */
  async store(namespace: string, key: string, file: string, options: StoreOptions): Promise<CacheEntry | undefined> {
    if (this.dir === undefined) return undefined;
    const sha256 = options.sha256.toLowerCase();
    const blob = this.blobPath(sha256);
    const ref = this.refPath(namespace, key);
    const source = await stat(file);
    if (source.size !== options.size) {
      throw new InputError(`cannot cache ${file}: it has ${source.size} bytes, not the ${options.size} it was verified with`);
    }

    const blobDir = join(this.root(), 'blobs', 'sha256');
    await mkdir(blobDir, { recursive: true });
    const existing = await stat(blob).catch(() => undefined);
    if (existing !== undefined && existing.ino === source.ino && existing.dev === source.dev) {
      // The file given is the blob already.
    } else {
      // The caller verified this file; a blob already there under the name may be damaged (its
      // size alone proves nothing), so the fresh file replaces it. Readers that opened the old
      // one keep reading it: rename swaps names, not open files.
      const tmp = tempName(blobDir, sha256);
      try {
        if (options.move) await rename(file, tmp);
        else await link(file, tmp);
      } catch (err) {
        if (code(err) === 'EXDEV') return undefined;
        throw err;
      }
      try {
        await rename(tmp, blob);
      } catch (err) {
        // Give a moved file back rather than lose it.
        if (options.move) await rename(tmp, file).catch(() => rm(tmp, { force: true }));
        else await rm(tmp, { force: true });
        throw err;
      }
    }

    // Hashed from the blob now in place (the caller verified the file's SHA-256 as a whole).
    const pieces = options.pieces !== undefined || options.size > VERIFY_LIMIT ? await pieceDigests(blob, { known: (i) => options.pieces?.get(i) }) : undefined;
    const digests: Record<string, string> = {};
    for (const [index, digest] of pieces ?? []) {
      if (digest !== zeroPieceDigest(Math.min(DIGEST_CHUNK, options.size - index * DIGEST_CHUNK))) digests[index] = digest;
    }
    const record: RefRecord = {
      key,
      sha256,
      size: options.size,
      createdAt: new Date().toISOString(),
      meta: options.meta ?? {},
      ...(pieces ? { pieces: { size: DIGEST_CHUNK, digests } } : {}),
    };
    const refDir = join(this.root(), 'refs', namespace);
    await mkdir(refDir, { recursive: true });
    await writeFileAtomic(ref, `${JSON.stringify(record, null, 2)}\n`);
    const st = await stat(blob);
    this.proven.set(blob, `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`);
    return { path: blob, sha256, size: options.size, meta: record.meta, ...(pieces ? { pieces: new Map(Object.entries(digests).map(([i, d]) => [Number(i), d])) } : {}) };
  }
}

const UNWRITABLE = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EEXIST']);

/**
 * Like openCache, but finds out first whether the cache can be written. One that cannot (a
 * read-only mount, no permission, a full disk) must cost only caching: it is used read-only,
 * downloads go to the run's work dir, and `warn` says so once.
 */
export async function openUsableCache(
  options: { cacheDir?: string; cache?: boolean },
  warn: (message: string) => void,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Cache> {
  const opened = openCache(options, env);
  if (opened.dir === undefined) return opened;
  const dir = opened.dir;
  const cache = new Cache(dir, { warn });
  const probe = tempName(dir, 'probe');
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, '');
    await rm(probe, { force: true });
    return cache;
  } catch (err) {
    if (!UNWRITABLE.has(code(err) ?? '')) throw err;
    await rm(probe, { force: true }).catch(() => undefined);
    warn(`the cache ${dir} cannot be written (${code(err)}): this run neither adds to it nor resumes downloads there`);
    return new Cache(dir, { readOnly: true, warn });
  }
}

/** The cache the command-line options ask for: `--no-cache` (commander: `cache: false`) or `--cache-dir`. */
export function openCache(options: { cacheDir?: string; cache?: boolean }, env: Readonly<Record<string, string | undefined>> = process.env): Cache {
  if (options.cache === false) return new Cache(undefined);
  return new Cache(options.cacheDir ?? defaultCacheDir(env, env['HOME'] ? undefined : homedir()));
}
