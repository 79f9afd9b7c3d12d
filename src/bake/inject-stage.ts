/**
 * Step 6, grow + inject: the release the staged image holds (for --image, from its os-release),
 * the sysexts checked against it, ROOT grown when asked or needed, and the sysexts written in.
 */
import type { GptTable } from '../gpt/types.js';
import { boardFor } from '../flatcar-release/arch.js';
import { channelOfVersion, isVersion } from '../flatcar-release/resolve.js';
import { throwIfInterrupted } from '../util/scope.js';
import { majorOf, refuseUnsupportedVendors } from '../platforms/releases.js';
import { checkSysextCompat, flatcarReleaseHost, hostFromOsRelease } from './compat-stage.js';
import type { BakeContext } from './context.js';
import type { Fetched } from './fetch-stage.js';
import { injectSysexts, type InjectedSysext, type SysextToInject } from './inject.js';
import type { Staged } from './locate-stage.js';
import type { ReleaseInfo } from './manifest.js';
import type { NoRoomError } from './room.js';
import { growRoot, injectWithRoom } from './root-stage.js';
import { writeUpdateWiring, type SysupdateWiring } from './sysupdate-stage.js';
import type { BakePlan } from './validate.js';

export interface Injected {
  /** The release baked: the fetched one, or what the --image's os-release says. */
  release: ReleaseInfo;
  sysexts: InjectedSysext[];
  sysupdate?: SysupdateWiring;
  /** The staged image's GPT after ROOT grew (the base's when it did not). */
  table: GptTable;
  /** ROOT had to grow for the disk vendors: the generic image (the base's ROOT, or --root-size's) cannot hold the set. */
  tooSmall?: NoRoomError;
}

export async function inject(ctx: BakeContext, plan: BakePlan, fetched: Fetched, staged: Staged): Promise<Injected> {
  const { options, selection } = plan;
  const { image, placed } = staged;
  const fromImage = fetched.base.release ? undefined : await releaseFromImage(ctx, plan, image, staged.table);
  const release = fetched.base.release ?? fromImage!.info;
  if (fromImage && selection.vendors.length) checkLocalImageVendors(ctx, plan, release.version);
  await checkSysextCompat(ctx, fetched.sysexts.toInject, fromImage ? hostFromOsRelease(fromImage.osRelease, options.arch) : flatcarReleaseHost(release.version, options.arch));
  // --root-size grows ROOT first; a run with disk vendors grows it itself when the sysexts need it
  const grownTable = options.rootSize === undefined ? staged.table : await growRoot(ctx, plan.backend, plan.registry, image, options.rootSize);
  // Disk vendors grow ROOT by their layouts anyway: a set too big for the generic image still bakes for them.
  const autoGrow = placed.some((s) => s.place.partition === 'root') && selection.vendors.some((v) => v.kind === 'disk');
  const { injected, table, tooSmall } = await injectWithRoom(ctx, plan.backend, plan.registry, image, grownTable, (t) => writeSysexts(ctx, plan, image, t, placed), autoGrow);
  throwIfInterrupted();
  return { release, sysexts: injected.injected, ...(injected.sysupdate ? { sysupdate: injected.sysupdate } : {}), table, ...(tooSmall ? { tooSmall } : {}) };
}

/** A local image's vendors are checked against the version in its os-release, or not at all (with a warning) when it has none. */
function checkLocalImageVendors(ctx: BakeContext, plan: BakePlan, version: string): void {
  if (majorOf(version) === undefined) {
    ctx.report.warn(`the image's os-release names no Flatcar version ('${version}'): the vendors are not checked against the release's SDK`);
    return;
  }
  refuseUnsupportedVendors(plan.selection.vendors, version, plan.options.arch);
}

async function releaseFromImage(ctx: BakeContext, plan: BakePlan, image: string, table: GptTable): Promise<{ info: ReleaseInfo; osRelease: Record<string, string> }> {
  const osRelease = await plan.backend.readUsrOsRelease(image, table, ctx.workDir);
  const version = osRelease.VERSION_ID ?? osRelease.VERSION ?? 'unknown';
  // os-release's BUILD_ID is a build date; the release's build (version.txt's FLATCAR_BUILD)
  // is the version's first number, and the middle one names the channel (FLATCAR.md).
  const known = isVersion(version);
  const info: ReleaseInfo = {
    version,
    ...(known ? { channel: channelOfVersion(version), build: version.split('.')[0] } : {}),
    board: boardFor(ctx.options.arch),
    arch: ctx.options.arch,
  };
  return { info, osRelease };
}

/**
 * Opens the partitions the sysexts go to, writes them (and --sysupdate's wiring), and commits.
 * The editors are released (unmounted, closed) before the output is hashed and published.
 */
async function writeSysexts(ctx: BakeContext, plan: BakePlan, image: string, table: GptTable, sysexts: SysextToInject[]): Promise<{ injected: InjectedSysext[]; sysupdate?: SysupdateWiring }> {
  const onOem = sysexts.some((s) => s.place.partition === 'oem');
  return plan.backend.withEditors(image, table, { root: true, oem: onOem }, async (editors) => {
    throwIfInterrupted();
    const injected = await injectSysexts(editors, sysexts);
    for (const s of injected) {
      ctx.report.step('inject', `${s.name}: ${s.installedTo}, ${s.symlink} -> ${s.bootedPath}${s.sysupdateConf ? `, ${s.sysupdateConf}` : ''}${s.replaced ? ' (replaced)' : ''}`);
    }
    const sysupdate = ctx.options.sysupdate ? await writeUpdateWiring(editors.root, injected.map((s) => s.name), ctx.workDir) : undefined;
    if (sysupdate) ctx.report.step('sysupdate', `${sysupdate.timer}; ${sysupdate.files.join(', ')}`);
    if (editors.oem) await editors.oem.commit();
    await editors.root.commit();
    return { injected, sysupdate };
  });
}
