/**
 * The initramfs of the bootable synthetic release: Debian's static busybox,
 * the few kernel modules the guest needs before /usr is there, and an /init
 * that mounts ROOT and USR from the kernel command line the way Flatcar's
 * initrd does (`root=`, `rootflags=`, `mount.usr=`, `mount.usrflags=`,
 * `mount.usrfstype=`), then hands over to systemd on /usr. Flatcar's initrd is
 * dracut + systemd; a busybox one boots in a fraction of the time under TCG
 * and reads the same command line, which is what the grub.cfg exercises.
 */
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DiskFormatError } from '../../errors.js';
import { run, runBinary } from '../../util/exec.js';

/**
 * Modules loaded by /init: the virtio disk, USR's btrfs, what systemd-sysext
 * needs to merge (loop devices, squashfs and erofs images, overlayfs), and
 * qemu_fw_cfg, which shows QEMU's fw_cfg entries under /sys/firmware/qemu_fw_cfg
 * (where Flatcar's Ignition reads a config on qemu, and flatbake boot checks that
 * --ignition arrived). Debian's cloud kernel builds them as modules
 * (CONFIG_FW_CFG_SYSFS=m); ext4 (ROOT) and vfat are built in or unneeded. The guest's
 * /usr carries no modules, so whatever is needed is loaded here.
 */
export const INITRD_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'btrfs', 'loop', 'squashfs', 'erofs', 'overlay', 'qemu_fw_cfg'] as const;

/** Module names to their paths and dependencies, from a modules.dep (paths relative to the kernel's module dir). */
export function parseModulesDep(text: string): Map<string, { file: string; deps: string[] }> {
  const map = new Map<string, { file: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    const name = path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
    map.set(name, { file, deps });
  }
  return map;
}

/** The module files a set of modules needs, dependencies included (each once). */
export function moduleClosure(dep: Map<string, { file: string; deps: string[] }>, wanted: readonly string[]): string[] {
  const byFile = new Map([...dep.values()].map((m) => [m.file, m]));
  const out = new Set<string>();
  const visit = (file: string) => {
    if (out.has(file)) return;
    out.add(file);
    for (const d of byFile.get(file)?.deps ?? []) visit(d);
  };
  for (const name of wanted) {
    const m = dep.get(name.replace(/-/g, '_'));
    if (!m) throw new DiskFormatError(`the kernel has no module ${name}`, 'is this a Debian cloud kernel package?');
    visit(m.file);
  }
  return [...out];
}

export interface InitramfsInputs {
  /** The extracted package tree (holds bin/busybox and lib/modules/<kver>). */
  tree: string;
  kernelVersion: string;
  /** Scratch dir to stage in. */
  work: string;
  /** The newc cpio to write. */
  output: string;
}

/** Builds the initramfs; returns the module files it holds. */
export async function buildInitramfs(inputs: InitramfsInputs): Promise<string[]> {
  const { tree, kernelVersion, work, output } = inputs;
  const busybox = path.join(tree, 'bin', 'busybox');
  const moduleDir = path.join(tree, 'lib', 'modules', kernelVersion);
  // Debian's package carries no modules.dep (its postinst runs depmod); busybox's depmod writes one.
  await run(busybox, ['depmod', '-b', tree, kernelVersion], { purpose: 'index the kernel modules' });
  const closure = moduleClosure(parseModulesDep(await readFile(path.join(moduleDir, 'modules.dep'), 'utf8')), INITRD_MODULES);
  const stage = path.join(work, 'initramfs');
  for (const d of ['bin', 'dev', 'proc', 'sys', 'sysroot', 'etc', 'run']) await mkdir(path.join(stage, d), { recursive: true });
  await copyFile(busybox, path.join(stage, 'bin', 'busybox'));
  await chmod(path.join(stage, 'bin', 'busybox'), 0o755);
  for (const file of closure) {
    await mkdir(path.dirname(path.join(stage, 'lib', 'modules', kernelVersion, file)), { recursive: true });
    await copyFile(path.join(moduleDir, file), path.join(stage, 'lib', 'modules', kernelVersion, file));
  }
  await run(busybox, ['depmod', '-b', stage, kernelVersion], { purpose: 'index the initramfs modules' });
  await writeFile(path.join(stage, 'etc', 'flatbake-modules'), INITRD_MODULES.join('\n') + '\n');
  await writeFile(path.join(stage, 'init'), INIT_SCRIPT, { mode: 0o755 });
  const list = (await run('find', ['.', '-mindepth', '1'], { cwd: stage, purpose: 'list the initramfs' })).stdout.split('\n').filter(Boolean).sort().join('\n') + '\n';
  const cpio = await runBinary('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0', '--reproducible'], { cwd: stage, input: list, purpose: 'pack the initramfs' });
  await writeFile(output, cpio);
  return closure;
}

