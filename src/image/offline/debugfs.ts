/**
 * Driving e2fsprogs' debugfs in batches. debugfs exits 0 even when its
 * commands fail and writes their errors to stderr, which a pipe delivers
 * separately from the echoed commands on stdout. To tell which command an
 * error line belongs to, every command is followed by a `stat` of a name that
 * cannot exist: its "not found" line on stderr closes that command's errors,
 * and its echo on stdout closes that command's output.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError } from '../../errors.js';
import { run, which } from '../../util/exec.js';

export interface DebugfsStep {
  command: string;
  /** What the command printed on stdout (latin1: one char per byte). */
  stdout: string;
  /** Its lines on stderr; debugfs prints nothing there for a command that worked. */
  errors: string[];
}

/** Quotes one argument for debugfs' parser: inside double quotes, a quote is written twice. */
export function quoteArg(value: string): string {
  if (/[\x00\n\r]/.test(value)) throw new DiskFormatError(`cannot pass ${JSON.stringify(value)} to debugfs`);
  return `"${value.replace(/"/g, '""')}"`;
}

const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/**
 * Splits debugfs -f output into one step per command. Pure, so the parsing is
 * tested without debugfs. `markers[i]` is the path stat'ed after command i.
 */
export function splitDebugfsOutput(commands: readonly string[], markers: readonly string[], stdout: string, stderr: string): DebugfsStep[] {
  const outLines = stdout.split('\n');
  const errLines = stderr.split('\n');
  const steps: DebugfsStep[] = [];
  let outPos = 0;
  let errPos = 0;
  for (const [i, command] of commands.entries()) {
    const marker = markers[i]!;
    const echo = `debugfs: ${latin1(command)}`;
    const markerEcho = `debugfs: stat ${quoteArg(marker)}`;
    const start = outLines.indexOf(echo, outPos);
    const end = start < 0 ? -1 : outLines.indexOf(markerEcho, start + 1);
    if (start < 0 || end < 0) {
      throw new DiskFormatError(`could not follow debugfs' output at \`${command}\``, 'is this the e2fsprogs debugfs (1.43 or later)?');
    }
    const errors: string[] = [];
    const markerLine = `${marker}: `;
    let found = false;
    for (; errPos < errLines.length; errPos++) {
      const line = errLines[errPos]!;
      if (line.startsWith(markerLine)) {
        errPos++;
        found = true;
        break;
      }
      // The version banner comes once, before the first command.
      if (line.trim() === '' || /^debugfs \d+\.\d+/.test(line)) continue;
      errors.push(line.trimEnd());
    }
    if (!found) throw new DiskFormatError(`could not follow debugfs' error output at \`${command}\``, errLines.slice(-5).join('\n'));
    steps.push({ command, stdout: outLines.slice(start + 1, end).join('\n'), errors });
    outPos = end + 1;
  }
  return steps;
}

export interface DebugfsTarget {
  /** `<file>?offset=N`: the unix I/O manager opens the filesystem at that byte offset. */
  device: string;
  /** For messages: "ROOT in /path/image.bin". */
  label: string;
  /** Scratch dir for command files. */
  workDir: string;
}

let batchCounter = 0;

/** Runs commands in one debugfs process; opens the filesystem read-write only when asked. */
let eatmydata: Promise<string | undefined> | undefined;

/**
 * Runs an e2fsprogs tool on the work image. Each of them fsyncs the image file when it closes
 * it, even read-only: the first one after the image was staged writes the copy's 400+ MB to
 * disk (0.2-0.3 s), which nothing needs, as the image is a work file published by rename and
 * never synced. eatmydata, when present, skips those fsyncs.
 */
export async function runE2fsTool(tool: string, args: readonly string[], options: Parameters<typeof run>[2]): ReturnType<typeof run> {
  const noFsync = await (eatmydata ??= which('eatmydata'));
  return noFsync ? run('eatmydata', [tool, ...args], options) : run(tool, [...args], options);
}

export async function runDebugfs(target: DebugfsTarget, commands: readonly string[], options: { write: boolean }): Promise<DebugfsStep[]> {
  if (commands.length === 0) return [];
  const nonce = randomBytes(8).toString('hex');
  const markers = commands.map((_, i) => `/.flatbake-marker-${nonce}-${i}`);
  const script = commands.flatMap((c, i) => [c, `stat ${quoteArg(markers[i]!)}`]).join('\n') + '\n';
  const cmdFile = path.join(target.workDir, `debugfs-${process.pid}-${++batchCounter}.cmd`);
  await writeFile(cmdFile, script);
  const args = [...(options.write ? ['-w'] : []), '-f', cmdFile, target.device];
  // binary: stdout as latin1, so names and symlink targets keep their exact bytes
  const result = await runE2fsTool('debugfs', args, { binary: true, okExitCodes: [1], purpose: `edit ${target.label}` });
  const opening = result.stderr.split('\n').find((l) => /while (trying to open|opening filesystem)|Filesystem not open/.test(l));
  if (opening) {
    throw new DiskFormatError(`debugfs cannot open ${target.label}: ${opening.trim()}`, 'is there an ext4 filesystem at that offset?');
  }
  return splitDebugfsOutput(commands, markers, result.stdout, result.stderr);
}

