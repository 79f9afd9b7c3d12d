/**
 * A throwaway OpenPGP signer for synthetic releases: two fresh ed25519 keys in
 * a private GNUPGHOME (the signing key and an unrelated "wrong" one), detached
 * binary signatures, armored public keys. dispose() stops the agent and deletes
 * the home, so no secret key outlives the build.
 */
import { rm, writeFile } from 'node:fs/promises';
import { FlatbakeError } from '../errors.js';
import { run } from '../util/exec.js';
import { makeGpgHome } from '../util/gpg-home.js';

export const SIGNING_UID = 'Synthetic Flatcar Signing <test@flatbake.invalid>';
export const WRONG_UID = 'Unrelated Synthetic Key <wrong@flatbake.invalid>';

export interface ThrowawaySigner {
  fingerprint: string;
  wrongFingerprint: string;
  sign(file: string, signatureFile?: string): Promise<string>;
  exportPublicKey(file: string): Promise<void>;
  exportWrongPublicKey(file: string): Promise<void>;
  dispose(): Promise<void>;
}

export async function createThrowawaySigner(): Promise<ThrowawaySigner> {
  // Short, so that the agent's sockets can be bound in it (util/gpg-home.ts).
  const home = await makeGpgHome();
  const env = { GNUPGHOME: home };
  const gpg = (args: string[], purpose: string) =>
    run('gpg', ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env, purpose });
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    try {
      await run('gpgconf', ['--kill', 'all'], { env, purpose: 'stop the throwaway gpg-agent', okExitCodes: [1, 2] });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  };
  try {
    const fingerprintOf = async (uid: string) => {
      const { stdout } = await gpg(['--with-colons', '--list-secret-keys', `=${uid}`], 'list the throwaway key');
      const fpr = stdout.split('\n').find((l) => l.startsWith('fpr:'))?.split(':')[9];
      if (!fpr) throw new FlatbakeError(`gpg did not report a fingerprint for ${uid}`);
      return fpr;
    };
    await gpg(['--quick-gen-key', SIGNING_UID, 'ed25519', 'sign', 'never'], 'generate the synthetic signing key');
    await gpg(['--quick-gen-key', WRONG_UID, 'ed25519', 'sign', 'never'], 'generate the unrelated key');
    const fingerprint = await fingerprintOf(SIGNING_UID);
    const wrongFingerprint = await fingerprintOf(WRONG_UID);
    const exportKey = async (fpr: string, file: string) => {
      const { stdout } = await gpg(['--armor', '--export', fpr], 'export a public key');
      await writeFile(file, stdout);
    };
    return {
      fingerprint,
      wrongFingerprint,
      async sign(file, signatureFile = `${file}.sig`) {
        await gpg(['--yes', '--local-user', fingerprint, '--detach-sign', '--output', signatureFile, file], `sign ${file}`);
        return signatureFile;
      },
      exportPublicKey: (file) => exportKey(fingerprint, file),
      exportWrongPublicKey: (file) => exportKey(wrongFingerprint, file),
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}
