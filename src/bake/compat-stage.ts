import { InputError } from '../errors.js';
import { readExtensionReleaseFields, sysextIncompatibility, type HostRelease } from '../sysext/compat.js';
import type { BakeContext } from './context.js';
import type { Arch } from '../arch.js';

/**
 * The os-release of a Flatcar release image, without opening it: ID=flatcar, VERSION_ID is the
 * release version, and SYSEXT_LEVEL=1.0 (flatcar/scripts build_library/set_lsb_release writes
 * it into /usr/lib/os-release of every image since 2022, Apache-2.0/BSD licensed).
 */
export function flatcarReleaseHost(version: string, arch: Arch): HostRelease {
  return { ID: 'flatcar', VERSION_ID: version, SYSEXT_LEVEL: '1.0', ARCHITECTURE: arch };
}

/** The same from an image's own /usr/lib/os-release (--image). */
export function hostFromOsRelease(osRelease: Readonly<Record<string, string>>, arch: Arch): HostRelease {
  return {
    ID: osRelease.ID || 'linux', // os-release(5): ID defaults to "linux"
    ID_LIKE: osRelease.ID_LIKE,
    VERSION_ID: osRelease.VERSION_ID,
    SYSEXT_LEVEL: osRelease.SYSEXT_LEVEL,
    ARCHITECTURE: arch,
  };
}

/**
 * Refuses a sysext systemd-sysext would refuse to merge on this image at boot (another OS,
 * another architecture, another SYSEXT_LEVEL or VERSION_ID, or no extension-release at all),
 * naming the sysext and the field, before anything is written into the image.
 */
export async function checkSysextCompat(ctx: BakeContext, sysexts: ReadonlyArray<{ name: string; source: string }>, host: HostRelease): Promise<void> {
  for (const s of sysexts) {
    const release = await readExtensionReleaseFields(s.source, s.name);
    if (release === undefined) {
      throw new InputError(
        `sysext '${s.name}' (${s.source}) has no usr/lib/extension-release.d/extension-release.${s.name}: systemd-sysext would refuse to merge it`,
        'rebuild it with `flatbake sysext create`, which writes one (ID=flatcar SYSEXT_LEVEL=1.0, or ID=_any)',
      );
    }
    const why = sysextIncompatibility(release.fields, host);
    if (why !== undefined) {
      throw new InputError(
        `sysext '${s.name}' does not fit this image: its ${release.path} says ${why}; systemd-sysext would refuse to merge it`,
        `use a build of it for ${host.ID} ${host.VERSION_ID ?? ''} on ${host.ARCHITECTURE} (ID=${host.ID} with SYSEXT_LEVEL=${host.SYSEXT_LEVEL ?? '<level>'}, or ID=_any)`.replace('  ', ' '),
      );
    }
  }
  if (sysexts.length) ctx.report.step('check', `${sysexts.length} sysext(s) match the image (${host.ID} ${host.VERSION_ID ?? ''} ${host.ARCHITECTURE})`);
}
