/** Defaults of the command line (the option defaults README.md documents). */
export const DEFAULT_RELEASE_SERVER = 'https://{channel}.release.flatcar-linux.net';
export const DEFAULT_RELEASES_JSON = 'https://www.flatcar.org/releases-json/releases.json';
export const DEFAULT_SIGNING_KEY = 'https://www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc';
export const DEFAULT_BAKERY_URL = 'https://extensions.flatcar.org/extensions';
export const DEFAULT_INSTALL_TO = 'root:/opt/extensions/';

export const IMAGE_FILE = 'flatcar_production_image.bin';
export const IMAGE_BZ2_FILE = `${IMAGE_FILE}.bz2`;
export const VERSION_FILE = 'version.txt';
export const MANIFEST_FILE = 'flatbake-manifest.json';
