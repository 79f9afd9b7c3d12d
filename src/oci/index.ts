/** Pull OCI/Docker images into a rootfs directory and run commands in it: the library behind `flatbake oci-rootfs`. */
export { pullImage, type PullImageOptions, type PullImageResult, type PulledLayer } from './pull.js';
export { runInRootfs, type RunInRootfsOptions, type RunInRootfsResult, type Sandbox } from './run.js';
export { parseImageRef, formatImageRef, isLoopbackRegistry, DOCKER_HUB_REGISTRY, type ImageRef, type ParseImageRefOptions } from './reference.js';
export { parseWwwAuthenticate, credentialsFromEnv, type AuthChallenge, type RegistryCredentials } from './auth.js';
export {
  MEDIA_TYPES,
  MANIFEST_ACCEPT,
  ociPlatform,
  parseManifest,
  selectPlatform,
  layerCompression,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from './manifest.js';
export { readTar, parseTarHeader, parsePaxRecords, parseTarNumber, TarFormatError, type TarEntry, type TarStreamEntry } from '../util/tar.js';
export { RootfsWriter, normalizeEntryPath, UnsafeLayerError, type LayerStats } from './apply.js';
export { applyLayerFile, sniffCompression } from './layer.js';
export { RegistryClient } from './registry.js';
