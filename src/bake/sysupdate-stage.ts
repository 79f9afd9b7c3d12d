import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { PartitionEditor } from '../backend/editor.js';
import { placementFromTransfer } from '../sysupdate/transfer.js';
import { DROPIN_DIR, NOOP_CONF_PATH, noopConf, sysupdateDropins, TIMER_WANTS_LINK } from '../sysupdate/wiring.js';
import type { Reporter } from '../util/report.js';
import type { SysextToInject } from './inject.js';
import { DEFAULT_INSTALL_TO } from '../defaults.js';
import { parseInstallTarget, type InstallTarget } from './inputs.js';
import type { Arch } from '../arch.js';

/**
 * Where each sysext goes. Without a sysupdate transfer, or with an explicit --install-to:
 * --install-to. With one and the default --install-to: where the
 * transfer's [Target] looks for installed versions (the bakery's says /opt/extensions/NAME),
 * because a file anywhere else is invisible to systemd-sysupdate, which would then download the
 * same version again and leave the baked file orphaned. A transfer whose Target cannot be
 * honoured (another partition type, /usr, specifiers in the path) keeps --install-to, with a
 * warning.
 */
export async function placeSysexts(
  sysexts: ReadonlyArray<Omit<SysextToInject, 'place'>>,
  target: InstallTarget,
  arch: Arch,
  report: Reporter,
): Promise<SysextToInject[]> {
  const placed: SysextToInject[] = [];
  // An --install-to other than the default is the user's explicit choice (e.g. OEM, which
  // survives flatcar-reset): it is kept, with a warning when the transfer looks elsewhere.
  const def = parseInstallTarget(DEFAULT_INSTALL_TO);
  const explicit = target.partition !== def.partition || target.dir !== def.dir;
  for (const sysext of sysexts) {
    if (!sysext.sysupdateConf) {
      placed.push({ ...sysext, place: target });
      continue;
    }
    const plan = placementFromTransfer(sysext.name, sysext.fileName, await readFile(sysext.sysupdateConf, 'utf8'), arch);
    if (explicit) {
      if (!('unusable' in plan) && plan.bootedDir !== target.bootedDir) {
        report.warn(`--install-to keeps ${sysext.name} in ${target.bootedDir}, but ${sysext.name}.conf looks in ${plan.bootedDir}: systemd-sysupdate will not see the baked version and will download one`);
      }
      placed.push({ ...sysext, place: target });
      continue;
    }
    if ('unusable' in plan) {
      report.warn(`${sysext.name}.conf cannot place ${sysext.fileName}: ${plan.unusable}; it goes to --install-to ${target.partition}:${target.dir}, where systemd-sysupdate will not find it`);
      placed.push({ ...sysext, place: target });
      continue;
    }
    for (const warning of plan.warnings) report.warn(warning);
    placed.push({ ...sysext, place: { partition: plan.partition, dir: plan.dir, bootedDir: plan.bootedDir } });
  }
  return placed;
}

/** What --sysupdate wrote, for the manifest. */
export interface SysupdateWiring {
  /** Sysexts systemd-sysupdate.service updates. */
  sysexts: string[];
  /** The enabled timer, as `link -> unit file`. */
  timer: string;
  /** Files written on ROOT. */
  files: string[];
}

/** --sysupdate needs every sysext's transfer; say which lack one before anything is written. */
export function checkSysupdateInputs(sysexts: ReadonlyArray<Pick<SysextToInject, 'name' | 'sysupdateConf'>>, fetch: boolean): void {
  const missing = sysexts.filter((s) => !s.sysupdateConf).map((s) => s.name);
  if (missing.length === 0) return;
  throw new InputError(
    `--sysupdate: no sysupdate transfer (NAME.conf) for ${missing.join(', ')}`,
    fetch ? 'the bakery publishes NAME.conf only for its own sysexts; bake those without --sysupdate' : 'put NAME.conf next to each FILE (flatbake release writes them), or bake without --sysupdate',
  );
}

/**
 * --sysupdate: enables systemd-sysupdate.timer and installs noop.conf and the service drop-ins
 * on ROOT, so the baked sysexts update themselves from the first boot on.
 */
export async function writeUpdateWiring(root: PartitionEditor, names: readonly string[], workDir: string): Promise<SysupdateWiring> {
  const dropins = sysupdateDropins(names);
  const files: Array<{ path: string; contents: string }> = [
    { path: NOOP_CONF_PATH, contents: noopConf() },
    ...dropins.map((d) => ({ path: `${DROPIN_DIR}/${d.name}`, contents: d.contents })),
  ];
  const staging = path.join(workDir, 'sysupdate-wiring');
  await mkdir(staging, { recursive: true });
  for (const [i, file] of files.entries()) {
    const host = path.join(staging, String(i));
    await writeFile(host, file.contents);
    await root.mkdirp(path.posix.dirname(file.path), 0o755);
    await root.writeFile(file.path, host, { mode: 0o644 });
  }
  await root.mkdirp(path.posix.dirname(TIMER_WANTS_LINK.path), 0o755);
  await root.symlink(TIMER_WANTS_LINK.path, TIMER_WANTS_LINK.target);
  return { sysexts: [...names], timer: `${TIMER_WANTS_LINK.path} -> ${TIMER_WANTS_LINK.target}`, files: files.map((f) => f.path) };
}
