/**
 * `flatbake release`: build a sysext-bakery style release (images, sysupdate transfers,
 * SHA256SUMS, Release.md) from a versions file, carrying over what a previous release has.
 */
export {
  buildRelease,
  DEFAULT_ARCHES,
  ReleaseBuildError,
  RELEASE_NOTES_FILE,
  SHA256SUMS_FILE,
  type BuildReleaseOptions,
  type BuildReleaseResult,
  type BuiltImage,
  type CarriedImage,
  type ImageFailure,
  type SkippedImage,
} from './build-release.js';
export {
  discoverVersions,
  githubReleasesUrl,
  GITHUB_PROJECTS,
  KUBERNETES_SCHEDULE_URL,
  latestReleasePerMinor,
  parseGithubReleases,
  parseKubernetesSchedule,
  type DiscoverOptions,
  type DiscoverProject,
  type Discovery,
  type GithubRelease,
  type SupportedMinor,
} from './discover.js';
export { carryImage, openPreviousRelease, type PreviousRelease } from './previous.js';
export { formatSha256Sums, renderReleaseNotes, type ReleaseImage, type ReleaseNotesInput } from './release-files.js';
export {
  checkBaseUrl,
  DEFAULT_BASE_URL,
  MINOR_STREAM_RECIPES,
  minorOf,
  NOOP_TRANSFER_FILE,
  noopTransfer,
  sysupdateTransfer,
  transfersFor,
  type TransferSpec,
} from './sysupdate.js';
export { mergeVersionEntries, parseVersionsFile, type VersionEntry } from './versions-file.js';
