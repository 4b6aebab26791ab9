import { defineConfig } from 'vitest/config';

/** `npm run test:cluster`: several legway nodes on real PostgreSQL, Redis and Kamailio (test/cluster). */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
