import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { formatImageRef, isLoopbackRegistry, manifestReference, parseImageRef, registryBase } from '../../src/oci/reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseImageRef', () => {
  it.each([
    ['alpine', { registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest', scheme: 'https' }],
    ['alpine:3.20', { registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3.20', scheme: 'https' }],
    [`library/alpine@${D}`, { registry: 'registry-1.docker.io', repository: 'library/alpine', digest: D, scheme: 'https' }],
    [`alpine:3.20@${D}`, { registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3.20', digest: D, scheme: 'https' }],
    ['bitnami/redis:7', { registry: 'registry-1.docker.io', repository: 'bitnami/redis', tag: '7', scheme: 'https' }],
    ['docker.io/alpine', { registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest', scheme: 'https' }],
    ['index.docker.io/library/busybox:1', { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: '1', scheme: 'https' }],
    ['ghcr.io/org/img:tag', { registry: 'ghcr.io', repository: 'org/img', tag: 'tag', scheme: 'https' }],
    ['ghcr.io/org/team/img', { registry: 'ghcr.io', repository: 'org/team/img', tag: 'latest', scheme: 'https' }],
    ['quay.io/coreos/etcd:v3.5.0', { registry: 'quay.io', repository: 'coreos/etcd', tag: 'v3.5.0', scheme: 'https' }],
    ['localhost:5000/x', { registry: 'localhost:5000', repository: 'x', tag: 'latest', scheme: 'http' }],
    ['localhost/x', { registry: 'localhost', repository: 'x', tag: 'latest', scheme: 'http' }],
    ['127.0.0.1:5000/x:tag', { registry: '127.0.0.1:5000', repository: 'x', tag: 'tag', scheme: 'http' }],
    ['[::1]:5000/a/b', { registry: '[::1]:5000', repository: 'a/b', tag: 'latest', scheme: 'http' }],
    ['Registry.Example.COM:443/a_b/c__d/e-f/g.h', { registry: 'registry.example.com:443', repository: 'a_b/c__d/e-f/g.h', tag: 'latest', scheme: 'https' }],
    ['http://10.0.0.5:5000/x:1', { registry: '10.0.0.5:5000', repository: 'x', tag: '1', scheme: 'http' }],
    ['https://localhost:5000/x', { registry: 'localhost:5000', repository: 'x', tag: 'latest', scheme: 'https' }],
    ['my-registry:5000/team/app:v1.2_rc-3', { registry: 'my-registry:5000', repository: 'team/app', tag: 'v1.2_rc-3', scheme: 'https' }],
  ])('%s', (text, expected) => {
    expect(parseImageRef(text)).toEqual(expected);
  });

  it('--registry replaces the host and keeps the path (library/ for Docker Hub names)', () => {
    expect(parseImageRef('alpine:3.20', { registry: '127.0.0.1:5000' })).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'library/alpine',
      tag: '3.20',
      scheme: 'http',
    });
    expect(parseImageRef('ghcr.io/org/img', { registry: 'mirror.example:8443' })).toMatchObject({ registry: 'mirror.example:8443', repository: 'org/img', scheme: 'https' });
    expect(parseImageRef('x', { registry: 'http://mirror.example/' })).toMatchObject({ registry: 'mirror.example', scheme: 'http' });
    expect(parseImageRef('localhost:5000/x', { registry: 'docker.io' })).toMatchObject({ registry: 'registry-1.docker.io', repository: 'x', scheme: 'https' });
  });

  it('plain HTTP to a remote host only when asked for', () => {
    expect(parseImageRef('10.1.2.3:5000/x').scheme).toBe('https');
    expect(parseImageRef('10.1.2.3:5000/x', { insecure: true }).scheme).toBe('http');
    expect(parseImageRef('x', { registry: '10.1.2.3:5000', insecure: true }).scheme).toBe('http');
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['Alpine', 'not a valid name component'],
    ['alpine:', 'not a valid tag'],
    ['alpine:-bad', 'not a valid tag'],
    [`alpine:${'t'.repeat(129)}`, 'not a valid tag'],
    ['alpine@sha256:abc', 'not sha256'],
    [`alpine@sha512:${'a'.repeat(128)}`, 'only sha256'],
    [`alpine@sha256:${'AB'.repeat(32)}`, 'not sha256'],
    ['ghcr.io//img', 'empty component'],
    ['ghcr.io/', 'empty'],
    ['a b', 'white space'],
    ['a--/b', 'not a valid name component'],
    ['a..b/c', 'not a registry host'],
    ['-a/b', 'not a valid name component'],
    ['host:99999/x', 'out of range'],
    ['bad_host.com:5000/x', 'not a registry host'],
  ])('refuses %j (%s)', (text, why) => {
    expect(() => parseImageRef(text)).toThrow(InputError);
    expect(() => parseImageRef(text)).toThrow(why);
  });

  it('refuses a --registry with a path', () => {
    expect(() => parseImageRef('x', { registry: 'host/path' })).toThrow('not a path');
  });

  it('refuses a repository longer than 255 characters', () => {
    expect(() => parseImageRef(`ghcr.io/${'a'.repeat(120)}/${'b'.repeat(140)}`)).toThrow('longer than 255');
  });
});

describe('helpers', () => {
  it('formats references and the manifest reference (the digest wins over the tag)', () => {
    const byBoth = parseImageRef(`ghcr.io/o/i:t@${D}`);
    expect(formatImageRef(byBoth)).toBe(`ghcr.io/o/i:t@${D}`);
    expect(manifestReference(byBoth)).toBe(D);
    expect(manifestReference(parseImageRef('alpine'))).toBe('latest');
    expect(registryBase(parseImageRef('127.0.0.1:5000/x'))).toBe('http://127.0.0.1:5000/v2/');
    expect(registryBase(parseImageRef('alpine'))).toBe('https://registry-1.docker.io/v2/');
  });

  it.each([
    ['localhost', true],
    ['localhost:5000', true],
    ['127.0.0.1', true],
    ['127.8.9.10:80', true],
    ['[::1]:5000', true],
    ['128.0.0.1', false],
    ['localhost.example.com', false],
    ['10.0.0.1:5000', false],
  ])('isLoopbackRegistry(%s) = %s', (host, expected) => {
    expect(isLoopbackRegistry(host)).toBe(expected);
  });
});
