import { readFile } from 'node:fs/promises';
import { InputError, UsageError } from '../errors.js';
import { fetchText } from '../net/fetch-text.js';
import { parseSha256Sums } from '../verify/sha256sums.js';
import { buildProvisioningConfig, buildUpdateConfig, checkProvisioningOptions, parseSysextRefs } from './model.js';
import { renderButane, renderIgnition } from './render.js';

export {
  buildProvisioningConfig,
  buildUpdateConfig,
  checkProvisioningOptions,
  completeUnitName,
  normalizeBaseUrl,
  parseSysextRefs,
  DEFAULT_UNIT_DIR,
  EXTENSIONS_STORE,
  FILE_MODE,
  SYSUPDATE_DROPIN,
} from './model.js';
export type {
  FileContents,
  ProvisioningConfig,
  ProvisioningDropin,
  ProvisioningFile,
  ProvisioningLink,
  ProvisioningOptions,
  ProvisioningUnit,
  SysextRef,
} from './model.js';
export { BUTANE_VARIANT, BUTANE_VERSION, IGNITION_VERSION, encodeDataUrl, renderButane, renderIgnition } from './render.js';

/** Options of `flatbake butane`, as the CLI layer parses them. */
export interface ButaneCommandOptions {
  sysupdate?: boolean;
  replaceDocker?: boolean;
  /** `--enable <unit>`, repeatable. */
  enable?: readonly string[];
  /** `--base-url <url>`; defaults to the bakery. */
  baseUrl?: string;
  /** `--unit-dir <dir>`: where `--enable` links point (default /usr/lib/systemd/system). */
  unitDir?: string;
  /** `--ignition`: print Ignition JSON instead of Butane YAML. */
  ignition?: boolean;
  /** `--for-image <manifest>`: enable updates of the image this flatbake-manifest.json describes. */
  forImage?: string;
  /** `--mirror <url>`: fetch SHA256SUMS and transfers through an air-gapped mirror. */
  mirror?: string;
}

/**
 * `flatbake butane <NAME:FILE ...>`: the text to print on stdout. Arguments are checked before
 * anything is fetched (a UsageError, exit status 2); then the bakery's SHA256SUMS (and with
 * --sysupdate its transfers) are read from --base-url, so every downloaded file carries its
 * digest. With --for-image nothing is fetched: the manifest says what the image holds.
 */
export async function butaneCommand(args: readonly string[], options: ButaneCommandOptions = {}): Promise<string> {
  const render = options.ignition ? renderIgnition : renderButane;
  if (options.forImage !== undefined) {
    if (args.length > 0) throw new UsageError('--for-image takes the sysexts from the manifest, not from NAME:FILE arguments', 'drop the NAME:FILE arguments');
    return render(buildUpdateConfig(await updatableSysexts(options.forImage)));
  }
  const request = {
    sysexts: parseSysextRefs(args),
    sysupdate: options.sysupdate ?? false,
    replaceDocker: options.replaceDocker ?? false,
    enable: options.enable ?? [],
    ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl } : {}),
    ...(options.unitDir !== undefined ? { unitDir: options.unitDir } : {}),
  };
  const { baseUrl, names } = checkProvisioningOptions(request);
  if (!/^https?:/.test(baseUrl)) {
    throw new UsageError(`flatbake reads SHA256SUMS from --base-url, and cannot fetch ${baseUrl}`, 'give an http(s) --base-url (a mirror of the bakery)');
  }
  const fetchOptions = { mirror: options.mirror };
  const sumsUrl = `${baseUrl}/SHA256SUMS`;
  const digests = parseSha256Sums(await fetchText(sumsUrl, fetchOptions), sumsUrl);
  const transfers = new Map<string, string>();
  if (request.sysupdate) {
    for (const file of ['noop.conf', ...[...names].map((n) => `${n}.conf`)]) transfers.set(file, await fetchText(`${baseUrl}/${file}`, fetchOptions));
  }
  return render(buildProvisioningConfig({ ...request, digests, transfers }));
}

/** The sysexts a baked image can update: those the manifest records a transfer for. */
async function updatableSysexts(manifestFile: string): Promise<string[]> {
  let manifest: { sysexts?: Array<{ name?: unknown; sysupdateConf?: unknown }> };
  try {
    manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as typeof manifest;
  } catch (error) {
    throw new InputError(`cannot read the manifest ${manifestFile}: ${(error as Error).message.split('\n')[0]}`, 'give the flatbake-manifest.json a bake wrote');
  }
  if (!Array.isArray(manifest?.sysexts)) throw new InputError(`${manifestFile} is not a flatbake manifest (it has no sysexts list)`, 'give the flatbake-manifest.json a bake wrote');
  return manifest.sysexts.filter((s) => typeof s.name === 'string' && typeof s.sysupdateConf === 'string').map((s) => s.name as string);
}
