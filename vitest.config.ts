import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Clusters of real processes on PostgreSQL, Redis and Kamailio: `npm run test:cluster`.
    exclude: ['test/cluster/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One file at a time: the media tests (mediasoup workers, WebRTC peers, SIPp) each use a good
    // part of a core, and on a 2-core machine running them side by side starved their real-time audio.
    maxWorkers: 1,
    reporters: ['default'],
  },
});
