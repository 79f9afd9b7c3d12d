/**
 * `flatbake sysext check`: what systemd-sysext on Flatcar needs from an image, as findings.
 */
import { parseRecipeFileName } from '../recipes/names.js';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { parseElfHeader } from './elf.js';
import { parseExtensionRelease, SYSTEMD_ARCHITECTURES, validateExtensionRelease } from './extension-release.js';
import { finding, type Finding } from './findings.js';
import { detectFilesystemOfFile, openSysextImage, resolveInImage, type FilesystemFormat, type ImageEntry, type SysextImage } from './image-reader.js';
import { parseUnit, SYSTEM_UNIT_DIR, unitValues, isUnitName } from './units.js';

export type { Finding, Severity } from './findings.js';

export interface CheckResult {
  findings: Finding[];
  ok: boolean;
  format?: FilesystemFormat;
}

export interface CheckOptions {
  /** The NAME the image must carry (extension-release.NAME); default: derived from the file name. */
  expectName?: string;
}

const RELEASE_DIR = 'usr/lib/extension-release.d';

/**
 * Flatcar since 4152 has /usr/sbin as a symlink to /usr/bin. A sysext with a real usr/sbin directory
 * replaces that symlink in the merged /usr, so every program the base OS reaches through /usr/sbin
 * disappears (flatcar/sysext-bakery#131: update-engine failed, SSH dropped). One message for the
 * checker, `sysext create` and the bake.
 */
export const USR_SBIN_PROBLEM = 'a usr/sbin directory, which shadows Flatcar\'s /usr/sbin -> /usr/bin symlink (since Flatcar 4152): base OS programs under /usr/sbin vanish when it is merged (flatcar/sysext-bakery#131)';
export const USR_SBIN_HINT = 'put the programs in usr/bin and point units at /usr/bin/...';

/** True if ENTRIES hold usr/sbin as anything but a symlink (a directory, or a file in its place). */
export function hasUsrSbin(entries: readonly Pick<ImageEntry, 'path' | 'type'>[]): boolean {
  return entries.some((e) => (e.path === 'usr/sbin' && e.type !== 'symlink') || e.path.startsWith('usr/sbin/'));
}

/** Refuse an image file that ships usr/sbin (the bake's check of sysexts it did not build). */
export async function refuseUsrSbinImage(file: string, label: string): Promise<void> {
  const image = await openSysextImage(file);
  try {
    if (hasUsrSbin(image.entries)) throw new InputError(`sysext ${label} (${path.basename(file)}) has ${USR_SBIN_PROBLEM}`, USR_SBIN_HINT);
  } finally {
    await image.close();
  }
}
const ALLOWED_TOP_LEVEL = new Set(['usr', 'opt']);
/** Per-file findings of one rule beyond this many are summarised, so a bad image stays readable. */
const MAX_PER_RULE = 20;

/**
 * Names an image file may carry: `NAME.raw` -> NAME; bakery files `NAME-VERSION-ARCH.raw` -> every
 * prefix that ends before a `-<digit>` (the first of them is the bakery's NAME), plus the whole stem.
 * The first element is the preferred one (used in messages).
 */
export function candidateNames(fileName: string): string[] {
  // A bakery release name (`<name>-<version>-<arch>.raw`) says exactly which part is the name.
  const release = parseRecipeFileName(path.basename(fileName));
  if (release) return [release.recipe];
  const stem = path.basename(fileName).replace(/\.raw$/, '');
  const prefixes: string[] = [];
  for (const m of stem.matchAll(/-(?=\d)/g)) {
    if (m.index > 0) prefixes.push(stem.slice(0, m.index));
  }
  return [...new Set([...prefixes, stem])];
}

/**
 * Flatcar merged /usr: /bin, /sbin and /usr/sbin all resolve into /usr/bin, /lib into /usr/lib.
 * Returns the path relative to the root, without a leading slash.
 */
