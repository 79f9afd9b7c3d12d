import path from 'node:path';
import { SYSEXT_NAME_PATTERN } from '../sysext/extension-release.js';
import { DEFAULT_BAKERY_URL } from '../defaults.js';
import { InputError, UsageError } from '../errors.js';
import { NOOP_CONF_PATH, noopConf, RESTART_DROPIN, SYSUPDATE_SERVICE, SYSUPDATE_TIMER, sysupdateDropins, transferPath } from '../sysupdate/wiring.js';

/**
 * The provisioning config `flatbake butane` prints, as a small model that both renderers
 * (Butane YAML and Ignition JSON) read. It holds only what the bakery README's snippets use:
 * files fetched from a URL (or given inline, or left empty), symlinks, and systemd units with
 * drop-ins. Building it is pure: no I/O, no clock, so the same arguments give the same text.
 */

export type FileContents =
  /** Ignition downloads the file on first boot and refuses it unless its SHA-256 is `sha256`. */
  | { source: string; sha256: string }
  /** The file's text is carried in the config (Ignition gets it as a `data:` URL). */
  | { inline: string };

export interface ProvisioningFile {
  path: string;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  /** Absent: Ignition creates an empty file. */
  contents?: FileContents;
}

export interface ProvisioningLink {
  path: string;
  target: string;
  /** Always a symlink: sysext links and unit links must not be hard links. */
  hard: false;
  /** Replace whatever already sits at `path` (Ignition otherwise fails on a different node there). */
  overwrite?: boolean;
}

export interface ProvisioningDropin {
  name: string;
  contents: string;
}

export interface ProvisioningUnit {
  name: string;
  enabled?: boolean;
  dropins: ProvisioningDropin[];
}

export interface ProvisioningConfig {
  files: ProvisioningFile[];
  links: ProvisioningLink[];
  units: ProvisioningUnit[];
}

export interface SysextRef {
  name: string;
  /** A file name in the bakery, e.g. `wasmtime-24.0.0-x86-64.raw`. */
  file: string;
}

export interface ProvisioningOptions {
  sysexts: readonly SysextRef[];
  /** Configure systemd-sysupdate to keep the sysexts up to date. */
  sysupdate?: boolean;
  /** Mask Flatcar's built-in docker and containerd sysexts. */
  replaceDocker?: boolean;
  /** Units to start at boot through `multi-user.target.wants/`. */
  enable?: readonly string[];
  /** Where the `.raw` files are fetched from. */
  baseUrl?: string;
  /**
   * The bakery's SHA256SUMS (file name -> SHA-256): every downloaded file carries its digest as
   * Ignition's `verification.hash`, so a machine never runs a file other than the one listed.
   */
  digests: ReadonlyMap<string, string>;
  /**
   * With `sysupdate`: the text of each `NAME.conf` and of `noop.conf`, as fetched from the
   * bakery now. They go into the config inline: SHA256SUMS lists only the images, so a
   * downloaded transfer could not be verified, and inline the machine gets exactly this text.
   */
  transfers?: ReadonlyMap<string, string>;
  /**
   * Directory the `--enable` links point into. The contract default is systemd's
   * `/usr/lib/systemd/system`; the bakery's k3s, rke2 and tailscale sysexts put their units in
   * `/usr/local/lib/systemd/system`, and the README's snippets link there.
   */
  unitDir?: string;
}

export const DEFAULT_UNIT_DIR = '/usr/lib/systemd/system';
/** Ignition's own default for files; written out so the config says what the file gets. */
export const FILE_MODE = 0o644;
/** Where Ignition puts downloaded sysexts; the bakery's sysupdate transfers expect this layout. */
export const EXTENSIONS_STORE = '/opt/extensions';
/** The drop-in that restarts systemd-sysext after the updates (see sysupdateDropins). */
export const SYSUPDATE_DROPIN = RESTART_DROPIN;

// FILE is a bakery file name: a NAME (no `/`, no spaces, nothing a shell or systemd would
// interpret) and a `.raw` suffix, since systemd-sysext only merges `.raw` images.
function isBakeryFileName(file: string): boolean {
  return file.endsWith('.raw') && SYSEXT_NAME_PATTERN.test(file.slice(0, -'.raw'.length));
}

// systemd unit names: a prefix of [A-Za-z0-9:_.\-] (with `\xNN` escapes spelled with `\`), an
// optional `@instance`, and a type that can be pulled in by a `.wants/` link. Devices and scopes
// cannot be enabled, so they are refused here rather than silently doing nothing at boot.
const UNIT_RE =
  /^([A-Za-z0-9:_.\\-]+)@?([A-Za-z0-9:_.\\-]*)\.(service|socket|timer|path|mount|automount|swap|target|slice)$/;
const UNIT_NAME_MAX = 255;
// Every unit type systemd knows, so that e.g. `foo.device` is refused rather than completed.
const UNIT_TYPE_SUFFIX_RE = /\.(service|socket|timer|path|mount|automount|swap|target|slice|scope|device)$/;

