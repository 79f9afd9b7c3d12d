import { describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../../src/errors.js';
import { parseExtensionRelease, renderExtensionRelease, validateExtensionRelease, validateSysextName } from '../../src/sysext/extension-release.js';

describe('validateSysextName', () => {
  it.each(['docker', 'docker-24.0.9', 'kubernetes_v1.29', 'a+b', '9base'])('accepts %s', (name) => {
    expect(() => validateSysextName(name)).not.toThrow();
  });
  it.each(['../x', 'a/b', '-x', '.hidden', '', 'a..b', 'with space', 'x\n'])('refuses %j', (name) => {
    expect(() => validateSysextName(name)).toThrow(InputError);
  });
});

describe('renderExtensionRelease', () => {
  it('writes only ID=_any for any OS', () => {
    expect(renderExtensionRelease({ os: '_any' })).toBe('ID=_any\n');
  });
  it('adds SYSEXT_LEVEL for a named OS, the normalised arch and the reload flag', () => {
    expect(renderExtensionRelease({ os: 'flatcar', arch: 'amd64', reload: true })).toBe(
      'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n',
    );
  });
  it('quotes extra values that need it and round-trips through the parser', () => {
    const text = renderExtensionRelease({ os: '_any', extra: { NOTE: 'two words "and" $dollar' } });
    expect(text).toContain('NOTE="two words \\"and\\" \\$dollar"');
    expect(parseExtensionRelease(text).fields.NOTE).toBe('two words "and" $dollar');
  });
  it('refuses bad OS IDs, bad keys and overriding built-in keys', () => {
    expect(() => renderExtensionRelease({ os: 'Flatcar Linux' })).toThrow(InputError);
    expect(() => renderExtensionRelease({ os: '_any', extra: { 'bad-key': 'x' } })).toThrow(InputError);
    expect(() => renderExtensionRelease({ os: '_any', extra: { ID: 'x' } })).toThrow(InputError);
    expect(() => renderExtensionRelease({ os: '_any', arch: 'sparc' })).toThrow(UsageError);
  });
});

describe('parseExtensionRelease', () => {
  it('handles quotes, comments and blank lines', () => {
    const parsed = parseExtensionRelease('# comment\n\nID=flatcar\nSYSEXT_LEVEL="1.0"\nNAME=\'Fancy Name\'\n  ARCHITECTURE=arm64  \n');
    expect(parsed.errors).toEqual([]);
    expect(parsed.fields).toEqual({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', NAME: 'Fancy Name', ARCHITECTURE: 'arm64' });
  });
  it('reports malformed lines with their numbers', () => {
    const parsed = parseExtensionRelease('ID=x\nnot a pair\nA="open\nB=two words\n1X=y\n');
    expect(parsed.fields).toEqual({ ID: 'x' });
    expect(parsed.errors.map((e) => e.line)).toEqual([2, 3, 4, 5]);
    expect(parsed.errors[1]!.message).toMatch(/unterminated/);
  });
});

describe('validateExtensionRelease', () => {
  const rules = (fields: Record<string, string>) => validateExtensionRelease(fields, 'x').map((f) => `${f.severity}:${f.rule}`);
  it('accepts ID=_any alone and a full flatcar release', () => {
    expect(rules({ ID: '_any' })).toEqual([]);
    expect(rules({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: 'x86-64' })).toEqual([]);
  });
  it('needs ID', () => {
    expect(rules({ SYSEXT_LEVEL: '1.0' })).toEqual(['error:extension-release-id']);
  });
  it('needs SYSEXT_LEVEL or VERSION_ID unless _any, and warns on VERSION_ID alone', () => {
    expect(rules({ ID: 'flatcar' })).toEqual(['error:extension-release-level']);
    expect(rules({ ID: 'flatcar', VERSION_ID: '3815.2.0' })).toEqual(['warning:extension-release-level']);
  });
  it('needs a systemd architecture name', () => {
    expect(rules({ ID: '_any', ARCHITECTURE: 'amd64' })).toEqual(['error:extension-release-arch']);
    expect(rules({ ID: '_any', ARCHITECTURE: 'arm64' })).toEqual([]);
  });
});