export function canonicalPath(p: string): string {
  const rel = p.replace(/^\/+/, '');
  const rules: Array<[RegExp, string]> = [
    [/^(bin|sbin|usr\/sbin)(\/|$)/, 'usr/bin$2'],
    [/^lib(\/|$)/, 'usr/lib$1'],
  ];
  for (const [re, to] of rules) if (re.test(rel)) return rel.replace(re, to);
  return rel;
}

/** Base OS units a sysext may reference without shipping them. */
const BASE_OS_UNITS = new Set([
  'docker.service', 'docker.socket', 'containerd.service', 'sshd.service', 'sshd.socket',
  'locksmithd.service', 'update-engine.service',
  'basic.target', 'multi-user.target', 'default.target', 'sysinit.target', 'sockets.target', 'timers.target',
  'paths.target', 'local-fs.target', 'remote-fs.target', 'network.target', 'network-online.target',
  'network-pre.target', 'time-sync.target', 'nss-lookup.target', 'getty.target', 'graphical.target',
]);

function isBaseOsUnit(unit: string): boolean {
  return BASE_OS_UNITS.has(unit) || unit.startsWith('systemd-');
}

const EXEC_KEYS = new Set(['ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost', 'ExecCondition']);
const DEPENDENCY_KEYS = ['Upholds', 'Wants', 'Requires'];

/** The program of an Exec*= value: prefixes `-@:+!` stripped, first (possibly quoted) word. */
export function execProgram(value: string): string | undefined {
  const v = value.replace(/^[-@:+!|]+/, '').trimStart();
  if (v === '') return undefined;
  if (v.startsWith('"') || v.startsWith("'")) {
    const end = v.indexOf(v[0]!, 1);
    return end > 0 ? v.slice(1, end) : v.slice(1);
  }
  return v.split(/\s+/)[0];
}

export async function checkSysext(file: string, options: CheckOptions = {}): Promise<CheckResult> {
  await access(file).catch(() => {
    throw new InputError(`${file} does not exist or cannot be read`);
  });
  const format = await detectFilesystemOfFile(file);
  if (!format) {
    const findings = [finding('error', 'filesystem', `${path.basename(file)} is not a squashfs, erofs, ext4 or btrfs image`)];
    return { findings, ok: false };
  }
  const image = await openSysextImage(file);
  try {
    const findings = await checkImage(image, options.expectName !== undefined ? [options.expectName] : candidateNames(file));
    return { findings, ok: !findings.some((f) => f.severity === 'error'), format };
  } finally {
    await image.close();
  }
}

/** Add per-path findings of one rule, capped at MAX_PER_RULE per severity with a summary line. */
function addCapped(findings: Finding[], items: Finding[]): void {
  for (const severity of ['error', 'warning', 'info'] as const) {
    const same = items.filter((f) => f.severity === severity);
    findings.push(...same.slice(0, MAX_PER_RULE));
    const first = same[0];
    if (same.length > MAX_PER_RULE && first) findings.push(finding(severity, first.rule, `... and ${same.length - MAX_PER_RULE} more like this`));
  }
}

