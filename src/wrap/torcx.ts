/**
 * `flatbake convert-torcx`: turn a Torcx image (the add-on format Flatcar used before sysexts) into
 * a sysext. Best effort: what was changed and what was seen but left alone are both reported.
 *
 * A Torcx image is a tar.gz unpacked at /run/torcx/unpack/NAME, with bin/, lib/ (units in
 * lib/systemd/system) and .torcx/manifest.json; its units read /run/metadata/torcx for TORCX_*
 * variables and order themselves after torcx.target. In a sysext, bin/ and lib/ live in /usr, so
 * the variables become fixed values and the Torcx dependencies go.
 *
 * Pipeline: unpack (refusing unsafe members) -> move top-level dirs under usr/ -> rewrite units ->
 * .wants symlinks to Upholds= drop-ins -> report leftovers -> createSysext.
 */
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { extractArchive } from '../recipes/archive.js';
import { createSysext, type CreateSysextResult, type SysextFormat } from '../sysext/create.js';
import { validateSysextName } from '../sysext/extension-release.js';
import { makeTempDir } from '../util/tempdir.js';
import { isUnitName, SYSTEM_UNIT_DIR, upholdsDropIn } from '../sysext/units.js';
import { readElfHeader } from './libraries.js';
import { flatcarArch } from './stage.js';
import { rewriteTorcxUnit } from './unit-rewrite.js';

export interface ConvertTorcxOptions {
  /** The Torcx image, a .torcx.tgz (tar.gz). */
  tarball: string;
  name: string;
  outputDir: string;
  /** Default `flatcar`: Torcx images only ever ran on Flatcar. */
  os?: string;
  /** Default: the architecture of the image's binaries. */
  arch?: string;
  format?: SysextFormat;
  force?: boolean;
}

export interface ConvertTorcxResult {
  sysext: CreateSysextResult;
  changed: string[];
  leftAlone: string[];
}

/**
 * Top-level directories of a Torcx image and where they go in the sysext. sbin/ joins bin/:
 * Flatcar's /usr/sbin is a symlink to /usr/bin, which a usr/sbin directory in a sysext would
 * shadow (so `sysext create` refuses one). The bakery's tools/convert_torcx_image.sh moves only
 * bin/ and lib/ under usr/, which leaves an sbin/ outside /usr where systemd-sysext never merges it;
 * merging it into usr/bin keeps its programs reachable under both paths.
 */
export const TORCX_TOP_LEVEL_MOVES: Readonly<Record<string, string>> = {
  bin: 'usr/bin',
  sbin: 'usr/bin',
  lib: 'usr/lib',
  lib64: 'usr/lib64',
};

/** Move SRC to DEST, merging directories; a file on both sides is a conflict. */
async function moveMerge(src: string, dest: string, label: string): Promise<void> {
  const destStat = await lstat(dest).catch(() => undefined);
  if (!destStat) {
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
    await rename(src, dest);
    return;
  }
  const srcStat = await lstat(src);
  if (!srcStat.isDirectory() || !destStat.isDirectory()) {
    throw new InputError(`the Torcx image has both ${label} and its /usr counterpart as files`, 'the image is not a usual Torcx image; unpack and fix it, then use `flatbake sysext create`');
  }
  for (const child of await readdir(src)) await moveMerge(path.join(src, child), path.join(dest, child), `${label}/${child}`);
  await rm(src, { recursive: true });
}

interface TorcxManifest {
  bin: string[];
  units: string[];
}

/** The lists of .torcx/manifest.json (kind image-manifest-v0); undefined if absent or unreadable. */
export function parseTorcxManifest(text: string): TorcxManifest | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const value = (json as { value?: unknown })?.value;
  if (typeof value !== 'object' || value === null) return undefined;
  const list = (k: string): string[] => {
    const v = (value as Record<string, unknown>)[k];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  };
  return { bin: list('bin'), units: list('units') };
}

/** Where an in-image path of the manifest (/bin/x, /lib/systemd/...) is after the move, relative to the sysext root. */
export function movedPath(imagePath: string): string {
  const rel = imagePath.replace(/^\/+/, '');
  const top = rel.split('/')[0]!;
  const to = TORCX_TOP_LEVEL_MOVES[top];
  return to ? `${to}${rel.slice(top.length)}` : rel;
}

async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(dir, rel)).catch(() => [] as string[])).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    out.push(r);
    const st = await lstat(path.join(dir, r));
    if (st.isDirectory()) out.push(...(await walk(dir, r)));
  }
  return out;
}

