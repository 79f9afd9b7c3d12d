/**
 * How the verdict leaves the guest. A oneshot unit, added to the throwaway
 * overlay's ROOT and pulled in by sysinit.target after systemd-sysext.service,
 * writes between two markers on a channel of its own (a second serial port on
 * x86-64, a virtio console on arm64; see qemu.ts for why not the console):
 *   - `systemd-sysext status --json=short` and `list --json=short` (systemd's own view),
 *   - `stat -L` of every /etc/extensions link (a dangling one fails),
 *   - sha256sum of files each extension must show under /usr or /opt,
 *   - sha256sum of the Ignition config QEMU handed over through fw_cfg, as
 *     Flatcar's qemu OEM reads it (nothing when there is none),
 * then powers the guest off. It runs programs directly (no shell), so it works
 * on any systemd /usr with coreutils: Flatcar's and the synthetic release's.
 */
import { InputError } from '../errors.js';

export const UNIT_NAME = 'flatbake-boot-verdict.service';
export const BEGIN = 'FLATBAKE-VERDICT-BEGIN';
export const END = 'FLATBAKE-VERDICT-END';
const SECTIONS = ['STATUS', 'LIST', 'LINKS', 'FILES', 'IGNITION', 'OS-RELEASE'] as const;

/**
 * Where the guest kernel's qemu_fw_cfg driver shows the fw_cfg entry `opt/org.flatcar-linux/config`
 * (the path Ignition's qemu provider reads on Flatcar; the synthetic release's initramfs loads the module).
 */
export const IGNITION_FW_CFG_RAW = '/sys/firmware/qemu_fw_cfg/by_name/opt/org.flatcar-linux/config/raw';
type Section = (typeof SECTIONS)[number];

/** systemd unit files take C-style escapes; a path with a space or quote is quoted. */
function arg(value: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) throw new InputError(`cannot pass ${JSON.stringify(value)} to the verdict unit`);
  const escaped = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return `"${escaped}"`;
}

export interface VerdictUnitInput {
  /** A random token, so an old or quoted marker is never mistaken for this run's. */
  nonce: string;
  /** /etc/extensions/NAME.raw paths. */
  links: string[];
  /** Absolute in-guest paths to hash (under /usr or /opt). */
  files: string[];
  tty: string;
}

export function verdictUnit(v: VerdictUnitInput): string {
  const mark = (what: string) => `ExecStart=/usr/bin/echo ${what} ${v.nonce}`;
  const lines = [
    '# Added by flatbake boot to a throwaway overlay; never written to the image itself.',
    '[Unit]',
    'Description=flatbake boot: report which system extensions merged',
    'DefaultDependencies=no',
    // ensure-sysext.service is Flatcar's second pass over /etc/extensions; After= a missing unit is harmless.
    'After=systemd-sysext.service ensure-sysext.service local-fs.target',
    'SuccessAction=poweroff-force',
    'FailureAction=poweroff-force',
    '',
    '[Service]',
    'Type=oneshot',
    'StandardOutput=tty',
    'StandardError=inherit',
    `TTYPath=/dev/${v.tty}`,
    'TTYReset=no',
    'TTYVHangup=no',
    mark(BEGIN),
    mark('STATUS'),
    'ExecStart=-/usr/bin/systemd-sysext status --json=short --no-pager',
    mark('LIST'),
    'ExecStart=-/usr/bin/systemd-sysext list --json=short --no-pager',
    mark('LINKS'),
  ];
  if (v.links.length) lines.push(`ExecStart=-/usr/bin/stat -L -c "link %%s %%n" -- ${v.links.map(arg).join(' ')}`);
  lines.push(mark('FILES'));
  if (v.files.length) lines.push(`ExecStart=-/usr/bin/sha256sum -- ${v.files.map(arg).join(' ')}`);
  // Fails (ignored, '-') when QEMU got no --ignition: then the section stays without a digest.
  lines.push(mark('IGNITION'), `ExecStart=-/usr/bin/sha256sum -- ${IGNITION_FW_CFG_RAW}`);
  lines.push(mark('OS-RELEASE'), 'ExecStart=-/usr/bin/cat /usr/lib/os-release', mark(END), '');
  return lines.join('\n');
}