// Ignition fetches these schemes; appending `/<file>` to the base only makes sense for them
// (`data:` and `arn:` URLs have no path to append to).
const BASE_URL_SCHEMES = new Set(['http:', 'https:', 'tftp:', 's3:', 'gs:']);

/** Parses `NAME:FILE` arguments of `flatbake butane`. */
export function parseSysextRefs(args: readonly string[]): SysextRef[] {
  return args.map((arg) => {
    const colon = arg.indexOf(':');
    if (colon <= 0 || colon === arg.length - 1) {
      throw new UsageError(
        `'${arg}' is not NAME:FILE`,
        'write each sysext as NAME:FILE with FILE a bakery file name, e.g. wasmtime:wasmtime-24.0.0-x86-64.raw',
      );
    }
    return { name: arg.slice(0, colon), file: arg.slice(colon + 1) };
  });
}

function checkSysext(ref: SysextRef): void {
  // The name ends up in paths, in a `sh -c "..."` command line and in systemd directives, so the
  // NAME rule is what keeps those free of quoting, `%` specifiers and path tricks.
  if (!SYSEXT_NAME_PATTERN.test(ref.name)) {
    throw new UsageError(
      `bad sysext name '${ref.name}'`,
      'a NAME starts with a letter or digit and holds only letters, digits and _ . + -',
    );
  }
  if (!isBakeryFileName(ref.file) || ref.file.includes('..')) {
    throw new UsageError(
      `bad file name '${ref.file}' for sysext '${ref.name}'`,
      'FILE is a .raw file name in the bakery (no `/`, no `..`), e.g. wasmtime-24.0.0-x86-64.raw',
    );
  }
}

/**
 * Completes a unit name the way `systemctl enable` does: a name without a unit type is a
 * service (`--enable k3s` means k3s.service).
 */
export function completeUnitName(unit: string): string {
  return UNIT_TYPE_SUFFIX_RE.test(unit) ? unit : `${unit}.service`;
}

/** Validates a unit name for `--enable` and returns the unit file its link must point to. */
function unitFileFor(unit: string): string {
  const match = unit.length <= UNIT_NAME_MAX ? UNIT_RE.exec(unit) : null;
  if (!match) {
    throw new UsageError(
      `bad unit name '${unit}' for --enable`,
      'give a systemd unit name with its type, e.g. k3s.service or tailscaled.service',
    );
  }
  const [, prefix, instance, type] = match;
  if (!unit.includes('@')) return unit;
  if (instance === '') {
    throw new UsageError(
      `cannot enable the template '${unit}' without an instance`,
      `name an instance, e.g. ${prefix}@INSTANCE.${type}`,
    );
  }
  // An instance is enabled by linking its name to the template's unit file, as
  // `systemctl enable getty@tty1.service` does.
  return `${prefix}@.${type}`;
}

function checkAbsoluteDir(dir: string, what: string): string {
  const trimmed = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  if (trimmed === '/' || !trimmed.startsWith('/') || path.posix.normalize(trimmed) !== trimmed || /[\s\0"'\\%]/.test(trimmed)) {
    throw new UsageError(`${what} must be a plain absolute directory, not '${dir}'`, 'e.g. /usr/local/lib/systemd/system');
  }
  return trimmed;
}

/** Checks the base URL and returns it without trailing slashes, ready for `/<file>`. */
export function normalizeBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new UsageError(`--base-url '${baseUrl}' is not a URL`, `e.g. ${DEFAULT_BAKERY_URL}`);
  }
  if (!BASE_URL_SCHEMES.has(url.protocol)) {
    throw new UsageError(
      `--base-url '${baseUrl}' uses ${url.protocol}, which Ignition cannot fetch files below`,
      'use an http(s), tftp, s3 or gs URL',
    );
  }
  // A query or fragment would end up before `/<file>` and change what is fetched.
  if (url.search !== '' || url.hash !== '' || baseUrl.includes('?') || baseUrl.includes('#')) {
    throw new UsageError(`--base-url '${baseUrl}' must not have a query or fragment`, 'files are fetched as <base-url>/<file>');
  }
  return baseUrl.replace(/\/+$/, '');
}

/**
 * Checks everything the user typed, before anything is fetched: the base URL, the unit dir,
 * the sysexts, the units to enable. Pure.
 */
export function checkProvisioningOptions(options: Omit<ProvisioningOptions, 'digests' | 'transfers'>): { baseUrl: string; unitDir: string; names: Set<string> } {
  const baseUrl = normalizeBaseUrl(options.baseUrl ?? DEFAULT_BAKERY_URL);
  const unitDir = checkAbsoluteDir(options.unitDir ?? DEFAULT_UNIT_DIR, 'the unit directory');
  if (options.sysexts.length === 0) {
    throw new UsageError('no sysexts given', 'name at least one NAME:FILE, e.g. `flatbake butane wasmtime:wasmtime-24.0.0-x86-64.raw`');
  }
  const names = new Set<string>();
  for (const ref of options.sysexts) {
    checkSysext(ref);
    if (names.has(ref.name)) throw new UsageError(`sysext name '${ref.name}' is given twice`, 'each NAME may appear once');
    names.add(ref.name);
  }
  for (const unit of options.enable ?? []) unitFileFor(completeUnitName(unit));
  if (options.sysupdate) sysupdateDropins([...names]);
  return { baseUrl, unitDir, names };
}

