// Test configuration of the product. Invariants:
// - One PostgreSQL and one Redis are started for the whole run by test/harness/global-setup.ts; test files reach
//   them through inject() (see test/harness/require-services.ts).
// - Tests run in forked processes ('forks'), so that a test that freezes or kills a server, or a native module
//   that hangs, cannot take the runner down with it, and every harness exit hook runs.
// - Every test runs in the node environment. Web component tests opt into a DOM themselves with a first-line
//   comment `// @vitest-environment happy-dom`, which keeps the node tests free of DOM globals.
import { defineConfig } from 'vitest/config';

// Two projects: `main` (unit, integration, web component tests) and `e2e` (the web app in Chromium). `npm test`
// runs them one after the other, so browser timings (a live update within 1 s) are not measured while crash-cycle
// and load tests hold both cores.
export default defineConfig({
  test: {
    globalSetup: ['test/harness/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/**/*.test.{ts,tsx}'],
          exclude: ['test/e2e/**'],
        },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
