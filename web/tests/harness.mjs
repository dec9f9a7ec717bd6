// E2E harness: starts demo/stack.py and headless Debian Chromium, reads the page's state, waits on conditions.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(ROOT, 'build', 'e2e');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const STACK_START_MS = Number(process.env.AGG_STACK_START_MS || 240000);

// Starts the whole stack and resolves with the first stdout line it prints (parsed JSON). env:
// NAME=VALUE settings for every process of it (stack.py --env), e.g. AUTH_MODE=jwt.
export async function startStack(env = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const script = process.env.AGG_STACK_PY || path.join(ROOT, 'demo', 'stack.py');
  const args = [script, '--build-dir', process.env.AGG_BUILD_DIR || 'build', '--kafka', 'real',
    '--gateways', '1', '--workers', '1', '--free-ports', '--web', '--supervise'];
  for (const [name, value] of Object.entries(env)) args.push('--env', `${name}=${value}`);
  const child = spawn('python3', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const log = createWriteStream(path.join(ARTIFACTS, Object.keys(env).length ? 'stack-env.log' : 'stack.log'));
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const info = await new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`stack.py printed no JSON line within ${STACK_START_MS} ms (see build/e2e/stack.log)`)), STACK_START_MS);
    child.stdout.on('data', (chunk) => {
      if (done) { log.write(chunk); return; }
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      log.write(`${buf}`);
      try {
        finish(null, JSON.parse(line));
      } catch (e) {
        finish(new Error(`stack.py first line is not JSON: ${line.slice(0, 200)}`));
      }
    });
    exited.then(({ code, signal }) => finish(new Error(`stack.py exited (code ${code}, signal ${signal}) before it was ready; see build/e2e/stack.log`)));
  }).catch(async (err) => {
    await stopStack({ child, exited, log });
    throw err;
  });
  for (const key of ['gateways', 'web', 'pids']) {
    if (!info[key]) throw new Error(`stack.py JSON has no "${key}"`);
  }
  return { child, exited, log, info };
}

// SIGTERM to stack.py and wait for it; its process group gets SIGKILL only if it does not stop in 30 s.
export async function stopStack(stack) {
  if (!stack) return;
  const { child, exited, log } = stack;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    let timer;
    const late = new Promise((resolve) => { timer = setTimeout(() => resolve('late'), 30000); });
    if (await Promise.race([exited, late]) === 'late') {
      try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* already gone */ }
      await exited;
    }
    clearTimeout(timer);
  }
  await new Promise((resolve) => log.end(resolve));
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Opens a page that records console errors and page errors; check them with assertNoConsoleErrors.
export async function openPage(browser, url, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push({ text: msg.text(), url: msg.location().url || '' });
  });
  page.on('pageerror', (err) => errors.push({ text: `pageerror: ${err.message}`, url: '' }));
  await page.goto(url);
  await page.locator('#request-form').waitFor();
  return { page, context, errors };
}

// Fails on any recorded console error, except those that `allowed` (an error -> boolean) accepts.
export function consoleErrors(errors, allowed = () => false) {
  return errors.filter((e) => !allowed(e)).map((e) => e.text);
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  return file;
}

export async function fillForm(page, { patientId, delays, timeoutMs, strategy }) {
  await page.fill('#patientId', patientId);
  await page.fill('#delays', delays);
  await page.fill('#timeoutMs', String(timeoutMs));
  await page.check(strategy === 'WAIT_FOR_EVERYONE' ? '#strategy-wfe' : '#strategy-sse');
}

// Everything the results panel shows, read in one go.
export function readResults(page) {
  return page.evaluate(() => {
    const text = (node) => (node ? node.textContent.trim() : '');
    const banner = document.getElementById('banner');
    return {
      visible: !document.getElementById('results').hidden,
      connection: document.getElementById('connection').dataset.state,
      progress: text(document.getElementById('progress')),
      banner: banner.hidden ? null : {
        outcome: banner.dataset.outcome,
        respondents: Number(banner.dataset.respondents),
        errors: Number(banner.dataset.errors),
        text: text(banner),
      },
      sources: Array.from(document.querySelectorAll('#sources tbody tr')).map((tr) => ({
        source: tr.dataset.source,
        status: tr.dataset.status,
        time: text(tr.querySelector('.time')),
      })),
      notes: Array.from(document.querySelectorAll('#notes tbody tr')).map((tr) => ({
        id: tr.dataset.noteId,
        date: tr.querySelector('time').getAttribute('datetime'),
        cells: Array.from(tr.querySelectorAll('td')).map((td) => text(td)),
      })),
      noteCount: text(document.getElementById('note-count')),
    };
  });
}

// Polls fn in the page (Playwright's waitForFunction) until it returns truthy; on timeout, says what the page showed.
export async function waitUntil(page, what, fn, arg, timeout) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 'raf' });
  } catch (err) {
    let state = '';
    try { state = JSON.stringify(await readResults(page)); } catch (_) { /* page gone */ }
    throw new Error(`timed out after ${timeout} ms waiting for ${what}; page showed ${state}`, { cause: err });
  }
}

export function waitForSummary(page, timeout) {
  return waitUntil(page, 'the summary banner', () => {
    const b = document.getElementById('banner');
    return !b.hidden && (b.dataset.outcome === 'complete' || b.dataset.outcome === 'partial');
  }, undefined, timeout);
}
