import { describe, expect, it } from 'vitest';
import { parseGpgStatus } from '../../src/verify/gpg.js';

const FPR = '85BD63BDF6B43C83E3880F837D6424BB3E314586';

describe('gpg status parsing', () => {
  it('accepts GOODSIG + VALIDSIG', () => {
    const s = parseGpgStatus(`[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 7D6424BB3E314586 Test\n[GNUPG:] VALIDSIG ${FPR} 2026-11-30 1 0 4 0 22 8 00 ${FPR}\n`);
    expect(s).toMatchObject({ good: true, validSigFingerprint: FPR, expiredKey: false });
  });
  it('accepts an expired key with a warning flag', () => {
    const s = parseGpgStatus(`[GNUPG:] EXPKEYSIG 7D6424BB3E314586 Test\n[GNUPG:] VALIDSIG ${FPR} x\n`);
    expect(s).toMatchObject({ good: true, expiredKey: true });
  });
  it('refuses BADSIG', () => {
    const s = parseGpgStatus('[GNUPG:] NEWSIG\n[GNUPG:] BADSIG 7D6424BB3E314586 Test\n');
    expect(s.good).toBe(false);
    expect(s.problems[0]).toMatch(/altered/);
  });
  it('names a missing public key', () => {
    const s = parseGpgStatus('[GNUPG:] ERRSIG 7D6424BB3E314586 22 8 00 1764512345 9 -\n[GNUPG:] NO_PUBKEY 7D6424BB3E314586\n');
    expect(s.good).toBe(false);
    expect(s.problems[0]).toBe('the signature was made by key 7D6424BB3E314586, which is not the signing key given (no public key)');
    // gpg 2.2 adds the issuer's fingerprint when the signature carries it: that is what is named then.
    const withFpr = parseGpgStatus(`[GNUPG:] ERRSIG 7D6424BB3E314586 22 8 01 1764512345 9 ${FPR}\n`);
    expect(withFpr.problems[0]).toContain(`by key ${FPR}, which`);
  });
  it('refuses a GOODSIG without VALIDSIG and a revoked key', () => {
    expect(parseGpgStatus('[GNUPG:] GOODSIG X y\n').good).toBe(false);
    expect(parseGpgStatus(`[GNUPG:] GOODSIG X y\n[GNUPG:] VALIDSIG ${FPR}\n[GNUPG:] REVKEYSIG X y\n`).good).toBe(false);
  });
  it('refuses empty output and NODATA', () => {
    expect(parseGpgStatus('').good).toBe(false);
    expect(parseGpgStatus('[GNUPG:] NODATA 1\n').good).toBe(false);
  });
});
