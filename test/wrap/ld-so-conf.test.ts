import { describe, expect, it } from 'vitest';
import { EM_386, EM_AARCH64, EM_X86_64, parseElfHeader } from '../../src/sysext/elf.js';
import {
  defaultLibraryDirs,
  expandRpathTokens,
  globSegmentToRegExp,
  includeBase,
  muslArch,
  parseLdSoConf,
  parseMuslPath,
} from '../../src/wrap/ld-so-conf.js';
import { elfHeader } from '../sysext/helpers.js';

const X64 = parseElfHeader(elfHeader(EM_X86_64))!;
const ARM64 = parseElfHeader(elfHeader(EM_AARCH64))!;
const I386 = { ...X64, bits: 32 as const, machine: EM_386, arch: 'x86' };

describe('parseLdSoConf', () => {
  it('reads dirs, includes (several per line), comments; ignores hwcap and =TYPE suffixes', () => {
    const text = [
      '# libc default configuration',
      'include /etc/ld.so.conf.d/*.conf   ld.so.conf.local',
      '/usr/local/lib   # trailing comment',
      '/opt/x/lib/',
      '/usr/X11R6/lib=libc5',
      'hwcap 1 nosegneg',
      '',
      '   /indented/lib',
      '/',
    ].join('\n');
    expect(parseLdSoConf(text)).toEqual([
      { kind: 'include', pattern: '/etc/ld.so.conf.d/*.conf' },
      { kind: 'include', pattern: 'ld.so.conf.local' },
      { kind: 'dir', path: '/usr/local/lib' },
      { kind: 'dir', path: '/opt/x/lib' },
      { kind: 'dir', path: '/usr/X11R6/lib' },
      { kind: 'dir', path: '/indented/lib' },
      { kind: 'dir', path: '/' },
    ]);
  });

  it('treats a lone "include" word as a directory name, as ldconfig does', () => {
    expect(parseLdSoConf('include\n')).toEqual([{ kind: 'dir', path: 'include' }]);
  });

  it('resolves relative includes against the including file', () => {
    expect(includeBase('conf.d/*.conf', '/etc/ld.so.conf')).toBe('/etc/conf.d/*.conf');
    expect(includeBase('/abs/*.conf', '/etc/ld.so.conf')).toBe('/abs/*.conf');
    expect(includeBase('x.conf', '/ld.so.conf')).toBe('/x.conf');
  });
});

describe('globSegmentToRegExp', () => {
  const cases: Array<[string, string, boolean]> = [
    ['*.conf', 'libc.conf', true],
    ['*.conf', 'libc.conf.bak', false],
    ['*.conf', '.hidden.conf', false],
    ['.*.conf', '.hidden.conf', true],
    ['lib?.conf', 'libc.conf', true],
    ['lib?.conf', 'libcc.conf', false],
    ['[a-c]*.conf', 'b.conf', true],
    ['[!a-c]*.conf', 'b.conf', false],
    ['[!a-c]*.conf', 'z.conf', true],
    ['a+b(c).conf', 'a+b(c).conf', true],
    ['a.conf', 'abconf', false],
    ['[unclosed', '[unclosed', true],
  ];
  for (const [pattern, name, matches] of cases) {
    it(`${pattern} ${matches ? 'matches' : 'does not match'} ${name}`, () => {
      expect(globSegmentToRegExp(pattern).test(name)).toBe(matches);
    });
  }
});

describe('search directories and tokens', () => {
  it('default dirs cover multiarch, lib64 and plain layouts in that order', () => {
    expect(defaultLibraryDirs(X64)).toEqual(['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib']);
    expect(defaultLibraryDirs(ARM64)[0]).toBe('/lib/aarch64-linux-gnu');
    expect(defaultLibraryDirs(I386)).toEqual(['/lib/i386-linux-gnu', '/usr/lib/i386-linux-gnu', '/lib', '/usr/lib', '/usr/local/lib']);
  });

  it('expands $ORIGIN, ${ORIGIN}, $PLATFORM and every spelling of $LIB', () => {
    expect(expandRpathTokens('$ORIGIN/../lib', '/usr/bin', X64)).toEqual(['/usr/bin/../lib']);
    expect(expandRpathTokens('${ORIGIN}/x:y', '/o', X64)).toEqual(['/o/x:y']);
    expect(expandRpathTokens('/opt/$PLATFORM', '/o', ARM64)).toEqual(['/opt/aarch64']);
    expect(expandRpathTokens('/usr/$LIB/foo', '/o', X64)).toEqual(['/usr/lib/x86_64-linux-gnu/foo', '/usr/lib64/foo', '/usr/lib/foo']);
    expect(expandRpathTokens('/usr/${LIB}', '/o', I386)).toEqual(['/usr/lib/i386-linux-gnu', '/usr/lib']);
    // Not a token: $ORIGINAL is a different word.
    expect(expandRpathTokens('/x/$ORIGINAL', '/o', X64)).toEqual(['/x/$ORIGINAL']);
  });

  it('recognises musl loaders and reads their path files', () => {
    expect(muslArch('/lib/ld-musl-x86_64.so.1')).toBe('x86_64');
    expect(muslArch('/lib64/ld-linux-x86-64.so.2')).toBeUndefined();
    expect(muslArch(undefined)).toBeUndefined();
    expect(parseMuslPath('/lib:/usr/local/lib\n/usr/lib\n\n')).toEqual(['/lib', '/usr/local/lib', '/usr/lib']);
  });
});