/** Throws for the first step that printed an error, naming its command. */
export function assertStepsOk(steps: readonly DebugfsStep[], label: string): void {
  for (const step of steps) {
    if (step.errors.length > 0) {
      throw new DiskFormatError(`debugfs \`${step.command}\` failed on ${label}: ${step.errors.join('; ')}`);
    }
  }
}

export interface DebugfsStat {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Target of a fast symlink (held in the inode), as raw bytes. */
  fastLinkTarget?: Buffer;
}

const TYPES: Record<string, DebugfsStat['type']> = { regular: 'file', directory: 'dir', symlink: 'symlink' };

/** Parses the output of debugfs `stat` (latin1 text). Pure. */
export function parseDebugfsStat(text: string): DebugfsStat {
  const type = /^Inode: \d+\s+Type: (\S+)\s+Mode:\s+([0-7]+)/m.exec(text);
  const owner = /^User:\s+(\d+)\s+Group:\s+(\d+)(?:\s+Project:\s+\d+)?\s+Size:\s+(\d+)/m.exec(text);
  if (!type || !owner) throw new DiskFormatError(`unexpected debugfs stat output:\n${text.split('\n').slice(0, 4).join('\n')}`);
  const result: DebugfsStat = {
    type: TYPES[type[1]!] ?? 'other',
    mode: parseInt(type[2]!, 8) & 0o7777,
    uid: Number(owner[1]),
    gid: Number(owner[2]),
    size: Number(owner[3]),
  };
  const marker = 'Fast link dest: "';
  const at = text.indexOf(marker);
  if (result.type === 'symlink' && at >= 0) {
    // The target is printed raw between quotes; its length is the inode size, so quotes inside it cannot confuse us.
    result.fastLinkTarget = Buffer.from(text.slice(at + marker.length, at + marker.length + result.size), 'latin1');
  }
  return result;
}

export interface DebugfsDirEntry {
  name: string;
  inode: number;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes; 0 for directories (debugfs prints none). */
  size: number;
}

/**
 * Parses `ls -p` (lines `/inode/mode/uid/gid/name/size/`) read as latin1, one char per byte as
 * debugfs printed it; names come back decoded as UTF-8. Pure.
 */
export function parseDebugfsLs(text: string): DebugfsDirEntry[] {
  const entries: DebugfsDirEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^\/(\d+)\/([0-7]+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line);
    if (!m) throw new DiskFormatError(`unexpected debugfs ls output: ${JSON.stringify(line)}`);
    const name = Buffer.from(m[5]!, 'latin1').toString('utf8');
    if (name === '.' || name === '..') continue;
    entries.push({ name, inode: Number(m[1]), mode: parseInt(m[2]!, 8), uid: Number(m[3]), gid: Number(m[4]), size: Number(m[6] || 0) });
  }
  return entries;
}

export interface Ext4Summary {
  blockSize: number;
  blockCount: number;
  freeBlocks: number;
  reservedBlocks: number;
  inodeSize: number;
  inodeCount: number;
  freeInodes: number;
  features: string[];
  state: string;
}

/** Parses `dumpe2fs -h`. Pure. */
export function parseDumpe2fs(text: string): Ext4Summary {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text);
    if (!m) throw new DiskFormatError(`dumpe2fs -h printed no "${name}"`);
    return m[1]!.trim();
  };
  const num = (name: string) => {
    const n = Number(field(name));
    if (!Number.isSafeInteger(n)) throw new DiskFormatError(`dumpe2fs -h: "${name}" is not a number`);
    return n;
  };
  return {
    blockSize: num('Block size'),
    blockCount: num('Block count'),
    freeBlocks: num('Free blocks'),
    reservedBlocks: num('Reserved block count'),
    inodeSize: num('Inode size'),
    inodeCount: num('Inode count'),
    freeInodes: num('Free inodes'),
    features: field('Filesystem features').split(/\s+/).filter(Boolean),
    state: field('Filesystem state'),
  };
}
