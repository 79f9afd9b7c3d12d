/**
 * The RSA keys Alpine signs its package indexes and packages with (the alpine-keys package,
 * aports main/alpine-keys, MIT; published at https://alpinelinux.org/keys/). Public keys are facts,
 * not code: copied here as published. Each key's SHA-256 (or SHA-512 where that is what aports
 * lists) is pinned; the PEM texts below were checked against those digests (the test does again).
 * Keys without a PEM here are fetched from alpinelinux.org/keys/ at build time and must match
 * their pinned digest.
 *
 * Origins: digests from aports main/alpine-keys/APKBUILD (sha256sums/sha512sums) and, for the 2021
 * keys, the key lists of projects that pin them; which keys serve which architecture from the
 * APKBUILD's _arch_keys (x86_64: 4a6a0840 5261cecb 6165ee59; aarch64: 58199dcc 616ae350).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError, VerificationError } from '../errors.js';

export interface AlpineKey {
  /** The file name apk uses in /etc/apk/keys and in `.SIGN.RSA.<name>` entries. */
  name: string;
  /** `sha256:<hex>` or `sha512:<hex>` of the published .rsa.pub file. */
  digest: string;
  /** The published PEM text, where the repository carries it. */
  pem?: string;
}

export const ALPINE_KEYS_URL = 'https://alpinelinux.org/keys/';

/** Alpine's architecture name -> the keys that sign its indexes. */
export const ALPINE_KEYS: Readonly<Record<string, readonly AlpineKey[]>> = {
  x86_64: [
    {
      name: 'alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub',
      digest: 'sha256:9c102bcc376af1498d549b77bdbfa815ae86faa1d2d82f040e616b18ef2df2d4',
      pem: '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1yHJxQgsHQREclQu4Ohe\nqxTxd1tHcNnvnQTu/UrTky8wWvgXT+jpveroeWWnzmsYlDI93eLI2ORakxb3gA2O\nQ0Ry4ws8vhaxLQGC74uQR5+/yYrLuTKydFzuPaS1dK19qJPXB8GMdmFOijnXX4SA\njixuHLe1WW7kZVtjL7nufvpXkWBGjsfrvskdNA/5MfxAeBbqPgaq0QMEfxMAn6/R\nL5kNepi/Vr4S39Xvf2DzWkTLEK8pcnjNkt9/aafhWqFVW7m3HCAII6h/qlQNQKSo\nGuH34Q8GsFG30izUENV9avY7hSLq7nggsvknlNBZtFUcmGoQrtx3FmyYsIC8/R+B\nywIDAQAB\n-----END PUBLIC KEY-----\n',
    },
    {
      name: 'alpine-devel@lists.alpinelinux.org-5261cecb.rsa.pub',
      digest: 'sha256:12f899e55a7691225603d6fb3324940fc51cd7f133e7ead788663c2b7eecb00c',
      pem: '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwlzMkl7b5PBdfMzGdCT0\ncGloRr5xGgVmsdq5EtJvFkFAiN8Ac9MCFy/vAFmS8/7ZaGOXoCDWbYVLTLOO2qtX\nyHRl+7fJVh2N6qrDDFPmdgCi8NaE+3rITWXGrrQ1spJ0B6HIzTDNEjRKnD4xyg4j\ng01FMcJTU6E+V2JBY45CKN9dWr1JDM/nei/Pf0byBJlMp/mSSfjodykmz4Oe13xB\nCa1WTwgFykKYthoLGYrmo+LKIGpMoeEbY1kuUe04UiDe47l6Oggwnl+8XD1MeRWY\nsWgj8sF4dTcSfCMavK4zHRFFQbGp/YFJ/Ww6U9lA3Vq0wyEI6MCMQnoSMFwrbgZw\nwwIDAQAB\n-----END PUBLIC KEY-----\n',
    },
    {
      name: 'alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub',
      digest: 'sha256:207e4696d3c05f7cb05966aee557307151f1f00217af4143c1bcaf33b8df733f',
      pem: '-----BEGIN PUBLIC KEY-----\nMIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAutQkua2CAig4VFSJ7v54\nALyu/J1WB3oni7qwCZD3veURw7HxpNAj9hR+S5N/pNeZgubQvJWyaPuQDm7PTs1+\ntFGiYNfAsiibX6Rv0wci3M+z2XEVAeR9Vzg6v4qoofDyoTbovn2LztaNEjTkB+oK\ntlvpNhg1zhou0jDVYFniEXvzjckxswHVb8cT0OMTKHALyLPrPOJzVtM9C1ew2Nnc\n3848xLiApMu3NBk0JqfcS3Bo5Y2b1FRVBvdt+2gFoKZix1MnZdAEZ8xQzL/a0YS5\nHd0wj5+EEKHfOd3A75uPa/WQmA+o0cBFfrzm69QDcSJSwGpzWrD1ScH3AK8nWvoj\nv7e9gukK/9yl1b4fQQ00vttwJPSgm9EnfPHLAtgXkRloI27H6/PuLoNvSAMQwuCD\nhQRlyGLPBETKkHeodfLoULjhDi1K2gKJTMhtbnUcAA7nEphkMhPWkBpgFdrH+5z4\nLxy+3ek0cqcI7K68EtrffU8jtUj9LFTUC8dERaIBs7NgQ/LfDbDfGh9g6qVj1hZl\nk9aaIPTm/xsi8v3u+0qaq7KzIBc9s59JOoA8TlpOaYdVgSQhHHLBaahOuAigH+VI\nisbC9vmqsThF2QdDtQt37keuqoda2E6sL7PUvIyVXDRfwX7uMDjlzTxHTymvq2Ck\nhtBqojBnThmjJQFgZXocHG8CAwEAAQ==\n-----END PUBLIC KEY-----\n',
    },
  ],
  aarch64: [
    { name: 'alpine-devel@lists.alpinelinux.org-58199dcc.rsa.pub', digest: 'sha512:e4f9e314f8e506fba2cb3e599c6412a036ec37ce3a54990fc7d80a821d8728f40ee3b4aa8a15218d50341fa785d9ddf7c7471f45018c6a2065ab13664a1aa9e9' },
    { name: 'alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub', digest: 'sha256:d11f6b21c61b4274e182eb888883a8ba8acdbf820dcc7a6d82a7d9fc2fd2836d' },
  ],
};