export async function convertTorcx(options: ConvertTorcxOptions): Promise<ConvertTorcxResult> {
  const { tarball, name } = options;
  validateSysextName(name);
  if (!(await stat(tarball).catch(() => undefined))?.isFile()) throw new InputError(`Torcx image ${tarball} does not exist`);
  const changed: string[] = [];
  const leftAlone: string[] = [];
  const temp = await makeTempDir('flatbake-torcx-');
  try {
    const staging = path.join(temp.path, 'root');
    // Refuses absolute and ".." members and device nodes before writing anything.
    await extractArchive(tarball, 'tar.gz', staging);

    let manifest: TorcxManifest | undefined;
    for (const entry of (await readdir(staging)).sort()) {
      const p = path.join(staging, entry);
      if ((await lstat(p)).isSymbolicLink()) {
        // A symlinked bin/ or usr/ would, once merged, replace /usr/bin or /usr with a link anywhere.
        leftAlone.push(`${entry} -> ${await readlink(p)}: a top-level symlink; not included`);
        await rm(p);
        continue;
      }
      if (entry === '.torcx') {
        const text = await readFile(path.join(p, 'manifest.json'), 'utf8').catch(() => undefined);
        if (text !== undefined) {
          manifest = parseTorcxManifest(text);
          if (!manifest) leftAlone.push('.torcx/manifest.json: not a Torcx image manifest; ignored');
        }
        await rm(p, { recursive: true });
        changed.push('removed .torcx/ (Torcx metadata; the sysext has its extension-release instead)');
      } else if (TORCX_TOP_LEVEL_MOVES[entry]) {
        await moveMerge(p, path.join(staging, TORCX_TOP_LEVEL_MOVES[entry]!), entry);
        changed.push(`moved ${entry}/ to /${TORCX_TOP_LEVEL_MOVES[entry]}/`);
      } else if (entry !== 'usr' && entry !== 'opt') {
        await rm(p, { recursive: true, force: true });
        leftAlone.push(`${entry}: a sysext holds only /usr and /opt; not included`);
      }
    }

    // An image that already had usr/sbin/: same reason as sbin/ above.
    const usrSbin = path.join(staging, 'usr/sbin');
    if ((await lstat(usrSbin).catch(() => undefined))?.isDirectory()) {
      await moveMerge(usrSbin, path.join(staging, 'usr/bin'), 'usr/sbin');
      changed.push('moved usr/sbin/ to /usr/bin/ (Flatcar\'s /usr/sbin is a symlink to /usr/bin)');
    }

    for (const dir of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/lib/systemd', SYSTEM_UNIT_DIR]) {
      const p = path.join(staging, dir);
      if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) {
        leftAlone.push(`${dir} -> ${await readlink(p)}: a symlink where the base OS has a directory; not included`);
        await rm(p);
      }
    }

    const unitDir = path.join(staging, SYSTEM_UNIT_DIR);
    const unitEntries = (await readdir(unitDir).catch(() => [] as string[])).sort();
    const shipped = new Set(unitEntries.filter(isUnitName));
    for (const entry of unitEntries) {
      const p = path.join(unitDir, entry);
      const st = await lstat(p);
      if (st.isFile() && isUnitName(entry)) {
        const text = await readFile(p, 'utf8');
        const r = rewriteTorcxUnit(text);
        if (r.text !== text) await writeFile(p, r.text, { mode: st.mode & 0o777 });
        changed.push(...r.changed.map((c) => `${entry}: ${c}`));
        leftAlone.push(...r.leftAlone.map((c) => `${entry}: ${c}`));
      } else if (st.isDirectory() && /\.(wants|requires)$/.test(entry)) {
        const target = entry.replace(/\.(wants|requires)$/, '');
        for (const unit of (await readdir(p)).sort()) {
          const template = unit.replace(/@[^.]*\./, '@.');
          if (!isUnitName(target) || !isUnitName(unit) || !(shipped.has(unit) || shipped.has(template))) {
            leftAlone.push(`${entry}/${unit}: the image does not ship ${unit}; enablement link kept`);
            continue;
          }
          await rm(path.join(p, unit));
          await upholdsDropIn(staging, target, unit);
          changed.push(`${entry}/${unit} -> Upholds=${unit} drop-in for ${target}`);
        }
        if ((await readdir(p)).length === 0) await rm(p, { recursive: true });
      } else if (st.isDirectory() && entry.endsWith('.d')) {
        for (const dropIn of (await readdir(p)).sort().filter((n) => n.endsWith('.conf'))) {
          const f = path.join(p, dropIn);
          if (!(await lstat(f)).isFile()) continue;
          const text = await readFile(f, 'utf8');
          const r = rewriteTorcxUnit(text);
          if (r.text !== text) await writeFile(f, r.text);
          changed.push(...r.changed.map((c) => `${entry}/${dropIn}: ${c}`));
          leftAlone.push(...r.leftAlone.map((c) => `${entry}/${dropIn}: ${c}`));
        }
      }
    }

    // Symlinks into the old unpack location would dangle on a sysext system.
    let arch: string | undefined;
    for (const rel of await walk(staging)) {
      const p = path.join(staging, rel);
      const st = await lstat(p);
      if (st.isSymbolicLink()) {
        const target = await readlink(p);
        if (target.startsWith('/run/torcx') || target.startsWith('/var/lib/torcx')) leftAlone.push(`${rel} -> ${target}: points into Torcx's own directories`);
      } else if (arch === undefined && st.isFile() && /^usr\/(s?bin|lib)\//.test(rel)) {
        arch = flatcarArch(await readElfHeader(p).catch(() => undefined));
      }
    }
    for (const listed of [...(manifest?.bin ?? []), ...(manifest?.units ?? [])]) {
      if (!(await lstat(path.join(staging, movedPath(listed))).catch(() => undefined))) leftAlone.push(`${listed}: listed in the manifest but not in the image`);
    }

    const top = await readdir(staging);
    if (!top.includes('usr') && !top.includes('opt')) throw new InputError(`${tarball} has no bin/, lib/, usr/ or opt/: nothing to put in a sysext`, 'is it a Torcx image (.torcx.tgz)?');
    const sysext = await createSysext({
      sourceDir: staging,
      name,
      outputDir: options.outputDir,
      os: options.os ?? 'flatcar',
      arch: options.arch ?? arch,
      reload: shipped.size > 0,
      format: options.format,
      force: options.force,
    });
    return { sysext, changed, leftAlone };
  } finally {
    await temp.remove();
  }
}
