import { defineConfig } from 'vitest/config';

/**
 * Test files that assert a latency bound under a flood (health p99, small-document p99). They run
 * after the rest, one file at a time (vitest.timed.config.ts), so the suite's own parallel load —
 * real interpreters, language servers, PTYs — is not what they measure.
 */
export const TIMED_FILES = ['test/abuse.test.ts', 'test/docs-attack.test.ts'];

export const common = {
  setupFiles: ['test/helpers/leak-check.ts'],
  env: { ICPY_CHECK_RESULTS: '1', ICPY_LOG_LEVEL: 'silent' },
  pool: 'forks' as const,
  testTimeout: 20_000,
  hookTimeout: 20_000,
  teardownTimeout: 10_000,
};

export default defineConfig({
  test: {
    ...common,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // `npm test` runs the timed files afterwards (vitest.timed.config.ts); ICPY_TEST_ALL=1 includes them here.
    exclude: process.env.ICPY_TEST_ALL === '1' ? [] : TIMED_FILES,
  },
});
