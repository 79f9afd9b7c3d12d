/** Step 2, resolve (src/bake/resolve-stage.ts): releases.json from the served synthetic release. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from '../../src/bake/resolve-stage.js';
import { stepFixture, type StepFixture } from './steps.js';

let fx: StepFixture;
beforeAll(async () => {
  fx = await stepFixture();
});
afterAll(() => fx?.close());

describe('resolve', () => {
  it('a channel becomes its newest listed version, with its board and release URL', async () => {
    const { plan, ctx, release } = await fx.open(fx.options({ release: 'stable' }));
    try {
      const resolved = await resolve(ctx, plan);
      expect(resolved).toEqual({
        version: fx.served.release.version,
        channel: 'stable',
        arch: 'x86-64',
        board: 'amd64-usr',
        baseUrl: `${fx.served.server.url}/stable/amd64-usr/${fx.served.release.version}`,
      });
    } finally {
      await release();
    }
  });

  it('a version releases.json does not list is refused, naming the ones it does', async () => {
    const { plan, ctx, release } = await fx.open(fx.options({ release: '4459.2.9' }));
    try {
      await expect(resolve(ctx, plan)).rejects.toThrow(/release 4459\.2\.9 is not listed/);
    } finally {
      await release();
    }
  });

  it('--image resolves nothing and asks the server nothing', async () => {
    const { plan, ctx, release } = await fx.open(fx.options({ image: fx.served.release.imagePath, fetch: true }));
    const before = fx.served.server.requests.length;
    try {
      expect(await resolve(ctx, plan)).toBeUndefined();
      expect(fx.served.server.requests.length).toBe(before);
    } finally {
      await release();
    }
  });
});
