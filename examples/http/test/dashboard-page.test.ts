import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createApp } from '../src/app.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SKIP = process.env.ANTI_OOM_SKIP_BROWSER_TESTS;

let t: Awaited<ReturnType<typeof openTestDb>> | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (SKIP) return;
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}; scripts/test.mjs installs Debian's chromium package`);
  t = await openTestDb('dashpage');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe.skipIf(!!SKIP)('the dashboard page', () => {
  it('loads without a failed request or a console error (no favicon 404)', async () => {
    const { server, imports } = createApp(t!.db, { token: 'page-test-token', collection: 'dashboard_page' });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
    page.on('requestfailed', (r) => problems.push(`failed ${r.url()}`));
    await page.goto(url, { waitUntil: 'load' });
    // Browsers ask for the icon after the load event; give that request time to happen.
    await page.waitForTimeout(500);
    const served = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(served).toMatch(/^data:image\/svg\+xml,/);
    expect(problems).toEqual([]);
    await page.close();
    await imports.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }, 60_000);
});
