/**
 * Step 3, fetch (src/bake/fetch-stage.ts): the base image and the bakery's sysexts from the
 * served synthetic release, side by side; the results are checked with cmp and sha256sum.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchInputs } from '../../src/bake/fetch-stage.js';
import { resolve } from '../../src/bake/resolve-stage.js';
import { stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

const sha256sum = async (file: string) => (await execa('sha256sum', [file])).stdout.split(' ')[0];

describe('fetch', () => {
  it('fetches, verifies and decompresses the base, and fetches the sysexts with their digests', async () => {
    const { plan, ctx, release } = await fx.open(fx.options());
    try {
      const fetched = await fetchInputs(ctx, plan, await resolve(ctx, plan));
      const rel = fx.served.release;
      // The decompressed base is the release's image, byte for byte.
      await execa('cmp', [fetched.base.image.path, rel.imagePath]);
      expect(fetched.base.signature).toEqual({ verified: true, fingerprint: rel.fingerprint });
      expect(fetched.base.sha256).toBe(await sha256sum(rel.files.imageBz2));
      expect(fetched.base.release).toMatchObject({ version: rel.version, channel: 'stable', board: 'amd64-usr', arch: 'x86-64' });
      const hello = rel.sysexts[0]!;
      expect(fetched.sysexts.toInject).toEqual([expect.objectContaining({ name: 'hello', fileName: `hello-1.0.0-x86-64.raw`, size: hello.size })]);
      expect(await sha256sum(fetched.sysexts.toInject[0]!.source)).toBe(hello.sha256);
      expect(fetched.sysexts.describe.get('hello')).toEqual({ source: `${fx.served.server.url}/extensions/hello-1.0.0-x86-64.raw`, sha256: hello.sha256, size: hello.size, confSha256: await sha256sum(hello.conf) });
    } finally {
      await release();
    }
  });

  it('a sysext the bakery does not list fails the step after the base has settled', async () => {
    const { plan, ctx, release } = await fx.open(fx.options({ sysexts: ['nope:nope-1.0.0-x86-64.raw'] }));
    try {
      await expect(fetchInputs(ctx, plan, await resolve(ctx, plan))).rejects.toThrow(/nope-1\.0\.0-x86-64\.raw is not listed in the bakery's SHA256SUMS/);
    } finally {
      await release();
    }
  });
});
