import { FlatbakeError } from '../errors.js';
import { VERSION } from '../version.js';
import type { InjectedSysext } from './inject.js';
import type { ManifestOemSysext } from './oem-sysexts.js';
import type { SysupdateWiring } from './sysupdate-stage.js';

export interface ManifestOutput {
  vendor: string;
  file: string;
  /** SHA-256 of the file: vendor images always, the generic image with --full-digest. */
  sha256?: string;
  /** The generic image: SHA-256 over the SHA-256 digests of its 4 MiB pieces (README, "Digests"). */
  chunkedSha256?: string;
  size: number;
  /** Bytes of the ROOT partition in the disk this file is or carries (the generic image, vendor disks and bundles). */
  rootSize?: number;
  /** The SDK's other names of this file, published beside it as relative symlinks to it (qemu_uefi: flatcar_production_qemu_image.img, ...). */
  aliases?: string[];
}

/** A sysext the bake built from a recipe: what `--replay` builds again and holds the inputs to. */
export interface ManifestRecipe {
  name: string;
  version: string;
  arch: string;
  /** The upstream files the image was made from (archives, packages), sorted by URL. */
  inputs: Array<{ url: string; sha256: string }>;
}

export interface ManifestSysext extends InjectedSysext {
  /** Where it came from: a bakery URL or a local path (for a recipe build, the path it was asked for as). */
  source: string;
  sha256: string;
  size: number;
  sysupdateConfSha256?: string;
  /** Built from a recipe during the bake. */
  recipe?: ManifestRecipe;
}

/**
 * Bumped when a field changes meaning or goes; new optional fields keep it. The JSON Schema of
 * this version is schemas/manifest.schema.json (the tests validate every manifest they make).
 */
export const MANIFEST_SCHEMA_VERSION = 1;

/** flatbake-manifest.json: what was baked from what, with digests, so a result can be audited. */
export interface Manifest {
  schemaVersion: typeof MANIFEST_SCHEMA_VERSION;
  tool: { name: 'flatbake'; version: string };
  createdAt: string;
  release: {
    version: string;
    channel?: string;
    board: string;
    arch: string;
    build?: string;
    sdkVersion?: string;
  };
  base: {
    source: string;
    sha256: string;
    size: number;
    signature: { verified: boolean; fingerprint?: string };
  };
  installTo: string;
  /** --sysupdate: what enables automatic updates in the image. */
  sysupdate?: SysupdateWiring;
  sysexts: ManifestSysext[];
  vendors: string[];
  /** The OEM sysexts the vendor images carry (absent without such vendors, and in older manifests). */
  oemSysexts?: ManifestOemSysext[];
  /** Vendors whose image could not be written (the others were). */
  failedVendors?: Array<{ vendor: string; error: string }>;
  /** How partitions were edited: loop devices and mounts, or offline on the image file. */
  backend: 'mount' | 'offline';
  /** The settings `flatbake --replay` needs that the fields above do not say (optional: older manifests lack it). */
  settings?: ReplaySettings;
  outputs: ManifestOutput[];
}

export function buildManifest(fields: Omit<Manifest, 'schemaVersion' | 'tool' | 'createdAt'>, now = new Date()): Manifest {
  return { schemaVersion: MANIFEST_SCHEMA_VERSION, tool: { name: 'flatbake', version: VERSION }, createdAt: now.toISOString(), ...fields };
}

/** A bake that failed after publishing something (a failed vendor): the manifest says what is there. */
export class PartialBakeError extends FlatbakeError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly manifest: Manifest,
  ) {
    super(message, hint);
  }
}

/** Bumped with schemas/error.schema.json. */
export const ERROR_SCHEMA_VERSION = 1;

/** What `--json` prints on stdout when a command fails with nothing to describe. */
export interface JsonError {
  schemaVersion: typeof ERROR_SCHEMA_VERSION;
  error: { message: string; hint?: string; exitCode: number };
}


/** Where the inputs came from and how the bake was told to treat them. */
export interface ReplaySettings {
  releaseServer: string;
  releasesJson: string;
  signingKey: string;
  bakeryUrl: string;
  mirror?: string;
  rootSize?: number;
  noOemSysext?: boolean;
  fullDigest?: boolean;
  insecureSkipVerify?: boolean;
}

/** What the manifest says about the release that was baked. */
export type ReleaseInfo = Manifest['release'];
