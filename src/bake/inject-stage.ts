/**
 * Step 6, grow + inject: the release the staged image holds (for --image, from its os-release),
 * the sysexts checked against it, ROOT grown when asked or needed, and the sysexts written in.
 */
import { InputError } from '../errors.js';
import { locateFlatcarPartition } from '../gpt/locate.js';
import type { GptTable } from '../gpt/types.js';
import { mountPartition } from '../image/loop.js';
import { MountedEditor } from '../image/mounted-editor.js';
import { openBtrfsEditor, openExt4Editor } from '../image/offline/index.js';
import { readUsrOsRelease, readUsrOsReleaseOffline } from '../image/os-release.js';
import { boardFor } from '../flatcar-release/arch.js';
import { channelOfVersion, isVersion } from '../flatcar-release/resolve.js';
import { ResourceScope, throwIfInterrupted } from '../util/scope.js';
import { majorOf, refuseUnsupportedVendors } from '../platforms/releases.js';
import { checkSysextCompat, flatcarReleaseHost, hostFromOsRelease } from './compat-stage.js';
import type { BakeContext } from './context.js';
import type { Fetched } from './fetch-stage.js';
import { injectSysexts, type InjectedSysext, type PartitionEditors, type SysextToInject } from './inject.js';
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
  const grownTable = options.rootSize === undefined ? staged.table : await growRoot(ctx, plan.priv, plan.registry, image, options.rootSize);
  // Disk vendors grow ROOT by their layouts anyway: a set too big for the generic image still bakes for them.
  const autoGrow = placed.some((s) => s.place.partition === 'root') && selection.vendors.some((v) => v.kind === 'disk');
  const { injected, table, tooSmall } = await injectWithRoom(ctx, plan.priv, plan.registry, image, grownTable, (t) => writeSysexts(ctx, plan, image, t, placed), autoGrow);
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
  const inner = new ResourceScope();
  try {
    const osRelease = plan.priv ? await readUsrOsRelease(plan.priv, inner, image, table) : await readUsrOsReleaseOffline(image, table, ctx.workDir);
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
  } finally {
    await inner.release();
  }
}

/** Opens the partitions the sysexts go to, writes them (and --sysupdate's wiring), and commits. */
async function writeSysexts(ctx: BakeContext, plan: BakePlan, image: string, table: GptTable, sysexts: SysextToInject[]): Promise<{ injected: InjectedSysext[]; sysupdate?: SysupdateWiring }> {
  const { priv } = plan;
  // Mounts and editors get their own scope so they are gone before the output is hashed and published.
  const mounts = new ResourceScope();
  try {
    const root = locateFlatcarPartition(table, 'ROOT');
    const oem = locateFlatcarPartition(table, 'OEM');
    const onOem = sysexts.some((s) => s.place.partition === 'oem');
    let editors: PartitionEditors;
    if (priv) {
      const rootDir = await mountPartition(priv, mounts, image, { offset: root.startByte, size: root.sizeBytes }, { fsType: 'ext4', label: 'ROOT' });
      editors = { root: new MountedEditor('ROOT', priv, rootDir) };
      if (onOem) {
        const oemDir = await mountPartition(priv, mounts, image, { offset: oem.startByte, size: oem.sizeBytes }, { fsType: 'btrfs', label: 'OEM' });
        editors.oem = new MountedEditor('OEM', priv, oemDir);
      }
      // Lets tests interrupt a run while partitions are mounted (nothing else reads it).
      const hold = Number(process.env.FLATBAKE_TEST_HOLD_MOUNTED_MS ?? 0);
      if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
    } else {
      const rootEditor = await openExt4Editor(image, { offset: root.startByte, size: root.sizeBytes }, { partition: 'ROOT' });
      mounts.defer('close the ROOT editor', () => rootEditor.close());
      editors = { root: rootEditor };
      if (onOem) {
        const oemEditor = await openBtrfsEditor(image, { offset: oem.startByte, size: oem.sizeBytes }, { partition: 'OEM' });
        mounts.defer('close the OEM editor', () => oemEditor.close());
        editors.oem = oemEditor;
      }
    }
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
  } finally {
    await mounts.release();
    if (mounts.errors.length > 0) {
      throw new InputError(`could not release ${mounts.errors.map((e) => e.what).join(', ')}: ${String((mounts.errors[0]!.error as Error).message)}`);
    }
  }
}
