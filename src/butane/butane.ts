import { buildProvisioningConfig, parseSysextRefs } from './model.js';
import { renderButane, renderIgnition } from './render.js';

export {
  buildProvisioningConfig,
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
}

/**
 * `flatbake butane <NAME:FILE ...>`: the text to print on stdout. It touches nothing (no
 * network, no files), so the CLI layer only has to write the result; bad arguments throw a
 * UsageError (exit status 2) before any text is produced.
 */
export function butaneCommand(args: readonly string[], options: ButaneCommandOptions = {}): string {
  const model = buildProvisioningConfig({
    sysexts: parseSysextRefs(args),
    sysupdate: options.sysupdate ?? false,
    replaceDocker: options.replaceDocker ?? false,
    enable: options.enable ?? [],
    ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl } : {}),
    ...(options.unitDir !== undefined ? { unitDir: options.unitDir } : {}),
  });
  return options.ignition ? renderIgnition(model) : renderButane(model);
}
