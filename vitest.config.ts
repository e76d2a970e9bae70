import { defineConfig } from 'vitest/config';

// Tests live in test/, mirroring the source tree. Integration tests that start
// processes get generous timeouts; unit and property tests stay fast.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
