import { parseExtensionRelease } from './extension-release.js';
import { openSysextImage } from './image-reader.js';

/** The fields of the image's /usr/lib/os-release that systemd-sysext matches a sysext against. */
export interface HostRelease {
  ID: string;
  ID_LIKE?: string;
  VERSION_ID?: string;
  SYSEXT_LEVEL?: string;
  /** systemd's name of the image's architecture (x86-64, arm64): what the booted kernel reports. */
  ARCHITECTURE: string;
}

const RELEASE_DIR = 'usr/lib/extension-release.d';

/**
 * The extension-release fields of a sysext image: `extension-release.NAME` (the name systemd
 * looks for, from /etc/extensions/NAME.raw), else the image's only extension-release file.
 * Undefined when it has none.
 */
export async function readExtensionReleaseFields(file: string, name: string): Promise<{ fields: Record<string, string>; path: string } | undefined> {
  const image = await openSysextImage(file);
  try {
    let relPath = `${RELEASE_DIR}/extension-release.${name}`;
    if (!image.entry(relPath)) {
      const others = image.entries.filter((e) => e.path.startsWith(`${RELEASE_DIR}/extension-release.`) && !e.path.slice(RELEASE_DIR.length + 1).includes('/'));
      if (others.length !== 1) return undefined;
      relPath = others[0]!.path;
    }
    const text = (await image.readFile(relPath)).toString('utf8');
    return { fields: parseExtensionRelease(text).fields, path: relPath };
  } finally {
    await image.close();
  }
}

/**
 * Why systemd-sysext would refuse to merge a sysext with these extension-release fields on a
 * host with this os-release, or undefined when it would merge it. The order and the rules are
 * systemd's (src/shared/extension-util.c, extension_release_validate, v256+): SYSEXT_SCOPE must
 * include "system"; ID must be there; ARCHITECTURE, when set and not `_any`, must be the host's;
 * ID `_any` then matches any OS; else ID must be the host's ID or one of its ID_LIKE; then
 * SYSEXT_LEVEL must equal the host's when both have one, else VERSION_ID must equal the host's.
 */
export function sysextIncompatibility(ext: Readonly<Record<string, string>>, host: HostRelease): string | undefined {
  const scope = ext.SYSEXT_SCOPE;
  if (scope !== undefined && scope.trim() !== '' && !scope.split(/\s+/).includes('system')) {
    return `SYSEXT_SCOPE=${scope} does not include "system"`;
  }
  const id = ext.ID;
  if (id === undefined || id === '') return 'ID= is missing';
  const arch = ext.ARCHITECTURE;
  if (arch !== undefined && arch !== '' && arch !== '_any' && arch !== host.ARCHITECTURE) {
    return `ARCHITECTURE=${arch}, but the image is ${host.ARCHITECTURE}`;
  }
  if (id === '_any') return undefined;
  const like = (host.ID_LIKE ?? '').split(/\s+/).filter(Boolean);
  if (id !== host.ID && !like.includes(id)) return `ID=${id}, but the image is ID=${host.ID}${like.length ? ` (ID_LIKE=${like.join(' ')})` : ''}`;
  const level = ext.SYSEXT_LEVEL;
  if (level && host.SYSEXT_LEVEL) {
    return level === host.SYSEXT_LEVEL ? undefined : `SYSEXT_LEVEL=${level}, but the image has SYSEXT_LEVEL=${host.SYSEXT_LEVEL}`;
  }
  if (!host.VERSION_ID) return undefined;
  const version = ext.VERSION_ID;
  if (!version) return `neither SYSEXT_LEVEL= nor VERSION_ID= is set${host.SYSEXT_LEVEL ? ` (the image has SYSEXT_LEVEL=${host.SYSEXT_LEVEL})` : ''}`;
  if (version !== host.VERSION_ID) return `VERSION_ID=${version}, but the image is VERSION_ID=${host.VERSION_ID}`;
  return undefined;
}
