import { defineConfig } from 'vitest/config';
import { TIMED_FILES, common } from './vitest.config.js';

/** The latency-bound files, one at a time, after the rest of the suite (see vitest.config.ts). */
export default defineConfig({
  test: {
    ...common,
    include: TIMED_FILES,
    fileParallelism: false,
  },
});