/** Builds the provisioning model from validated options. Pure. */
export function buildProvisioningConfig(options: ProvisioningOptions): ProvisioningConfig {
  const { baseUrl, unitDir, names } = checkProvisioningOptions(options);

  const files: ProvisioningFile[] = [];
  const links: ProvisioningLink[] = [];
  const units: ProvisioningUnit[] = [];

  for (const { name, file } of options.sysexts) {
    // One directory per sysext: the bakery's sysupdate transfer for NAME keeps its versions in
    // /opt/extensions/NAME and repoints /etc/extensions/NAME.raw at the newest.
    const stored = `${EXTENSIONS_STORE}/${name}/${file}`;
    const sha256 = options.digests.get(file);
    if (!sha256) {
      throw new InputError(`${file} is not listed in the bakery's SHA256SUMS`, `check the file name against ${baseUrl}/SHA256SUMS`);
    }
    files.push({ path: stored, mode: FILE_MODE, contents: { source: `${baseUrl}/${file}`, sha256 } });
    links.push({ path: `/etc/extensions/${name}.raw`, target: stored, hard: false });
  }

  if (options.sysupdate) {
    const transfer = (file: string): FileContents => {
      const text = options.transfers?.get(file);
      if (text === undefined) throw new InputError(`the bakery has no ${file}`, `--sysupdate needs ${baseUrl}/${file}`);
      return { inline: text };
    };
    files.push({ path: NOOP_CONF_PATH, mode: FILE_MODE, contents: transfer('noop.conf') });
    for (const { name } of options.sysexts) {
      files.push({ path: transferPath(name), mode: FILE_MODE, contents: transfer(`${name}.conf`) });
    }
    units.push({ name: SYSUPDATE_TIMER, enabled: true, dropins: [] });
    units.push({ name: SYSUPDATE_SERVICE, dropins: sysupdateDropins([...names]) });
  }

  if (options.replaceDocker) {
    // Flatcar links its own docker and containerd sysexts into /etc/extensions; pointing those
    // names at /dev/null masks them. `overwrite` because the links may already exist.
    for (const builtin of ['docker-flatcar', 'containerd-flatcar']) {
      links.push({ path: `/etc/extensions/${builtin}.raw`, target: '/dev/null', hard: false, overwrite: true });
    }
    // Releases before Flatcar dropped Torcx (still the case on LTS 2023) would also start the
    // Torcx docker; an empty, non-executable generator in /etc masks the one in /usr. On newer
    // releases it masks nothing and is harmless. The README's docker snippet does the same.
    files.push({ path: '/etc/systemd/system-generators/torcx-generator', mode: FILE_MODE });
  }

  const enabled = new Set<string>();
  for (const given of options.enable ?? []) {
    const unit = completeUnitName(given);
    const unitFile = unitFileFor(unit);
    // Enabling the same unit twice asks for the same link: keep one instead of emitting a
    // duplicate path that Ignition would reject.
    if (enabled.has(unit)) continue;
    enabled.add(unit);
    links.push({
      path: `/etc/systemd/system/multi-user.target.wants/${unit}`,
      target: `${unitDir}/${unitFile}`,
      hard: false,
      // As in the README's k3s/rke2/tailscale snippets: a re-provisioned /etc may already hold it.
      overwrite: true,
    });
  }

  // Ignition refuses a config that names one path twice; say which before it gets that far.
  // (A sysext called e.g. `docker-flatcar` together with --replace-docker would do it.)
  const seen = new Set<string>();
  for (const node of [...files, ...links]) {
    if (seen.has(node.path)) {
      throw new UsageError(`two entries would write ${node.path}`, 'rename the sysext or drop the option that also writes that path');
    }
    seen.add(node.path);
  }

  return { files, links, units };
}

/**
 * `flatbake butane --for-image`: what enables updates of an already baked image whose sysexts
 * and transfers are in place (the manifest says which have one). Nothing is downloaded: the
 * noop transfer is inline; the rest is the timer and the service drop-ins. Pure.
 */
export function buildUpdateConfig(names: readonly string[]): ProvisioningConfig {
  if (names.length === 0) {
    throw new InputError('no sysext in this image has a sysupdate transfer (NAME.conf), so there is nothing to update', 'bake with NAME.conf next to each FILE, or with --fetch from the bakery');
  }
  return {
    files: [{ path: NOOP_CONF_PATH, mode: FILE_MODE, contents: { inline: noopConf() } }],
    links: [],
    units: [
      { name: SYSUPDATE_TIMER, enabled: true, dropins: [] },
      { name: SYSUPDATE_SERVICE, dropins: sysupdateDropins(names) },
    ],
  };
}
