// The RealWorld e2e suite (vendored unchanged in ../conformance/realworld/e2e)
// against a running platform: `scripts/e2e.sh` starts `cloudsec up` and sets
// E2E_BASE_URL and TEST_MODE. Our adaptations of the suite's base config:
// Debian's Chromium (no browser download), no retries (a flaky pass is a
// failure), a plain reporter, results outside the clone's tracked files.
import { defineConfig, devices } from '@playwright/test';
import { baseConfig } from '../conformance/realworld/e2e/playwright.base';
import { chromium } from './e2e/browser';

export default defineConfig({
  ...baseConfig,
  testDir: '../conformance/realworld/e2e',
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results/realworld',
  use: { ...baseConfig.use, baseURL: process.env.E2E_BASE_URL ?? 'http://127.0.0.1:8080', trace: 'off' },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], ...chromium } }],
});
