import { defineConfig } from 'vitest/config';

// Two projects: `unit` (beside the code, no network) and `integration` (test/, against moto).
export default defineConfig({
  test: {
    // One test file per core (vitest defaults to cores − 1: one file at a time on 2 cores).
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'infra/test/**/*.test.ts',
          ],
          globalSetup: ['test/setup/temp-dir-global-setup.ts'],
          testTimeout: 20_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/setup/temp-dir-global-setup.ts', 'test/setup/moto-global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
    ],
  },
});
