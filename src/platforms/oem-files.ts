/** The text files a vendor image gets on OEM: /oem/grub.cfg and /oem/oem-release. Pure. */
import { DiskFormatError } from '../errors.js';
import type { GrubSettings } from './types.js';

/** grub string literal: inside double quotes only `"`, `\` and `$` are special. */
function grubQuote(value: string): string {
  return `"${value.replace(/(["\\$])/g, '\\$1')}"`;
}

/**
 * /oem/grub.cfg: Flatcar's grub.cfg sources it to learn the platform
 * (`oem_id`, which Ignition and afterburn key on), extra kernel arguments and
 * the console. Serial terminals go to grub too, so the boot menu shows where
 * the platform has only a serial console.
 */
export function renderGrubCfg(grub: GrubSettings): string {
  const lines = ['# Flatcar GRUB settings for this platform (written by flatbake)', '', `set oem_id=${grubQuote(grub.oemId)}`];
  if (grub.linuxAppend) lines.push(`set linux_append=${grubQuote(grub.linuxAppend)}`);
  const consoleLines: string[] = [];
  if (grub.linuxConsole) consoleLines.push(`set linux_console=${grubQuote(grub.linuxConsole)}`);
  if (grub.serial) {
    const port = `com${grub.serial.unit}`;
    consoleLines.push(`serial ${port} --speed=${grub.serial.speed} --word=8 --parity=no --stop=1`);
    consoleLines.push(`terminal_input serial_${port}`, `terminal_output serial_${port}`);
  }
  const arm64 = grub.linuxConsoleArm64 ? `set linux_console=${grubQuote(grub.linuxConsoleArm64)}` : undefined;
  if (consoleLines.length > 0) {
    lines.push('');
    if (grub.consolePlatform) {
      lines.push(`if [ "$grub_platform" = ${grubQuote(grub.consolePlatform)} ]; then`, ...consoleLines.map((l) => `  ${l}`), 'fi');
    } else if (arm64 && grub.linuxConsole) {
      // One file for both CPUs, as the SDK's: the console line depends on $grub_cpu.
      consoleLines.shift();
      lines.push(...consoleLines, `if [ "$grub_cpu" = arm64 ]; then`, `  ${arm64}`, 'else', `  set linux_console=${grubQuote(grub.linuxConsole)}`, 'fi');
      return lines.join('\n') + '\n';
    } else {
      lines.push(...consoleLines);
    }
  }
  if (arm64) lines.push(`if [ "$grub_cpu" = arm64 ]; then`, `  ${arm64}`, 'fi');
  return lines.join('\n') + '\n';
}

/**
 * /oem/oem-release from an OEM sysext's extension-release: only the
 * `SYSEXT_*` lines are kept; `SYSEXT_ID=oem-<id>` becomes `ID=<id>` and the
 * other keys lose their `SYSEXT_` prefix. Values are kept as written (quotes
 * included). `expectedId` guards against installing another OEM's sysext.
 */
export function oemReleaseFromExtensionRelease(text: string, expectedId?: string): string {
  const out: string[] = [];
  let sawId = false;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    const m = /^SYSEXT_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!;
    let value = m[2]!;
    if (key === 'ID') {
      const quote = /^(["'])(.*)\1$/.exec(value);
      const bare = quote ? quote[2]! : value;
      const id = bare.startsWith('oem-') ? bare.slice('oem-'.length) : bare;
      if (expectedId !== undefined && id !== expectedId) {
        throw new DiskFormatError(
          `the OEM sysext says SYSEXT_ID=${value}, but OEM '${expectedId}' needs SYSEXT_ID=oem-${expectedId}`,
          `use the oem-${expectedId}.raw published beside the Flatcar image`,
        );
      }
      value = quote ? `${quote[1]}${id}${quote[1]}` : id;
      sawId = true;
    }
    out.push(`${key}=${value}`);
  }
  if (expectedId !== undefined && !sawId) {
    throw new DiskFormatError(
      `the OEM sysext's extension-release has no SYSEXT_ID (expected SYSEXT_ID=oem-${expectedId})`,
      `use the oem-${expectedId}.raw published beside the Flatcar image`,
    );
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/** Where the OEM sysext and its marker go on OEM (paths relative to the OEM root). */
export function oemSysextPaths(oemId: string, version: string): { sysext: string; marker: string } {
  return { sysext: `sysext/oem-${oemId}-${version}.raw`, marker: `sysext/active-oem-${oemId}` };
}
