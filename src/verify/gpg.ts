import { rm } from 'node:fs/promises';
import path from 'node:path';
import { VerificationError } from '../errors.js';
import { run } from '../util/exec.js';
import { makeGpgHome } from '../util/gpg-home.js';

export interface SignatureCheck {
  file: string;
  signature: string;
  /** Fingerprint of the key that made the signature. */
  fingerprint: string;
  /** Set when the signing key has expired since (gpg still calls the signature good). */
  expiredKey: boolean;
}

/** The parts of gpg's machine-readable status output that decide a verification. */
export interface GpgStatus {
  good: boolean;
  validSigFingerprint?: string;
  expiredKey: boolean;
  problems: string[];
}

/** Pure: reads `--status-fd` lines. Only a VALIDSIG with GOODSIG/EXPKEYSIG and no BAD/ERR/REVKEY counts. */
export function parseGpgStatus(text: string): GpgStatus {
  let goodsig = false;
  let expiredKey = false;
  let validSigFingerprint: string | undefined;
  const problems: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\[GNUPG:\] (\S+)(?: (.*))?$/.exec(line.trim());
    if (!match) continue;
    const [, keyword, rest = ''] = match;
    switch (keyword) {
      case 'GOODSIG':
        goodsig = true;
        break;
      case 'EXPKEYSIG':
        goodsig = true;
        expiredKey = true;
        break;
      case 'VALIDSIG':
        validSigFingerprint = rest.split(' ')[0];
        break;
      case 'BADSIG':
        problems.push('the signature does not match the file (BADSIG): the file was altered or corrupted');
        break;
      case 'ERRSIG': {
        // ERRSIG <keyid> <pkalgo> <hashalgo> <sig_class> <time> <rc> [<fpr>]; rc 9 = no public key
        const fields = rest.split(' ');
        // The fingerprint when gpg gives it (an issuer fingerprint subpacket), else the long key id.
        const signer = fields[6] !== undefined && fields[6] !== '-' ? fields[6] : fields[0];
        problems.push(
          fields[5] === '9'
            ? `the signature was made by key ${signer}, which is not the signing key given (no public key)`
            : `the signature could not be checked (ERRSIG ${rest})`,
        );
        break;
      }
      case 'REVKEYSIG':
        problems.push('the signing key has been revoked (REVKEYSIG)');
        break;
      case 'NODATA':
        problems.push('the signature file holds no OpenPGP signature (NODATA)');
        break;
      default:
        break;
    }
  }
  return { good: goodsig && validSigFingerprint !== undefined && problems.length === 0, validSigFingerprint, expiredKey, problems };
}

/**
 * Verifies detached OpenPGP signatures with gpg in a throwaway home, so the
 * user's keyring plays no part and nothing is left behind.
 */
export class SignatureVerifier {
  private constructor(
    private readonly home: string,
    readonly keyFingerprints: string[],
  ) {}

  static async withKey(keyFile: string): Promise<SignatureVerifier> {
    // Named for its owner: if we are killed, the next bake removes it (util/owner.ts).
    const home = await makeGpgHome();
    try {
      const imported = await run('gpg', ['--homedir', home, '--batch', '--no-autostart', '--status-fd', '1', '--import', keyFile], {
        purpose: 'import the signing key',
        okExitCodes: [2],
      });
      const fingerprints = [...imported.stdout.matchAll(/^\[GNUPG:\] IMPORT_OK \d+ ([0-9A-F]+)/gm)].map((m) => m[1]!);
      if (fingerprints.length === 0) {
        throw new VerificationError(
          `no OpenPGP public key could be read from ${keyFile}`,
          'check --signing-key: it must be an OpenPGP public key (armored .asc or binary)',
        );
      }
      return new SignatureVerifier(home, fingerprints);
    } catch (error) {
      await rm(home, { recursive: true, force: true });
      throw error;
    }
  }

  /** Throws VerificationError unless `signature` is a good signature of `file` by the imported key. */
  async verify(file: string, signature: string, label = path.basename(file)): Promise<SignatureCheck> {
    const result = await run(
      'gpg',
      ['--homedir', this.home, '--batch', '--no-autostart', '--status-fd', '1', '--verify', signature, file],
      { purpose: `verify the signature of ${label}`, okExitCodes: [1, 2] },
    );
    const status = parseGpgStatus(result.stdout);
    if (!status.good) {
      const why = status.problems[0] ?? `gpg did not report a valid signature (exit status ${result.exitCode})`;
      throw new VerificationError(
        `signature check failed for ${label}: ${why}`,
        'do not use this file; re-download it (delete it from the cache with --no-cache or remove the cache dir) and check --signing-key',
      );
    }
    return { file, signature, fingerprint: status.validSigFingerprint!, expiredKey: status.expiredKey };
  }

  async close(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}
