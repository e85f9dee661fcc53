import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { chromium, type Browser } from 'playwright-core';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createApp } from '../src/app.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// scripts/test.mjs sets this, and says so loudly, where Chromium is missing and cannot be installed.
const SKIP = process.env.ANTI_OOM_SKIP_BROWSER_TESTS;
const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test-output');

let t: Awaited<ReturnType<typeof openTestDb>> | undefined;
let db: Db;
let browser: Browser;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-dashboard-'));

beforeAll(async () => {
  if (SKIP) return;
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}; scripts/test.mjs installs Debian's chromium package`);
  t = await openTestDb('dashboard');
  db = t.db;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!!SKIP)('dashboard in headless Chromium', () => {
  it('previews the file with a type per column, writes nothing until Start, then uploads it and shows the final counts', async () => {
    const { server, imports } = createApp(db, { token: 'dashboard-test-token', collection: 'dashboard_e2e' });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
    const rows = 20_000;
    const file = join(dir, 'catalogue.csv');
    const lines = ['sku,name,price'];
    for (let i = 0; i < rows; i++) lines.push(i % 1000 === 999 ? `s${i},"broken` + '"x,1' : `s${i},Product ${i},${i % 100}`);
    writeFileSync(file, `${lines.join('\n')}\n`);

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.fill('#token', 'dashboard-test-token');
    await page.setInputFiles('#file', file);
    // The preview: the first megabyte, a type per column, nothing written yet.
    await page.waitForSelector('#previewTable tr.types th');
    expect(await page.locator('#previewTable thead tr').first().locator('th').allTextContents()).toEqual(['sku', 'name', 'price']);
    expect(await page.locator('#previewTable tr.types th').allTextContents()).toEqual(['string', 'string', 'int']);
    expect(await page.locator('#previewTable tbody tr').count()).toBe(10);
    expect(await page.locator('#previewTable tbody tr').first().locator('td').allTextContents()).toEqual(['s0', 'Product 0', '0']);
    expect(await page.textContent('#previewNote')).toMatch(/delimiter ","/);
    expect(await page.textContent('#previewNote')).toMatch(/100 rows sampled/);
    expect(await db.collection('dashboard_e2e').countDocuments()).toBe(0);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'dashboard-preview.png'), fullPage: true });
    await page.click('#start');
    await page.waitForSelector('#run[data-state="done"]', { timeout: 120_000 });

    const shown = async (id: string) => Number((await page.textContent(`#${id}`))!.replaceAll(',', ''));
    expect(await page.textContent('#state')).toBe('done');
    expect(await shown('written')).toBe(rows - 20);
    expect(await shown('failed')).toBe(20);
    expect(await page.locator('#failures tbody tr').count()).toBe(20);
    expect(JSON.parse((await page.textContent('#report'))!)).toMatchObject({ state: 'done', rowsWritten: rows - 20, rowsFailed: 20 });
    expect(await page.locator('#upload').evaluate((el) => (el as unknown as { value: number }).value)).toBe(1);
    expect(await db.collection('dashboard_e2e').countDocuments()).toBe(rows - 20);
    expect(errors).toEqual([]);

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });
    await page.close();
    await imports.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }, 180_000);

  it('is safe to copy: no token, no import; the client cannot pick the collection, the mode or the key', async () => {
    const { server, imports } = createApp(db, { token: 'copy-test-token', collection: 'example_fixed' });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/imports`;
    const anonymous = await fetch(base, { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: 'sku,name\nA,x\n' });
    expect(anonymous.status).toBe(401);
    const auth = { Authorization: 'Bearer copy-test-token', 'Content-Type': 'text/csv' };
    const chosen = await fetch(`${base}?collection=victims&mode=merge&key=email`, { method: 'POST', headers: auth, body: 'sku,name\nA,x\n' });
    expect(chosen.status).toBe(200);
    expect(await chosen.json()).toMatchObject({ inserted: 1, matched: 0, modified: 0 });
    expect(await db.collection('victims').countDocuments()).toBe(0);
    expect(await db.collection('example_fixed').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ sku: 'A', name: 'x' }]);
    const forged = await fetch(base, { method: 'POST', headers: { ...auth, Origin: 'https://evil.example' }, body: 'sku,name\nB,x\n' });
    expect(forged.status).toBe(403);
    await imports.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
});
