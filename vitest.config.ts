// Test configuration of the product. Invariants:
// - One PostgreSQL and one Redis are started for the whole run by test/harness/global-setup.ts; test files reach
//   them through inject() (see test/harness/require-services.ts).
// - Tests run in forked processes ('forks'), so that a test that freezes or kills a server, or a native module
//   that hangs, cannot take the runner down with it, and every harness exit hook runs.
// - Every test runs in the node environment. Web component tests opt into a DOM themselves with a first-line
//   comment `// @vitest-environment happy-dom`, which keeps the node tests free of DOM globals.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/**/*.test.{ts,tsx}'],
    globalSetup: ['test/harness/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
