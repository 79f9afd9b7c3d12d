/** Just enough of the ELF header to tell which architecture a binary is for. Pure. */

export interface ElfInfo {
  /** 32 or 64. */
  bits: 32 | 64;
  littleEndian: boolean;
  machine: number;
  /** systemd's architecture name, or `e_machine=N` when there is none we know of. */
  arch: string;
}

export const EM_386 = 3;
export const EM_ARM = 40;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
const EM_PPC = 20;
const EM_PPC64 = 21;
const EM_S390 = 22;
const EM_RISCV = 243;
const EM_LOONGARCH = 258;

function archName(machine: number, bits: 32 | 64, littleEndian: boolean): string {
  switch (machine) {
    case EM_X86_64: return 'x86-64';
    case EM_AARCH64: return littleEndian ? 'arm64' : 'arm64-be';
    case EM_386: return 'x86';
    case EM_ARM: return littleEndian ? 'arm' : 'arm-be';
    case EM_PPC: return littleEndian ? 'ppc-le' : 'ppc';
    case EM_PPC64: return littleEndian ? 'ppc64-le' : 'ppc64';
    case EM_S390: return bits === 64 ? 's390x' : 's390';
    case EM_RISCV: return bits === 64 ? 'riscv64' : 'riscv32';
    case EM_LOONGARCH: return 'loongarch64';
    default: return `e_machine=${machine}`;
  }
}

/** Parse the ELF identification and e_machine; undefined if BUF is not an ELF file. */
export function parseElfHeader(buf: Uint8Array): ElfInfo | undefined {
  if (buf.length < 20) return undefined;
  if (buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) return undefined;
  const cls = buf[4];
  const data = buf[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return undefined;
  const bits = cls === 2 ? 64 : 32;
  const littleEndian = data === 1;
  const machine = littleEndian ? buf[18]! | (buf[19]! << 8) : (buf[18]! << 8) | buf[19]!;
  return { bits, littleEndian, machine, arch: archName(machine, bits, littleEndian) };
}
