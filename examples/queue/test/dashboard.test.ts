import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRedis, type RedisServer } from '@anti-oom/testing';
import type {} from '@anti-oom/testing/vitest-setup';
import { ExampleProcesses } from './example-processes.js';

// The dashboard page in queue mode: the example's app and worker as their own processes, the page
// in headless Chromium, one upload through it.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SKIP = process.env.ANTI_OOM_SKIP_BROWSER_TESTS;
const COLLECTION = `queue_dashboard_${process.pid}`;
const TOKEN = 'queue-dashboard-token';
let redis: RedisServer;
let browser: Browser;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-queue-dashboard-'));

const processes = new ExampleProcesses(() => ({ MONGODB_URI: inject('mongoUri'), REDIS_URL: redis.url, QUEUE_PREFIX: 'dashboard-test', COLLECTION, IMPORT_TOKEN: TOKEN }));
const start = processes.start.bind(processes);

beforeAll(async () => {
  if (SKIP) return;
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}; scripts/test.mjs installs Debian's chromium package`);
  redis = await startRedis();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
});
afterAll(async () => {
  await browser?.close();
  await processes.stopAll();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!!SKIP)('the dashboard in queue mode, in headless Chromium', () => {
  it('uploads a file through the page (answered 202, queued); the worker imports it and the page shows the final counts from the events', async () => {
    const app = await start('src/app.ts', { PORT: '0' }, /on (http:\/\/\S+)/);
    await start('src/worker.ts', { CONCURRENCY: '1' }, /worker ready/);
    const rows = 5000;
    const lines = ['sku,name,price'];
    for (let i = 0; i < rows; i++) lines.push(i % 1000 === 999 ? `s${i},"broken` + '"x,1' : `s${i},Product ${i},${i % 100}`);
    const file = join(dir, 'catalogue.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${app}/`);
    await page.fill('#token', TOKEN);
    await page.setInputFiles('#file', file);
    await page.waitForSelector('#previewTable tr.types th');
    await page.click('#start');
    await page.waitForSelector('#run[data-state="done"]', { timeout: 120_000 });
    const shown = async (id: string) => Number((await page.textContent(`#${id}`))!.replaceAll(',', ''));
    expect(await page.textContent('#state')).toBe('done');
    expect(await shown('written')).toBe(rows - 5);
    expect(await shown('failed')).toBe(5);
    expect(JSON.parse((await page.textContent('#report'))!)).toMatchObject({ state: 'done', rowsWritten: rows - 5, rowsFailed: 5 });
    expect(errors).toEqual([]);
    await page.close();
    const client = await MongoClient.connect(inject('mongoUri'));
    try {
      const collection = client.db('anti_oom_examples').collection(COLLECTION);
      expect(await collection.countDocuments()).toBe(rows - 5);
      await collection.drop();
    } finally {
      await client.close();
    }
  }, 180_000);
});
