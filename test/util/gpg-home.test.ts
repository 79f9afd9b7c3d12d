/**
 * gpg homes under a deep $TMPDIR (src/util/gpg-home.ts): gpg-agent binds its sockets in the home,
 * and GnuPG binds no socket path over 106 bytes. The synthetic signer must still make keys and
 * sign, and gpg (not our code) must accept its signatures.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createThrowawaySigner } from '../../src/demo/signing.js';
import { GPG_HOME_PREFIX, gpgHomeParent, makeGpgHome } from '../../src/util/gpg-home.js';
import { ownedPrefix, ownerTag } from '../../src/util/owner.js';
import { SignatureVerifier } from '../../src/verify/gpg.js';

let top: string;
let deep: string;
const saved = process.env.TMPDIR;
beforeAll(async () => {
  top = await mkdtemp(path.join(os.tmpdir(), 'gpg-home-test-'));
  // Deeper than any gpg home with its socket may be, as a CI job's nested temp dirs get.
  deep = path.join(top, 'a-deliberately-deep-temp-dir-'.repeat(3), 'of-a-ci-job');
  await mkdir(deep, { recursive: true });
});
afterEach(() => {
  if (saved === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = saved;
});
afterAll(async () => {
  await rm(top, { recursive: true, force: true });
});

/** gpg itself making a key in HOME (its agent stopped after), for what it says and its exit status. */
async function keygen(home: string, uid: string) {
  const env = { GNUPGHOME: home };
  const r = await execa('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { env, reject: false });
  await execa('gpgconf', ['--kill', 'all'], { env, reject: false });
  return r;
}

const mine = (dir: string) => readdir(dir).then((names) => names.filter((n) => n.startsWith(`${GPG_HOME_PREFIX}${ownerTag()}-`)));

describe('gpg homes', () => {
  it('under the deep TMPDIR itself, gpg cannot make a key: "No agent running" (what this guards against)', async () => {
    const home = path.join(deep, 'gnupg-home');
    await mkdir(home, { mode: 0o700 });
    const r = await keygen(home, 'Too Deep <deep@flatbake.invalid>');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/No agent running|socket name .* too long/i);
  }, 60_000);

  it('stay in a TMPDIR that is short enough, and go to /tmp from a deeper one', async () => {
    expect(gpgHomeParent('/tmp/x')).toBe('/tmp/x');
    expect(gpgHomeParent(deep)).toBe('/tmp');
    const home = await makeGpgHome(deep);
    try {
      expect(path.dirname(home)).toBe('/tmp');
      expect(path.basename(home).startsWith(`${GPG_HOME_PREFIX}${ownerTag()}-`)).toBe(true);
      expect(Buffer.byteLength(path.join(home, 'S.gpg-agent.browser'))).toBeLessThanOrEqual(106);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('at the edge: a TMPDIR whose longest socket path would be 106 bytes keeps the home, and gpg makes a key there; at 107 gpg refuses the name, so the home goes to /tmp', async () => {
    const socket = (tmp: string) => Buffer.byteLength(path.join(tmp, `${ownedPrefix(GPG_HOME_PREFIX)}XXXXXX`, 'S.gpg-agent.browser'));
    // Short enough to reach both lengths: the test run's own TMPDIR may already be too deep.
    const edge = await mkdtemp('/tmp/gpg-edge-');
    const tmpFor = async (length: number) => {
      const dir = path.join(edge, 'e'.repeat(length - socket(path.join(edge, 'e')) + 1));
      await mkdir(dir, { recursive: true });
      expect(socket(dir)).toBe(length);
      return dir;
    };
    try {
      const fits = await tmpFor(106);
      expect(gpgHomeParent(fits)).toBe(fits);
      const home = await makeGpgHome(fits);
      expect(path.dirname(home)).toBe(fits);
      const made = await keygen(home, 'Edge <edge@flatbake.invalid>');
      expect(made.exitCode, made.stderr).toBe(0);
      const over = await tmpFor(107);
      expect(gpgHomeParent(over)).toBe('/tmp');
      // What the rule guards against, with gpg itself: a home of the same name length there fails.
      const tooLong = path.join(over, path.basename(home));
      await mkdir(tooLong, { mode: 0o700 });
      const refused = await keygen(tooLong, 'Edge <edge@flatbake.invalid>');
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/No agent running|too long/i);
    } finally {
      await rm(edge, { recursive: true, force: true });
    }
  }, 120_000);

  it('the synthetic signer under the deep TMPDIR makes keys and signs; gpg accepts the signature', async () => {
    process.env.TMPDIR = deep;
    const before = await mine('/tmp');
    const signer = await createThrowawaySigner();
    const data = path.join(top, 'data.txt');
    await writeFile(data, 'signed under a deep TMPDIR\n');
    const key = path.join(top, 'key.asc');
    try {
      await signer.sign(data);
      await signer.exportPublicKey(key);
    } finally {
      await signer.dispose();
    }
    // The signer's home and its agent are gone with dispose().
    expect(await mine('/tmp')).toEqual(before);
    // Read back by gpg in a home of its own, then by our verifier (also under the deep TMPDIR).
    const check = await mkdtemp(path.join('/tmp', 'gpg-home-check-'));
    try {
      const env = { GNUPGHOME: check };
      await execa('gpg', ['--batch', '--import', key], { env });
      const verified = await execa('gpg', ['--batch', '--status-fd', '1', '--verify', `${data}.sig`, data], { env });
      expect(verified.stdout).toContain(`[GNUPG:] VALIDSIG ${signer.fingerprint}`);
    } finally {
      await rm(check, { recursive: true, force: true });
    }
    const verifier = await SignatureVerifier.withKey(key);
    try {
      expect((await verifier.verify(data, `${data}.sig`)).fingerprint).toBe(signer.fingerprint);
    } finally {
      await verifier.close();
    }
    expect((await readdir(deep)).filter((n) => n.startsWith(GPG_HOME_PREFIX))).toEqual([]);
  }, 120_000);
});
