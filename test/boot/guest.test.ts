/** The pure parts of flatbake boot and of the bootable synthetic release: no QEMU, no apt. */
import { describe, expect, it } from 'vitest';
import { qemuReason } from '../../src/boot/kvm.js';
import { explainMismatch } from '../../src/boot/match.js';
import { MACHINES } from '../../src/boot/qemu.js';
import { parseVerdict, verdictBlock, verdictUnit } from '../../src/boot/guest.js';
import { bootPackages, kernelPackageOf } from '../../src/demo/bootable/debian.js';
import { parsePackages } from '../../src/packages/debian.js';
import { grubCfg } from '../../src/demo/bootable/grub.js';
import { moduleClosure, parseModulesDep } from '../../src/demo/bootable/initramfs.js';

const NONCE = '0123456789abcdef';

/**
 * A serial console as the synthetic release's boot wrote it (CRLF line ends, a kernel
 * message inside the block), from a run of this code against systemd 252.39 (Debian 12).
 */
const CONSOLE = [
  '[   55.278026] loop1: detected capacity change from 0 to 8',
  `FLATBAKE-VERDICT-BEGIN ${NONCE}`,
  `STATUS ${NONCE}`,
  '[{"hierarchy":"/opt","extensions":"none","since":null},{"hierarchy":"/usr","extensions":["hello"],"since":1764633600000000}]',
  `LIST ${NONCE}`,
  '[{"type":"raw","path":"/etc/extensions/hello.raw","name":"hello","read_only":true,"writable":false,"size":4096,"mtime":1735689600000000}]',
  `LINKS ${NONCE}`,
  'link 4096 /etc/extensions/hello.raw',
  "/usr/bin/stat: cannot statx '/etc/extensions/gone.raw': No such file or directory",
  `FILES ${NONCE}`,
  `${'a'.repeat(64)}  /usr/lib/extension-release.d/extension-release.hello`,
  '[   56.100000] random: crng init done',
  "/usr/bin/sha256sum: /usr/bin/gone: No such file or directory",
  `OS-RELEASE ${NONCE}`,
  'ID=flatcar',
  'SYSEXT_LEVEL=1.0',
  'PRETTY_NAME="Flatcar Container Linux by Kinvolk 4459.2.1 (Synthetic)"',
  `FLATBAKE-VERDICT-END ${NONCE}`,
].join('\r\n');