/** /init (busybox sh). Messages go to /dev/kmsg so they reach every console the kernel prints on. */
export const INIT_SCRIPT = `#!/bin/busybox sh
# flatbake synthetic initramfs: mount ROOT at /sysroot and USR at /sysroot/usr the way
# Flatcar's initrd does (root=, rootflags=, mount.usr=, mount.usrflags=, mount.usrfstype=), then hand over.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /sysroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "flatbake-initrd: $*" > /dev/kmsg; }
for m in $(cat /etc/flatbake-modules); do modprobe "$m" || say "cannot load $m"; done
root= rootflags= usr= usrflags= usrfstype= init=/usr/lib/systemd/systemd
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=*) root="\${arg#root=}" ;;
    rootflags=*) rootflags="\${arg#rootflags=}" ;;
    mount.usr=*) usr="\${arg#mount.usr=}" ;;
    mount.usrflags=*) usrflags="\${arg#mount.usrflags=}" ;;
    mount.usrfstype=*) usrfstype="\${arg#mount.usrfstype=}" ;;
    init=*) init="\${arg#init=}" ;;
  esac
done
# GPT unique partition GUID of each partition of a disk, as "GUID N" lines (mixed-endian like the spec).
partuuids() {
  dd if="$1" bs=512 skip=2 count=32 2>/dev/null | hexdump -v -e '128/1 "%02x" "\\n"' | {
    n=0
    while read -r e; do
      n=$((n + 1))
      g=\${e:32:32}
      [ "$g" = 00000000000000000000000000000000 ] && continue
      echo "\${g:6:2}\${g:4:2}\${g:2:2}\${g:0:2}-\${g:10:2}\${g:8:2}-\${g:14:2}\${g:12:2}-\${g:16:4}-\${g:20:12} $n"
    done
  }
}
partdev() { case "$1" in *[0-9]) echo "\${1}p$2" ;; *) echo "$1$2" ;; esac; }
resolve() {
  case "$1" in
    /dev/*) echo "$1" ;;
    LABEL=*|UUID=*) findfs "$1" ;;
    PARTLABEL=*)
      for u in /sys/class/block/*/uevent; do
        grep -qx "PARTNAME=\${1#PARTLABEL=}" "$u" && { d=\${u%/uevent}; echo "/dev/\${d##*/}"; return; }
      done ;;
    PARTUUID=*)
      want=$(echo "\${1#PARTUUID=}" | tr A-F a-f)
      for disk in /sys/block/*; do
        [ -e "$disk/device" ] || continue
        partuuids "/dev/\${disk##*/}" | while read -r g n; do [ "$g" = "$want" ] && partdev "/dev/\${disk##*/}" "$n"; done
      done ;;
  esac
}
find_dev() {
  i=0
  while [ $i -lt 100 ]; do
    d=$(resolve "$1" | head -n1)
    [ -n "$d" ] && [ -b "$d" ] && { echo "$d"; return 0; }
    i=$((i + 1)); sleep 0.1
  done
  return 1
}
fail() { say "$*"; sleep 1; poweroff -f; }
[ -n "$root" ] || fail "no root= on the kernel command line"
rdev=$(find_dev "$root") || fail "cannot find root $root"
mount -o "\${rootflags:-rw}" "$rdev" /sysroot || fail "cannot mount $rdev on /sysroot"
if [ -n "$usr" ]; then
  udev=$(find_dev "$usr") || fail "cannot find mount.usr=$usr"
  mkdir -p /sysroot/usr
  mount \${usrfstype:+-t "$usrfstype"} -o "\${usrflags:-ro}" "$udev" /sysroot/usr || fail "cannot mount $udev on /sysroot/usr"
  say "mounted $udev ($usr) on /usr"
fi
for d in /dev /proc /sys; do mkdir -p "/sysroot$d"; mount --move "$d" "/sysroot$d"; done
exec switch_root /sysroot "$init"
`;
