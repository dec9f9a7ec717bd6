// make dashboard-snapshot: opens scripts/dashboard-page.html in headless Chromium (playwright-core of web/) against a Prometheus and saves the screenshot.
// Usage: node scripts/dashboard-render.mjs PROMETHEUS_URL START END OUT.png
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(root, 'web', 'package.json'))('playwright-core');
const [prometheus, start, end, out] = process.argv.slice(2);
if (!out) { console.error('usage: dashboard-render.mjs PROMETHEUS_URL START END OUT.png'); process.exit(2); }

// One made-up origin serves the page, the dashboard file and (proxied) Prometheus' API: no CORS.
const ORIGIN = 'http://dashboard.invalid';
const files = {
  '/dashboard.html': ['text/html', path.join(root, 'scripts', 'dashboard-page.html')],
  '/grafana-dashboard.json': ['application/json', path.join(root, 'helm', 'aggregator', 'files', 'grafana-dashboard.json')],
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1416, height: 900 }, deviceScaleFactor: 1 });
  await context.route(ORIGIN + '/**', async (route) => {
    const url = new URL(route.request().url());
    if (files[url.pathname]) {
      const [type, file] = files[url.pathname];
      return route.fulfill({ status: 200, contentType: type, body: readFileSync(file) });
    }
    if (url.pathname.startsWith('/api/v1/')) {
      const r = await fetch(prometheus + url.pathname + url.search);
      return route.fulfill({ status: r.status, contentType: 'application/json', body: Buffer.from(await r.arrayBuffer()) });
    }
    return route.fulfill({ status: 404, body: 'not found' });
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${ORIGIN}/dashboard.html?start=${start}&end=${end}&step=1`);
  await page.waitForFunction(() => window.snapshot, null, { timeout: 60000 });
  const result = await page.evaluate(() => window.snapshot);
  if (result.error || errors.length) throw new Error(result.error || errors.join('\n'));
  await page.screenshot({ path: out, fullPage: true });
  console.log(`dashboard-snapshot: ${result.withData} of ${result.panels} panels with data -> ${out}`);
} finally {
  await browser.close();
}
