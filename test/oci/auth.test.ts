import { describe, expect, it } from 'vitest';
import { basicAuthorization, credentialsFromEnv, parseWwwAuthenticate, tokenUrl } from '../../src/oci/auth.js';

describe('parseWwwAuthenticate', () => {
  it('reads a Docker Hub bearer challenge', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
  });

  it('keeps commas inside quoted values and undoes backslash escapes', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://a/t",scope="repository:a/b:pull,push",error="say \\"no\\""');
    expect(c?.params).toEqual({ realm: 'https://a/t', scope: 'repository:a/b:pull,push', error: 'say "no"' });
  });

  it('reads several challenges, unquoted values, spaces and case', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm", BEARER Realm=https://t/token , Service = reg')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 'reg' } },
    ]);
  });

  it('skips token68 credentials, with and without padding', () => {
    expect(parseWwwAuthenticate('Negotiate abc123, Basic realm="x"')).toEqual([
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    expect(parseWwwAuthenticate('Foo YWJj==, Bearer realm="r"')).toEqual([
      { scheme: 'foo', params: {} },
      { scheme: 'bearer', params: { realm: 'r' } },
    ]);
  });

  it('returns what it could read from broken input instead of throwing', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate('=x')).toEqual([]);
    expect(parseWwwAuthenticate('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: {} }]);
    expect(parseWwwAuthenticate('Bearer realm="r", scope==="x"')).toEqual([{ scheme: 'bearer', params: { realm: 'r' } }]);
  });
});

describe('credentials and token URLs', () => {
  it('takes credentials from the environment only when a user is set', () => {
    expect(credentialsFromEnv({ FLATBAKE_REGISTRY_USER: 'u', FLATBAKE_REGISTRY_PASSWORD: 'p' })).toEqual({ username: 'u', password: 'p' });
    expect(credentialsFromEnv({ FLATBAKE_REGISTRY_USER: 'u' })).toBeUndefined();
    expect(credentialsFromEnv({ FLATBAKE_REGISTRY_USER: '', FLATBAKE_REGISTRY_PASSWORD: 'p' })).toBeUndefined();
    expect(credentialsFromEnv({})).toBeUndefined();
  });

  it('encodes basic credentials as UTF-8', () => {
    expect(basicAuthorization({ username: 'ü', password: 'p:w' })).toBe(`Basic ${Buffer.from('ü:p:w').toString('base64')}`);
  });

  it('builds the token URL from realm, service and scopes, keeping the realm query', () => {
    const url = new URL(tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth.example/token?x=1', service: 'reg' } }, ['repository:a/b:pull', 'repository:c:pull']));
    expect(url.origin + url.pathname).toBe('https://auth.example/token');
    expect(url.searchParams.get('x')).toBe('1');
    expect(url.searchParams.get('service')).toBe('reg');
    expect(url.searchParams.getAll('scope')).toEqual(['repository:a/b:pull', 'repository:c:pull']);
    expect(() => tokenUrl({ scheme: 'bearer', params: {} }, [])).toThrow('realm');
  });
});
