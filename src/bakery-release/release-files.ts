/** The text files of a release besides the transfers: SHA256SUMS and Release.md. Pure. */
import { formatBytes } from '../net/progress.js';
import type { TransferSpec } from './sysupdate.js';
import type { Arch } from '../arch.js';

export interface ReleaseImage {
  /** `<recipe>-<version>-<arch>.raw`. */
  name: string;
  recipe: string;
  version: string;
  arch: Arch;
  sha256: string;
  size: number;
}

/** `sha256sum` output over the images: `<hex>  <name>` lines, sorted by name (byte order, as `LC_ALL=C sort`). */
export function formatSha256Sums(images: readonly Pick<ReleaseImage, 'name' | 'sha256'>[]): string {
  return [...images]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((i) => `${i.sha256}  ${i.name}\n`)
    .join('');
}

/** Markdown cell text: a `|` would end the cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function imageTable<T extends ReleaseImage>(images: readonly T[], extra?: { title: string; value: (i: T) => string }): string[] {
  if (images.length === 0) return ['None.'];
  const head = ['File', 'Recipe', 'Version', 'Arch', 'Size', 'SHA-256', ...(extra ? [extra.title] : [])];
  const rows = [...images]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((i) => [`\`${i.name}\``, i.recipe, i.version, i.arch, formatBytes(i.size), `\`${i.sha256}\``, ...(extra ? [extra.value(i)] : [])]);
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

export interface ReleaseNotesInput {
  built: readonly (ReleaseImage & { cached: boolean })[];
  carried: readonly ReleaseImage[];
  /** Where carried images came from (a URL or a directory). */
  previous: string | undefined;
  transfers: readonly TransferSpec[];
  baseUrl: string;
  /** Images not made because their recipe does not offer the architecture. */
  skipped: readonly { recipe: string; version: string; arch: Arch; reason: string }[];
}

/** Release.md: what was built, what was carried over, and the transfers to install. */
export function renderReleaseNotes(input: ReleaseNotesInput): string {
  const { built, carried, previous, transfers, baseUrl, skipped } = input;
  const summary =
    previous === undefined
      ? `Built ${built.length} image(s).`
      : `Built ${built.length} image(s); carried ${carried.length} over unchanged from the previous release (${previous}).`;
  const lines = [
    '# Sysext release',
    '',
    summary,
    'Every image is listed with its digest in `SHA256SUMS`.',
    '',
    '## Built',
    '',
    ...imageTable(built, { title: 'Note', value: (i) => (i.cached ? 'from the build cache' : '') }),
    '',
    '## Carried over',
    '',
    ...(previous === undefined ? ['None: no previous release was given.'] : imageTable(carried)),
    '',
  ];
  if (skipped.length > 0) {
    lines.push('## Not built', '', ...skipped.map((s) => `- ${s.recipe} ${s.version} (${s.arch}): ${s.reason}`), '');
  }
  lines.push(
    '## systemd-sysupdate transfers',
    '',
    `Each transfer downloads from \`${baseUrl}\` into \`/opt/extensions/<name>\` and points \`/etc/extensions/<name>.raw\` at the newest image.`,
    'Install one as `/etc/sysupdate.<name>.d/<file>`; a per-minor stream (e.g. `kubernetes-v1.31.conf`) stays on that minor.',
    '',
    '| File | Matches |',
    '|---|---|',
    ...transfers.map((t) => `| \`${t.fileName}\` | \`${cell(t.matchPattern)}\` |`),
    '',
    '`noop.conf` matches nothing: put it in `/etc/sysupdate.d/` so the stock systemd-sysupdate run does not fail on an empty directory.',
    '',
  );
  return lines.join('\n');
}
