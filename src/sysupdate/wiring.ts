/**
 * What turns installed sysupdate transfers into automatic updates, as the bakery's Butane
 * examples do (flatcar/sysext-bakery README and docs/*.md, Apache-2.0): the
 * systemd-sysupdate.timer enabled, the bakery's noop.conf in /etc/sysupdate.d, one
 * systemd-sysupdate.service drop-in per sysext, and a drop-in that restarts systemd-sysext
 * afterwards. The one home of this text: `flatbake butane`, `butane --for-image` and the
 * bake's `--sysupdate` all read it. Pure.
 */
import { UsageError } from '../errors.js';
import { noopTransfer } from '../bakery-release/sysupdate.js';

export const SYSUPDATE_TIMER = 'systemd-sysupdate.timer';
export const SYSUPDATE_SERVICE = 'systemd-sysupdate.service';
export const NOOP_CONF_PATH = '/etc/sysupdate.d/noop.conf';
/** The bakery's name for the drop-in that restarts systemd-sysext. */
export const RESTART_DROPIN = 'sysext.conf';
/** `systemctl enable` of the timer: its [Install] section says WantedBy=timers.target. */
export const TIMER_WANTS_LINK = { path: `/etc/systemd/system/timers.target.wants/${SYSUPDATE_TIMER}`, target: `/usr/lib/systemd/system/${SYSUPDATE_TIMER}` };
export const DROPIN_DIR = `/etc/systemd/system/${SYSUPDATE_SERVICE}.d`;

export interface Dropin {
  name: string;
  contents: string;
}

/** `/etc/sysupdate.NAME.d/NAME.conf`: where a sysext's transfer is installed. */
export function transferPath(name: string): string {
  return `/etc/sysupdate.${name}.d/${name}.conf`;
}

export function noopConf(): string {
  return noopTransfer();
}

/**
 * The systemd-sysupdate.service drop-ins for these sysexts.
 *
 * The service's own `ExecStart=systemd-sysupdate update` reads only /etc/sysupdate.d (hence
 * noop.conf there); each sysext's transfer lives in /etc/sysupdate.NAME.d and runs as component
 * NAME with `-C NAME`. As in the current bakery docs, each drop-in records where
 * /etc/extensions/NAME.raw points before and after and touches /run/reboot-required when it
 * moved, so a reboot manager reboots into the new image; as in the earlier bakery README, a last
 * drop-in restarts systemd-sysext so the new image is merged for what starts afterwards. The
 * order of drop-ins does not matter here: every ExecStartPre (the updates) runs before
 * ExecStart, every ExecStartPost after it, and the flag steps only read links.
 */
export function sysupdateDropins(names: readonly string[]): Dropin[] {
  if (names.includes('sysext')) {
    throw new UsageError(
      "a sysext named 'sysext' would share its systemd-sysupdate drop-in with the systemd-sysext restart (sysext.conf)",
      'rename the sysext (NAME in NAME:FILE) when updates are wired',
    );
  }
  const dropins = names.map((name) => {
    const link = `/etc/extensions/${name}.raw`;
    const lines = [
      '[Service]',
      `ExecStartPre=/usr/bin/sh -c "readlink --canonicalize ${link} > /tmp/${name}"`,
      `ExecStartPre=/usr/lib/systemd/systemd-sysupdate -C ${name} update`,
      `ExecStartPost=/usr/bin/sh -c "readlink --canonicalize ${link} > /tmp/${name}-new"`,
      `ExecStartPost=/usr/bin/sh -c "if ! cmp --silent /tmp/${name} /tmp/${name}-new; then touch /run/reboot-required; fi"`,
    ];
    return { name: `${name}.conf`, contents: `${lines.join('\n')}\n` };
  });
  dropins.push({ name: RESTART_DROPIN, contents: '[Service]\nExecStartPost=systemctl restart systemd-sysext\n' });
  return dropins;
}
