// Our own browser tests (e2e/*.spec.ts) against a running platform:
// `scripts/e2e.sh` starts `cloudsec up` and sets E2E_BASE_URL.
import { defineConfig, devices } from '@playwright/test';
import { chromium } from './e2e/browser';

export default defineConfig({
  testDir: './e2e',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: 'test-results/own',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  use: { baseURL: process.env.E2E_BASE_URL ?? 'http://127.0.0.1:8080', actionTimeout: 10_000 },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], ...chromium } }],
});
