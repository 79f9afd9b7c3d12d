/** Step 4, verify + decompress (src/bake/verify-stage.ts): signatures checked by gpg, a local --image hashed. */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from '../../src/bake/resolve-stage.js';
import { localBase, releaseBase } from '../../src/bake/verify-stage.js';
import { VerificationError } from '../../src/errors.js';
import { stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

describe('verify + decompress', () => {
  it('refuses a release signed by another key than --signing-key, and returns no image', async () => {
    const { plan, ctx, release } = await fx.open(fx.options({ signingKey: fx.served.release.wrongKeyFile }));
    try {
      await expect(releaseBase(ctx, (await resolve(ctx, plan))!)).rejects.toThrow(VerificationError);
    } finally {
      await release();
    }
  });

  it('a local --image is used as it is, hashed (as sha256sum hashes it) and marked unverified', async () => {
    const image = fx.served.release.imagePath;
    const { ctx, release } = await fx.open(fx.options({ image }));
    try {
      const base = await localBase(ctx, image);
      expect(base.image.path).toBe(image);
      expect(base.sha256).toBe((await execa('sha256sum', [image])).stdout.split(' ')[0]);
      expect(base.signature).toEqual({ verified: false });
      expect(base.release).toBeUndefined();
    } finally {
      await release();
    }
  });
});