describe('the verdict on the console', () => {
  it('is found only between this run\'s markers, and only once the end marker came', () => {
    expect(verdictBlock(CONSOLE.replace(`FLATBAKE-VERDICT-END ${NONCE}`, ''), NONCE)).toBeUndefined();
    expect(verdictBlock(CONSOLE, 'ffffffffffffffff')).toBeUndefined();
    expect(verdictBlock(CONSOLE, NONCE)).toContain('STATUS');
  });

  it('parses systemd-sysext\'s JSON, the links, the hashes and os-release', () => {
    const v = parseVerdict(verdictBlock(CONSOLE, NONCE)!, NONCE);
    expect([...v.status]).toEqual([['/opt', []], ['/usr', ['hello']]]);
    expect(v.listed).toEqual(['hello']);
    expect([...v.linkSizes]).toEqual([['/etc/extensions/hello.raw', 4096]]);
    expect([...v.fileHashes]).toEqual([['/usr/lib/extension-release.d/extension-release.hello', 'a'.repeat(64)]]);
    expect(v.osRelease).toMatchObject({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', PRETTY_NAME: 'Flatcar Container Linux by Kinvolk 4459.2.1 (Synthetic)' });
  });

  it('reads the digest of the fw_cfg Ignition config, and none when sha256sum found no config', () => {
    const raw = '/sys/firmware/qemu_fw_cfg/by_name/opt/org.flatcar-linux/config/raw';
    const got = `IGNITION ${NONCE}\n${'b'.repeat(64)}  ${raw}\nOS-RELEASE ${NONCE}\nID=flatcar\n`;
    expect(parseVerdict(got, NONCE).ignitionSha256).toBe('b'.repeat(64));
    // As sha256sum says it on a guest QEMU gave no -fw_cfg (the directory is not there).
    const none = `IGNITION ${NONCE}\n/usr/bin/sha256sum: ${raw}: No such file or directory\nOS-RELEASE ${NONCE}\n`;
    expect(parseVerdict(none, NONCE).ignitionSha256).toBeUndefined();
    // A file hash in another section is not taken for the config's.
    expect(parseVerdict(`FILES ${NONCE}\n${'c'.repeat(64)}  ${raw}\n`, NONCE).ignitionSha256).toBeUndefined();
  });

  it('reads JSON that shares its line with a kernel message', () => {
    const block = `STATUS ${NONCE}\n[   12.5] loop0: detected [{"hierarchy":"/usr","extensions":["a","b"],"since":1}]\n`;
    expect([...parseVerdict(block, NONCE).status]).toEqual([['/usr', ['a', 'b']]]);
  });
});

describe('the verdict unit', () => {
  it('runs each check without a shell, escaping systemd specifiers, and powers off', () => {
    const unit = verdictUnit({ nonce: NONCE, tty: 'ttyS0', links: ['/etc/extensions/a%b.raw'], files: ['/usr/share/x y/$HOME'] });
    expect(unit).toContain('ExecStart=-/usr/bin/stat -L -c "link %%s %%n" -- "/etc/extensions/a%%b.raw"');
    expect(unit).toContain('ExecStart=-/usr/bin/sha256sum -- "/usr/share/x y/$$HOME"');
    expect(unit).toContain('After=systemd-sysext.service ensure-sysext.service local-fs.target');
    expect(unit).toContain('TTYPath=/dev/ttyS0');
    // The Ignition config where Flatcar's qemu provider reads it, and a missing one does not fail the unit.
    expect(unit).toContain('ExecStart=-/usr/bin/sha256sum -- /sys/firmware/qemu_fw_cfg/by_name/opt/org.flatcar-linux/config/raw');
    expect(unit).toMatch(/^SuccessAction=poweroff-force$/m);
    expect(unit).not.toMatch(/\/bin\/(ba)?sh(\s|$)/m);
    expect(() => verdictUnit({ nonce: NONCE, tty: 'ttyS0', links: ['/etc/extensions/a\nb.raw'], files: [] })).toThrow(/cannot pass/);
  });
});

describe('the verdict channel', () => {
  it('is a port the kernel console does not print to, on every architecture', () => {
    for (const m of Object.values(MACHINES)) {
      expect(m.verdictTty).not.toBe(m.serialTty);
      // Flatcar's grub.cfg names ttyS0 (x86 UEFI), ttyAMA0 (arm64 UEFI) or hvc0 (Xen only) as console=.
      expect(['ttyS0', 'ttyAMA0']).not.toContain(m.verdictTty);
      expect(m.verdictDevice.join(' ')).toMatch(/chardev[=:]verdict/);
    }
  });
});

describe('KVM present but not usable', () => {
  it('is told in QEMU\'s own words', () => {
    // stderr of qemu-system-x86_64 7.2 (Debian 12) -accel kvm on this machine's /dev/kvm.
    const stderr = [
      'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69',
      "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.",
    ].join('\n');
    expect(qemuReason(stderr)).toBe('failed to set MSR 0x10a to 0x69');
    expect(qemuReason('qemu-system-x86_64: Could not access KVM kernel module: Permission denied\n')).toBe('Could not access KVM kernel module: Permission denied');
    expect(qemuReason('')).toBeUndefined();
  });
});

describe('why an extension did not merge', () => {
  const os = { ID: 'flatcar', VERSION_ID: '4459.2.1', SYSEXT_LEVEL: '1.0' };
  it('follows systemd\'s order: ID, then SYSEXT_LEVEL or VERSION_ID, then ARCHITECTURE', () => {
    expect(explainMismatch({ ID: 'debian', SYSEXT_LEVEL: '1.0' }, os, 'x86-64')).toMatch(/ID=debian.*ID=flatcar/);
    expect(explainMismatch({ ID: 'flatcar', SYSEXT_LEVEL: '2.0' }, os, 'x86-64')).toMatch(/SYSEXT_LEVEL=2\.0/);
    expect(explainMismatch({ ID: 'flatcar', VERSION_ID: '1.2.3' }, os, 'x86-64')).toMatch(/VERSION_ID=1\.2\.3/);
    expect(explainMismatch({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'arm64' }, os, 'x86-64')).toMatch(/ARCHITECTURE=arm64/);
    expect(explainMismatch({ ID: '_any' }, os, 'x86-64')).toBeUndefined();
    expect(explainMismatch({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'x86-64' }, os, 'x86-64')).toBeUndefined();
  });
});

describe('the bootable synthetic release', () => {
  it('takes the versioned kernel alone and /usr\'s packages with their dependencies from the signed index', () => {
    // Stanzas of Debian bookworm's main/binary-amd64/Packages (12.15, 2026-07-11; fields trimmed
    // to those read). systemd, udev and coreutils are STAND-INS without their Depends; the kernel's
    // Depends (kmod, linux-base, initramfs-tools) are real, and linux-base is left out of this
    // index on purpose: following the kernel's dependencies would fail here.
    const stanza = (name: string, version: string, file: string, depends?: string) =>
      [`Package: ${name}`, `Version: ${version}`, ...(depends ? [`Depends: ${depends}`] : []), `Filename: pool/main/${file}`, 'Size: 1500', `SHA256: ${'0'.repeat(64)}`, ''].join('\n');
    const index = parsePackages([
      stanza('linux-image-cloud-amd64', '6.1.176-1', 'l/linux-signed-amd64/linux-image-cloud-amd64_6.1.176-1_amd64.deb', 'linux-image-6.1.0-50-cloud-amd64 (= 6.1.176-1)'),
      stanza('linux-image-6.1.0-50-cloud-amd64', '6.1.176-1', 'l/linux-signed-amd64/linux-image-6.1.0-50-cloud-amd64_6.1.176-1_amd64.deb', 'kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool'),
      stanza('kmod', '30+20221128-1', 'k/kmod/kmod_30+20221128-1_amd64.deb', 'libkmod2 (= 30+20221128-1)'),
      stanza('libkmod2', '30+20221128-1', 'k/kmod/libkmod2_30+20221128-1_amd64.deb'),
      stanza('busybox-static', '1:1.35.0-4+deb12u1+b1', 'b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb'),
      stanza('systemd', '252.39-1~deb12u1', 's/systemd/systemd_252.39-1~deb12u1_amd64.deb'),
      stanza('udev', '252.39-1~deb12u1', 's/systemd/udev_252.39-1~deb12u1_amd64.deb'),
      stanza('coreutils', '9.1-1', 'c/coreutils/coreutils_9.1-1_amd64.deb'),
    ].join('\n'));
    expect(kernelPackageOf(index).name).toBe('linux-image-6.1.0-50-cloud-amd64');
    expect(bootPackages(index).map((p) => p.name)).toEqual(['busybox-static', 'coreutils', 'kmod', 'libkmod2', 'linux-image-6.1.0-50-cloud-amd64', 'systemd', 'udev']);
    index.delete('linux-image-6.1.0-50-cloud-amd64');
    expect(() => kernelPackageOf(index)).toThrow(/cannot tell which kernel linux-image-cloud-amd64 depends on/);
  });

  it('puts each needed module in the initramfs once, with its dependencies', () => {
    // Lines as busybox depmod writes them for Debian's 6.1 cloud kernel.
    const dep = parseModulesDep([
      'kernel/fs/btrfs/btrfs.ko: kernel/lib/zstd/zstd_compress.ko kernel/lib/raid6/raid6_pq.ko kernel/crypto/xor.ko kernel/lib/libcrc32c.ko',
      'kernel/fs/erofs/erofs.ko: kernel/lib/libcrc32c.ko',
      'kernel/lib/libcrc32c.ko:',
      'kernel/lib/zstd/zstd_compress.ko:',
      'kernel/lib/raid6/raid6_pq.ko:',
      'kernel/crypto/xor.ko:',
    ].join('\n'));
    expect(moduleClosure(dep, ['btrfs', 'erofs']).sort()).toEqual([
      'kernel/crypto/xor.ko', 'kernel/fs/btrfs/btrfs.ko', 'kernel/fs/erofs/erofs.ko', 'kernel/lib/libcrc32c.ko', 'kernel/lib/raid6/raid6_pq.ko', 'kernel/lib/zstd/zstd_compress.ko',
    ]);
    expect(() => moduleClosure(dep, ['nosuch'])).toThrow(/no module nosuch/);
  });

  it('has a grub.cfg that sources the OEM partition\'s and mounts USR-A by PARTUUID', () => {
    const cfg = grubCfg();
    expect(cfg).toContain('source "($oem)/grub.cfg"');
    expect(cfg).toContain('linux /flatcar/vmlinuz-a mount.usr=PARTUUID=7130c94a-213a-4e5a-8e26-6cce9662f132 $linux_cmdline');
    expect(cfg).toContain('set linux_cmdline="rootflags=rw mount.usrflags=ro consoleblank=0 $linux_root $linux_console $first_boot $oem $linux_append"');
  });
});

describe('doctor', () => {
  it('names the QEMU system emulators and the firmware packages flatbake boot needs', async () => {
    const { runDoctor } = await import('../../src/doctor/doctor.js');
    const report = await runDoctor();
    const pkg = Object.fromEntries(report.tools.map((t) => [t.command, t.package]));
    expect(pkg).toMatchObject({ 'qemu-system-x86_64': 'qemu-system-x86', 'qemu-system-aarch64': 'qemu-system-arm', setpriv: 'util-linux', 'grub-mkimage': 'grub-common' });
    const firmware = new Set(report.files.map((f) => f.package));
    for (const p of ['ovmf', 'qemu-efi-aarch64', 'grub-efi-amd64-bin']) expect(firmware).toContain(p);
  });
});
