/**
 * Why systemd-sysext would refuse an extension, in words: the matching rules
 * of systemd's extension-release checks (ID, then SYSEXT_LEVEL or VERSION_ID,
 * then ARCHITECTURE), applied to the extension's extension-release and the
 * booted os-release. Only an explanation: whether it merged is the guest's word.
 */
export function explainMismatch(ext: Record<string, string> | undefined, os: Record<string, string>, guestArch: string): string | undefined {
  if (!ext) return undefined;
  const id = ext.ID;
  if (!id) return 'its extension-release has no ID=';
  if (id !== '_any' && id !== os.ID) return `its extension-release says ID=${id}, the image is ID=${os.ID ?? '(none)'}`;
  if (id !== '_any') {
    if (ext.SYSEXT_LEVEL !== undefined) {
      if (ext.SYSEXT_LEVEL !== os.SYSEXT_LEVEL) return `SYSEXT_LEVEL=${ext.SYSEXT_LEVEL} does not match the image's SYSEXT_LEVEL=${os.SYSEXT_LEVEL ?? '(none)'}`;
    } else if (ext.VERSION_ID !== undefined && ext.VERSION_ID !== os.VERSION_ID) {
      return `VERSION_ID=${ext.VERSION_ID} does not match the image's VERSION_ID=${os.VERSION_ID ?? '(none)'}`;
    }
  }
  const arch = ext.ARCHITECTURE;
  if (arch && arch !== '_any' && arch !== guestArch) return `ARCHITECTURE=${arch}, the guest is ${guestArch}`;
  return undefined;
}