async function checkImage(image: SysextImage, names: string[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  const entries = image.entries;
  const byPath = new Map(entries.map((e) => [e.path, e]));

  const arch = await checkExtensionRelease(image, names, findings);

  const stray = entries.filter((e) => !e.path.includes('/') && !ALLOWED_TOP_LEVEL.has(e.path));
  addCapped(findings, stray.map((e) => finding('error', 'top-level', 'only usr/ and opt/ may be at the top level (systemd-sysext ignores the rest)', e.path)));
  if (hasUsrSbin(entries)) findings.push(finding('error', 'usr-sbin', `${USR_SBIN_PROBLEM}; ${USR_SBIN_HINT}`, 'usr/sbin'));

  if (!image.ownershipReliable) {
    findings.push(finding('info', 'root-owned', `ownership not checked: reading ${image.format} images needs root`));
  } else {
    const foreign = entries.filter((e) => e.uid !== 0 || e.gid !== 0);
    addCapped(findings, foreign.map((e) => finding('error', 'root-owned', `owned by ${e.uid}:${e.gid}, not 0:0 (build with -all-root / --all-root)`, e.path)));
  }

  await checkElfArchitectures(image, arch, findings);
  await checkUnits(image, byPath, findings);

  const wants = entries.filter((e) => /\.(wants|requires)\/[^/]+$/.test(e.path));
  addCapped(findings, wants.map((e) => finding('warning', 'wants-symlink', 'enablement symlink: prefer an Upholds= drop-in (usr/lib/systemd/system/TARGET.d/10-NAME.conf)', e.path)));
  return findings;
}

/** Returns ARCHITECTURE= if the release file has a valid one. */
async function checkExtensionRelease(image: SysextImage, names: string[], findings: Finding[]): Promise<string | undefined> {
  const releaseFiles = image.entries
    .filter((e) => e.path.startsWith(`${RELEASE_DIR}/extension-release.`) && !e.path.slice(RELEASE_DIR.length + 1).includes('/'))
    .map((e) => e.path.slice(`${RELEASE_DIR}/extension-release.`.length));
  const name = names.find((n) => releaseFiles.includes(n));
  const wanted = names[0]!;
  if (name === undefined) {
    if (releaseFiles.length === 0) {
      findings.push(finding('error', 'extension-release-present', `no ${RELEASE_DIR}/extension-release.${wanted}: systemd-sysext refuses an image without it`));
    } else {
      findings.push(finding('error', 'extension-release-name',
        `the image is named "${wanted}" but ships extension-release.${releaseFiles.join(', extension-release.')}; systemd-sysext requires extension-release.${wanted}`,
        `${RELEASE_DIR}/extension-release.${releaseFiles[0]}`));
    }
    return undefined;
  }
  const relPath = `${RELEASE_DIR}/extension-release.${name}`;
  const resolved = resolveInImage(new Map(image.entries.map((e) => [e.path, e])), relPath);
  if (resolved?.type !== 'file') {
    findings.push(finding('error', 'extension-release-present', 'is not a regular file (or a symlink to one inside the image)', relPath));
    return undefined;
  }
  const parsed = parseExtensionRelease((await image.readFile(relPath)).toString('utf8'));
  for (const e of parsed.errors) findings.push(finding('error', 'extension-release-syntax', `line ${e.line}: ${e.message}`, relPath));
  findings.push(...validateExtensionRelease(parsed.fields, name));
  // An invalid ARCHITECTURE= is reported above; comparing binaries with it would only repeat that.
  const arch = parsed.fields.ARCHITECTURE;
  return arch !== undefined && SYSTEMD_ARCHITECTURES.includes(arch) ? arch : undefined;
}

async function checkElfArchitectures(image: SysextImage, arch: string | undefined, findings: Finding[]): Promise<void> {
  const byArch = new Map<string, string[]>();
  for (const e of image.entries) {
    if (e.type !== 'file' || e.size < 20) continue;
    const elf = parseElfHeader(await image.readHead(e.path, 64));
    if (!elf) continue;
    byArch.set(elf.arch, [...(byArch.get(elf.arch) ?? []), e.path]);
  }
  if (arch !== undefined) {
    const wrong = [...byArch.entries()].filter(([a]) => a !== arch).flatMap(([a, paths]) => paths.map((p) => ({ a, p })));
    addCapped(findings, wrong.map(({ a, p }) => finding('error', 'elf-arch', `ELF binary for ${a}, but ARCHITECTURE=${arch}`, p)));
  } else if (byArch.size > 1) {
    const summary = [...byArch.entries()].map(([a, paths]) => `${a} (${paths.length}, e.g. ${paths[0]})`).join(', ');
    findings.push(finding('warning', 'elf-arch', `ELF binaries for several architectures and no ARCHITECTURE=: ${summary}`));
  }
}

/**
 * Exec paths: a program missing from the image may still come from the base OS, so under /usr
 * (and elsewhere) that is a warning naming the path. /opt is different: on Flatcar its content
 * comes only from sysexts, so an Exec path under /opt that this image does not ship is an error.
 */
async function checkUnits(image: SysextImage, byPath: ReadonlyMap<string, ImageEntry>, findings: Finding[]): Promise<void> {
  const unitDirPrefix = `${SYSTEM_UNIT_DIR}/`;
  const shipped = new Set(
    image.entries
      .filter((e) => e.path.startsWith(unitDirPrefix) && !e.path.slice(unitDirPrefix.length).includes('/'))
      .map((e) => e.path.slice(unitDirPrefix.length))
      .filter(isUnitName),
  );
  const present = new Set(image.entries.map((e) => canonicalPath(e.path)));
  const unitFiles = image.entries.filter((e) => {
    if (!e.path.startsWith(unitDirPrefix) || (e.type !== 'file' && e.type !== 'symlink')) return false;
    const rest = e.path.slice(unitDirPrefix.length);
    return (!rest.includes('/') && isUnitName(rest)) || /^[^/]+\.d\/[^/]+\.conf$/.test(rest);
  });
  const execFindings: Finding[] = [];
  for (const unitFile of unitFiles) {
    const resolved = resolveInImage(byPath, unitFile.path);
    if (resolved?.type !== 'file') continue; // aliases to base OS units, or dangling: nothing to read
    const unit = parseUnit((await image.readFile(unitFile.path)).toString('utf8'));
    for (const e of unit.errors) findings.push(finding('warning', 'unit-syntax', `line ${e.line}: ${e.message}`, unitFile.path));
    for (const section of unit.sections) {
      for (const entry of section.entries) {
        if (!EXEC_KEYS.has(entry.key)) continue;
        const program = execProgram(entry.value);
        if (program === undefined) continue;
        if (program.includes('%') || program.includes('$')) {
          execFindings.push(finding('info', 'exec-path', `${entry.key}=${program} uses specifiers or variables; not checked`, unitFile.path));
          continue;
        }
        // Relative names are looked up in systemd's fixed search path, i.e. /usr/bin on Flatcar.
        const canonical = canonicalPath(program.startsWith('/') ? program : `/usr/bin/${program}`);
        if (present.has(canonical)) continue;
        // A '-' prefix tells systemd a missing program is fine (e.g. nvidia under /opt, installed at boot).
        const mayFail = /^[@:+!|]*-/.test(entry.value.trimStart());
        if (canonical.startsWith('opt/') && !mayFail) {
          execFindings.push(finding('error', 'exec-path', `${entry.key}=${program} is not in the image, and /opt has only what sysexts ship`, unitFile.path));
        } else {
          execFindings.push(finding('warning', 'exec-path', `${entry.key}=${program} is not shipped; must exist on the base OS`, unitFile.path));
        }
      }
    }
    const dropIn = /^(?:.*\/)?([^/]+\.target)\.d\/[^/]+\.conf$/.exec(unitFile.path);
    if (dropIn) {
      for (const key of DEPENDENCY_KEYS) {
        for (const value of unitValues(unit, 'Unit', key)) {
          for (const dep of value.split(/\s+/).filter(Boolean)) {
            const template = dep.replace(/@[^.]*\./, '@.');
            if (shipped.has(dep) || shipped.has(template) || isBaseOsUnit(dep)) continue;
            findings.push(finding('error', 'dropin-unit', `${key}=${dep} on ${dropIn[1]}, but the image does not ship ${dep} and it is not a base OS unit`, unitFile.path));
          }
        }
      }
    }
  }
  addCapped(findings, execFindings);
}

/** One line per finding: `error  rule  path: message`. */
export function formatFindings(result: Pick<CheckResult, 'findings'>): string {
  return result.findings.map((f) => `${f.severity}  ${f.rule}  ${f.path ? `${f.path}: ` : ''}${f.message}`).join('\n');
}