/** `sha256:<hex>` / `sha512:<hex>` of TEXT in the same form as AlpineKey.digest. */
export function keyDigest(text: string | Buffer, algorithm: 'sha256' | 'sha512'): string {
  return `${algorithm}:${createHash(algorithm).update(text).digest('hex')}`;
}

/**
 * The trusted keys for ARCH: those carried here, and the others fetched from alpinelinux.org/keys/
 * (through the mirror) and kept only if they match their pinned digest.
 */
export async function alpineKeys(arch: string, fetchFile: (url: string) => Promise<string>): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  for (const key of ALPINE_KEYS[arch] ?? []) {
    const text = key.pem ?? (await readFile(await fetchFile(`${ALPINE_KEYS_URL}${key.name}`), 'utf8'));
    const algorithm = key.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    const actual = keyDigest(text, algorithm);
    if (actual !== key.digest) throw new VerificationError(`Alpine key ${key.name} has digest ${actual}, not the pinned ${key.digest}`, `${ALPINE_KEYS_URL} (or the mirror) serves another key under that name; do not trust it`);
    keys.set(key.name, text);
  }
  return keys;
}

/** The *.rsa.pub files of DIR (an /etc/apk/keys-style directory), by file name. */
export async function keysFromDir(dir: string): Promise<Map<string, string>> {
  const names = await readdir(dir).catch(() => {
    throw new InputError(`the keys directory ${dir} cannot be read`, 'give a directory of Alpine .rsa.pub files, as /etc/apk/keys holds');
  });
  const keys = new Map<string, string>();
  for (const name of names.filter((n) => n.endsWith('.pub')).sort()) keys.set(name, await readFile(path.join(dir, name), 'utf8'));
  if (keys.size === 0) throw new InputError(`the keys directory ${dir} holds no .pub files`, 'give a directory of Alpine .rsa.pub files, as /etc/apk/keys holds');
  return keys;
}
