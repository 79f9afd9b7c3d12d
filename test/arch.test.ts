import { describe, expect, it } from 'vitest';
import { ARCHES, normalizeArch } from '../src/arch.js';
import { UsageError } from '../src/errors.js';

describe('normalizeArch', () => {
  it.each([
    ['x86-64', 'x86-64'],
    ['amd64', 'x86-64'],
    ['x86_64', 'x86-64'],
    ['AMD64', 'x86-64'],
    [' amd64 ', 'x86-64'],
    ['arm64', 'arm64'],
    ['aarch64', 'arm64'],
  ])('%j -> %s', (input, expected) => {
    expect(normalizeArch(input)).toBe(expected);
  });

  it('maps every spelling onto one of ARCHES', () => {
    for (const a of ['x86-64', 'amd64', 'x86_64', 'arm64', 'aarch64']) expect(ARCHES).toContain(normalizeArch(a));
  });

  it.each(['riscv64', 'i386', 'mips', ''])('refuses %j with a usage error naming the accepted spellings', (bad) => {
    let caught: unknown;
    try {
      normalizeArch(bad);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).message).toBe(`unknown architecture '${bad}'`);
    expect((caught as UsageError).hint).toMatch(/x86-64 or arm64.*amd64.*x86_64.*aarch64/);
  });
});
