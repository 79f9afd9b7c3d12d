import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    // Real tools on real images: bakes take seconds, not milliseconds.
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // Two cores: more parallel files only make each slower.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
