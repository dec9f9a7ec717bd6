// End-to-end tests of the web client against a stack with AUTH_MODE=jwt: the token field, its storage, the 401 message.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  consoleErrors, fillForm, launchBrowser, openPage, readResults, screenshot, startStack, stopStack,
  waitForSummary, waitUntil,
} from './harness.mjs';

const SECRET = 'e2e-only-hs256-secret-0123456789abcdef';

// An HS256 token the test signs itself (the gateway verifies it with libjwt).
function token(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

let stack;
let browser;
let base;

before(async () => {
  stack = await startStack({ AUTH_MODE: 'jwt', JWT_SECRET: SECRET });
  browser = await launchBrowser();
  base = `${stack.info.web.replace(/\/+$/, '')}/?api=${encodeURIComponent(stack.info.gateways[0])}`;
}, { timeout: 300000 });

after(async () => {
  if (browser) await browser.close();
  await stopStack(stack);
}, { timeout: 60000 });

const REQUEST = { patientId: 'patient-e2e-auth', delays: '0,200,400', timeoutMs: 10000, strategy: 'SSE' };
// The gateway's 401 shows in the console as a failed resource load: expected here.
const refusedLoad = (e) => /401|Unauthorized/.test(e.text);

test('without a token the page says a token is needed', async () => {
  const { page, context, errors } = await openPage(browser, base);
  try {
    await fillForm(page, REQUEST);
    await page.click('#submit');
    await waitUntil(page, 'the form error', () => !document.getElementById('form-error').hidden, undefined, 15000);
    const message = await page.textContent('#form-error');
    assert.match(message, /access token/i, message);
    assert.equal((await readResults(page)).visible, false);
    assert.deepEqual(consoleErrors(errors, refusedLoad), []);
  } finally {
    await context.close();
  }
});

test('an expired token is told apart from a missing one', async () => {
  const { page, context } = await openPage(browser, base);
  try {
    await page.fill('#token', token({ sub: 'dr-ada', exp: now() - 3600 }));
    await fillForm(page, REQUEST);
    await page.click('#submit');
    await waitUntil(page, 'the form error', () => !document.getElementById('form-error').hidden, undefined, 15000);
    assert.match(await page.textContent('#form-error'), /did not accept the access token.*expired/i);
  } finally {
    await context.close();
  }
});

test('with a token the journal streams in, and the token stays out of the address bar', async () => {
  const { page, context, errors } = await openPage(browser, base);
  try {
    const t = token({ sub: 'dr-ada', exp: now() + 600 });
    await page.fill('#token', t);
    await fillForm(page, REQUEST);
    await page.click('#submit');
    await waitForSummary(page, 30000);
    const shown = await readResults(page);
    assert.deepEqual(shown.sources.map((s) => s.status), ['ok', 'ok', 'ok']);
    assert.equal(shown.banner.outcome, 'complete');
    assert.ok(!page.url().includes(t.split('.')[2]), 'the token is not in the page URL');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('aggregator.token')), t);
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
    assert.equal(await page.evaluate(() => document.cookie), '');
    // A reload of the tab keeps it (sessionStorage); a new tab's context does not have it.
    await page.reload();
    assert.equal(await page.inputValue('#token'), t);
    await screenshot(page, 'auth-streamed');
    assert.deepEqual(consoleErrors(errors), []);
  } finally {
    await context.close();
  }
  const fresh = await openPage(browser, base);
  try {
    assert.equal(await fresh.page.inputValue('#token'), '');
  } finally {
    await fresh.context.close();
  }
});
