/**
 * Building upstream sources with the host toolchain (for recipes without prebuilt binaries):
 * finding the compiler for a target architecture, telling which Debian packages a failed
 * configure or link step is missing, and checking the result is a static ELF of the right
 * architecture.
 */
import { MissingToolError } from '../errors.js';
import { EM_AARCH64, EM_X86_64 } from '../sysext/elf.js';
import { which } from '../util/exec.js';
import type { Arch } from '../arch.js';

export interface Toolchain {
  /** The C compiler command. */
  cc: string;
  /** `--host=` for configure when cross-compiling. */
  host: string | undefined;
  make: string;
}

const GNU_TRIPLET: Record<Arch, string> = { 'x86-64': 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const CROSS_PACKAGES: Record<Arch, string> = {
  'x86-64': 'gcc-x86-64-linux-gnu libc6-dev-amd64-cross',
  arm64: 'gcc-aarch64-linux-gnu libc6-dev-arm64-cross',
};

/** The architecture this process runs on, if Flatcar has it. */
export function hostArch(nodeArch: string = process.arch): Arch | undefined {
  if (nodeArch === 'x64') return 'x86-64';
  if (nodeArch === 'arm64') return 'arm64';
  return undefined;
}

/** gcc for the host architecture, else the Debian cross compiler; MissingToolError naming packages. */
export async function findToolchain(target: Arch, lookup: (p: string) => Promise<string | undefined> = which, host = hostArch()): Promise<Toolchain> {
  const make = await lookup('make');
  if (!make) throw new MissingToolError('make is not installed (needed to build from source)', 'install the Debian package: make');
  if (target === host) {
    const cc = (await lookup('gcc')) ?? (await lookup('cc'));
    if (!cc) throw new MissingToolError('no C compiler (gcc) is installed (needed to build from source)', 'install the Debian packages: gcc libc6-dev');
    return { cc, host: undefined, make };
  }
  const cross = `${GNU_TRIPLET[target]}-gcc`;
  const cc = await lookup(cross);
  if (!cc) {
    throw new MissingToolError(
      `building for ${target} on this ${host ?? process.arch} machine needs the cross compiler ${cross}, which is not installed`,
      `install the Debian packages: ${CROSS_PACKAGES[target]} (and the ${target === 'arm64' ? 'arm64' : 'amd64'} variants of the -dev libraries, e.g. libssl-dev:${target === 'arm64' ? 'arm64' : 'amd64'}), or build on a ${target} machine`,
    );
  }
  return { cc, host: GNU_TRIPLET[target], make };
}

/** Debian packages that provide libraries by the name the linker uses (-lNAME). */
const LIB_PACKAGES: Record<string, string> = {
  ssl: 'libssl-dev',
  crypto: 'libssl-dev',
  'nl-3': 'libnl-3-dev',
  'nl-genl-3': 'libnl-genl-3-dev',
  'nl-route-3': 'libnl-route-3-dev',
  magic: 'libmagic-dev',
  'pcre2-8': 'libpcre2-dev',
  mnl: 'libmnl-dev',
  nftnl: 'libnftnl-dev',
  ipset: 'libipset-dev',
  z: 'zlib1g-dev',
  c: 'libc6-dev',
  m: 'libc6-dev',
  pthread: 'libc6-dev',
};

export interface MissingDependency {
  what: string;
  packages: string[];
}

/**
 * What a failed configure or make is missing, from its output: configure's own messages about
 * OpenSSL and libnl, a missing compiler, or the linker's `cannot find -lNAME`. Pure.
 */
export function missingBuildDependency(output: string): MissingDependency | undefined {
  if (/OpenSSL is not properly installed|openssl\/ssl\.h: No such file|Cannot find (the )?openssl/i.test(output)) {
    return { what: 'the OpenSSL development files', packages: ['libssl-dev'] };
  }
  if (/libnl[-\w.]* (is )?(not found|required|missing)|netlink\/\w+\.h: No such file|Cannot find libnl/i.test(output)) {
    return { what: 'the libnl development files', packages: ['libnl-3-dev', 'libnl-genl-3-dev', 'libnl-route-3-dev'] };
  }
  if (/no acceptable C compiler|C compiler cannot create executables/i.test(output)) {
    return { what: 'a working C compiler', packages: ['gcc', 'libc6-dev'] };
  }
  const libs = [...output.matchAll(/cannot find -l([\w.+-]+)/g)].map((m) => m[1]!);
  if (libs.length > 0) {
    const unique = [...new Set(libs)];
    const packages = [...new Set(unique.map((l) => LIB_PACKAGES[l] ?? `the package with lib${l}.a`))];
    return { what: `static libraries ${unique.map((l) => `lib${l}.a`).join(', ')}`, packages };
  }
  return undefined;
}

const EXPECTED_MACHINE: Record<Arch, number> = { 'x86-64': EM_X86_64, arm64: EM_AARCH64 };
const PT_INTERP = 3;

/**
 * Why BUF is not a static ELF executable for ARCH, or undefined when it is. Static means no
 * program interpreter (PT_INTERP): it runs without the build host's dynamic loader. Pure.
 */
export function staticElfProblem(buf: Buffer, arch: Arch): string | undefined {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
  if (buf[4] !== 2 || buf[5] !== 1) return 'not a 64-bit little-endian ELF file';
  const machine = buf.readUInt16LE(18);
  if (machine !== EXPECTED_MACHINE[arch]) return `built for e_machine ${machine}, not ${arch}`;
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  if (phnum > 0 && (phentsize < 4 || phoff + phnum * phentsize > buf.length)) return 'truncated program headers';
  for (let i = 0; i < phnum; i++) {
    if (buf.readUInt32LE(phoff + i * phentsize) === PT_INTERP) return 'dynamically linked (it has a program interpreter)';
  }
  return undefined;
}
