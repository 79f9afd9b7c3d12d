import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { applyMirror } from '../../src/net/mirror.js';

describe('applyMirror', () => {
  it('leaves the URL alone without a mirror', () => {
    expect(applyMirror('https://a.example/x?y=1#z')).toBe('https://a.example/x?y=1#z');
    expect(applyMirror('https://a.example/x', '')).toBe('https://a.example/x');
  });

  it.each([
    ['https://stable.release.flatcar-linux.net/amd64-usr/current/version.txt', 'http://m.local', 'http://m.local/stable.release.flatcar-linux.net/amd64-usr/current/version.txt'],
    ['http://a.example/f', 'http://m.local', 'http://m.local/a.example/f'],
    ['https://a.example/f', 'http://m.local/', 'http://m.local/a.example/f'],
    ['https://a.example/f', 'http://m.local///', 'http://m.local/a.example/f'],
    ['https://a.example/f', 'https://m.local/flatcar/mirror', 'https://m.local/flatcar/mirror/a.example/f'],
    ['https://a.example/f', 'https://m.local/flatcar/mirror/', 'https://m.local/flatcar/mirror/a.example/f'],
    ['https://a.example/f', 'http://127.0.0.1:8080', 'http://127.0.0.1:8080/a.example/f'],
    ['https://a.example/f', 'http://user:pw@m.local/', 'http://user:pw@m.local/a.example/f'],
    ['https://a.example:8443/f', 'http://m', 'http://m/a.example:8443/f'],
    ['http://a.example:8080/f', 'http://m', 'http://m/a.example:8080/f'],
    ['https://a.example:443/f', 'http://m', 'http://m/a.example/f'],
    ['http://a.example:80/f', 'http://m', 'http://m/a.example/f'],
    ['https://A.Example/F', 'http://m', 'http://m/a.example/F'],
    ['https://[::1]:8443/f', 'http://m', 'http://m/[::1]:8443/f'],
    ['https://10.0.0.1/f', 'http://m', 'http://m/10.0.0.1/f'],
    ['https://a.example', 'http://m', 'http://m/a.example/'],
    ['https://a.example/', 'http://m', 'http://m/a.example/'],
    ['https://a.example/dir/', 'http://m', 'http://m/a.example/dir/'],
    ['https://a.example/f?x=1&y=%20', 'http://m', 'http://m/a.example/f?x=1&y=%20'],
    ['https://a.example/f?', 'http://m', 'http://m/a.example/f?'],
    ['https://a.example/f?q#frag', 'http://m', 'http://m/a.example/f?q'],
    ['https://a.example/f#frag', 'http://m', 'http://m/a.example/f'],
    ['https://u:p@a.example/f', 'http://m', 'http://m/a.example/f'],
    ['https://a.example/a%20b/c+d', 'http://m', 'http://m/a.example/a%20b/c+d'],
    ['https://a.example/a b', 'http://m', 'http://m/a.example/a%20b'],
    ['https://a.example//double//slash', 'http://m', 'http://m/a.example//double//slash'],
    ['https://extensions.flatcar.org/extensions/docker-compose-2.24.5-x86-64.raw', 'https://mirror.corp:4443/flat/', 'https://mirror.corp:4443/flat/extensions.flatcar.org/extensions/docker-compose-2.24.5-x86-64.raw'],
  ])('%s via %s -> %s', (url, mirror, expected) => {
    expect(applyMirror(url, mirror)).toBe(expected);
  });

  it('keeps the result a valid URL', () => {
    const out = applyMirror('https://a.example:8443/x/y.raw?sig=abc', 'http://m.local/base');
    const u = new URL(out);
    expect(u.pathname).toBe('/base/a.example:8443/x/y.raw');
    expect(u.search).toBe('?sig=abc');
  });

  it.each(['ftp://m.local', 'file:///srv/mirror', '/srv/mirror', 'm.local', 'not a url', 'http://m.local/?x=1', 'http://m.local/#a', 'http://m.local/?'])(
    'rejects the mirror %s',
    (mirror) => {
      expect(() => applyMirror('https://a.example/f', mirror)).toThrow(InputError);
    },
  );

  it('rejects URLs it cannot map', () => {
    expect(() => applyMirror('ftp://a.example/f', 'http://m')).toThrow(InputError);
    expect(() => applyMirror('file:///etc/passwd', 'http://m')).toThrow(InputError);
    expect(() => applyMirror('relative/path', 'http://m')).toThrow(InputError);
  });

  it('names the bad mirror in the message', () => {
    expect(() => applyMirror('https://a.example/f', 'ftp://m.local')).toThrow(/ftp.*ftp:\/\/m\.local/);
  });
});
