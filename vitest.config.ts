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
    // Real peers in real time on a shared 2-core virtual machine: a test that loses a race with the
    // machine (a late packet, a port taken between probe and bind) runs once more before it fails
    // the run. The flaky reporter names every test that needed it, to be fixed; a test that fails
    // twice still fails.
    retry: 1,
    reporters: ['default', './test/support/flakyReporter.ts'],
  },
});