export interface GuestEvidence {
  /** hierarchy -> merged extension names */
  status: Map<string, string[]>;
  /** names systemd-sysext found as images */
  listed: string[];
  /** link path -> size of its target; missing = the link does not resolve */
  linkSizes: Map<string, number>;
  /** in-guest path -> sha256 */
  fileHashes: Map<string, string>;
  /** sha256 of the fw_cfg Ignition config the guest read; undefined when it found none. */
  ignitionSha256?: string;
  osRelease: Record<string, string>;
  /** Raw lines of each section, for the report. */
  raw: Record<Section, string[]>;
}

/** The text between this run's markers, or undefined when the END marker has not come. */
export function verdictBlock(channelText: string, nonce: string): string | undefined {
  const text = channelText.replace(/\r/g, '');
  const begin = text.indexOf(`${BEGIN} ${nonce}`);
  if (begin < 0) return undefined;
  const end = text.indexOf(`${END} ${nonce}`, begin);
  return end < 0 ? undefined : text.slice(begin, end);
}

/** A JSON array on a line, even when something else shares the line (a kernel message, if the channel is a console). */
function jsonArray(lines: string[]): unknown[] {
  for (const line of lines) {
    const start = line.indexOf('[');
    const end = line.lastIndexOf(']');
    for (let s = start; s >= 0 && s < end; s = line.indexOf('[', s + 1)) {
      try {
        const value = JSON.parse(line.slice(s, end + 1)) as unknown;
        if (Array.isArray(value)) return value;
      } catch {
        /* a kernel timestamp such as "[   12.3]"; try the next bracket */
      }
    }
  }
  return [];
}

export function parseVerdict(block: string, nonce: string): GuestEvidence {
  const raw = Object.fromEntries(SECTIONS.map((s) => [s, [] as string[]])) as Record<Section, string[]>;
  let current: Section | undefined;
  for (const line of block.split('\n')) {
    const marker = SECTIONS.find((s) => line.includes(`${s} ${nonce}`));
    if (marker) {
      current = marker;
      continue;
    }
    if (current && line.trim() !== '') raw[current].push(line);
  }
  const status = new Map<string, string[]>();
  for (const entry of jsonArray(raw.STATUS) as Array<{ hierarchy?: string; extensions?: unknown }>) {
    if (typeof entry?.hierarchy !== 'string') continue;
    // systemd prints "none" (a string) when nothing is merged into a hierarchy.
    status.set(entry.hierarchy, Array.isArray(entry.extensions) ? entry.extensions.filter((e): e is string => typeof e === 'string') : []);
  }
  const listed = (jsonArray(raw.LIST) as Array<{ name?: unknown }>).map((e) => e?.name).filter((n): n is string => typeof n === 'string');
  const linkSizes = new Map<string, number>();
  for (const line of raw.LINKS) {
    const m = /link (\d+) (\/\S.*)$/.exec(line);
    if (m) linkSizes.set(m[2]!, Number(m[1]));
  }
  const fileHashes = new Map<string, string>();
  for (const line of raw.FILES) {
    const m = /([0-9a-f]{64}) {2}(\/.*)$/.exec(line);
    if (m) fileHashes.set(m[2]!, m[1]!);
  }
  let ignitionSha256: string | undefined;
  for (const line of raw.IGNITION) {
    const m = /([0-9a-f]{64}) {2}(\/.*)$/.exec(line);
    if (m && m[2] === IGNITION_FW_CFG_RAW) ignitionSha256 = m[1];
  }
  const osRelease: Record<string, string> = {};
  for (const line of raw['OS-RELEASE']) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) osRelease[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return { status, listed, linkSizes, fileHashes, ignitionSha256, osRelease, raw };
}
