// End-to-end tests of the web client against the real stack, in headless Chromium.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  consoleErrors, fillForm, launchBrowser, openPage, readResults, screenshot, startStack, stopStack,
  waitForSummary, waitUntil,
} from './harness.mjs';

const ERROR_STATUSES = new Set(['TIMEOUT', 'ERROR', 'CONNECTION_CLOSED']);

// The scenario table (3 resources, 3 notes each). Rows marked "scaled" keep the semantics of the
// literal row with shorter times; "literal" runs the row as the reference system states it.
const SCENARIOS = [
  { name: 'all-answer', delays: '1000,2000,3000', timeoutMs: 10000, statuses: ['ok', 'ok', 'ok'], respondents: 3, errors: 0, notes: 9 },
  { name: 'all-answer-at-once', delays: '0,0,0', timeoutMs: 10000, statuses: ['ok', 'ok', 'ok'], respondents: 3, errors: 0, notes: 9 },
  { name: 'one-refuses', delays: '-1,0,0', timeoutMs: 10000, statuses: ['REJECTED', 'ok', 'ok'], respondents: 2, errors: 0, notes: 6 },
  { name: 'all-refuse', delays: '-1,-1,-1', timeoutMs: 10000, statuses: ['REJECTED', 'REJECTED', 'REJECTED'], respondents: 0, errors: 0, notes: 0 },
  { name: 'partial-result', delays: '1000,2000,5000', timeoutMs: 3000, statuses: ['ok', 'ok', 'TIMEOUT'], respondents: 2, errors: 1, notes: 6, scaled: '1000,2000,15000 / 10000' },
  { name: 'all-time-out', delays: '5000,5000,5000', timeoutMs: 2000, statuses: ['TIMEOUT', 'TIMEOUT', 'TIMEOUT'], respondents: 0, errors: 3, notes: 0, scaled: '15000,15000,15000 / 10000' },
  { name: 'partial-result-literal', delays: '1000,2000,15000', timeoutMs: 10000, statuses: ['ok', 'ok', 'TIMEOUT'], respondents: 2, errors: 1, notes: 6 },
  { name: 'all-time-out-literal', delays: '15000,15000,15000', timeoutMs: 10000, statuses: ['TIMEOUT', 'TIMEOUT', 'TIMEOUT'], respondents: 0, errors: 3, notes: 0 },
  { name: 'error-and-dropped-connection', delays: '-2,-3,0', timeoutMs: 10000, statuses: ['ERROR', 'CONNECTION_CLOSED', 'ok'], respondents: 1, errors: 2, notes: 3 },
];

const SOURCES = ['resource-1', 'resource-2', 'resource-3'];

let stack;
let browser;
let base; // the page URL with ?api=

before(async () => {
  stack = await startStack();
  browser = await launchBrowser();
  base = `${stack.info.web.replace(/\/+$/, '')}/?api=${encodeURIComponent(stack.info.gateways[0])}`;
}, { timeout: 300000 });

after(async () => {
  if (browser) await browser.close();
  await stopStack(stack);
}, { timeout: 60000 });

// Checks what the page shows once the summary is in, against one scenario row.
function assertOutcome(shown, row) {
  assert.deepEqual(shown.sources.map((s) => s.source), SOURCES, 'one status row per source, in order');
  assert.deepEqual(shown.sources.map((s) => s.status), row.statuses, 'status of each source');
  for (const s of shown.sources) assert.match(s.time, /\d/, `${s.source} shows the time it took`);

  assert.equal(shown.notes.length, row.notes, 'number of note rows');
  assert.equal(new Set(shown.notes.map((n) => n.id)).size, shown.notes.length, 'no duplicate note rows');
  const times = shown.notes.map((n) => Date.parse(n.date));
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i - 1] >= times[i], `notes newest first: ${shown.notes[i - 1].date} before ${shown.notes[i].date}`);
  }
  for (const n of shown.notes) {
    assert.equal(n.cells.length, 4, 'date, caregiver, doctor, note');
    assert.ok(n.cells.every((c) => c !== ''), `every note cell is filled: ${JSON.stringify(n.cells)}`);
  }
  if (row.notes) assert.equal(shown.noteCount, `(${row.notes})`);

  const answered = row.statuses.filter((s) => s === 'ok' || s === 'REJECTED').length;
  assert.match(shown.progress, new RegExp(`^${answered} of 3 sources answered`), 'progress line');
  assert.ok(shown.banner, 'summary banner is shown');
  assert.equal(shown.banner.respondents, row.respondents, 'respondents');
  assert.equal(shown.banner.errors, row.errors, 'errors');
  const missing = SOURCES.filter((_, i) => ERROR_STATUSES.has(row.statuses[i]));
  if (missing.length) {
    assert.equal(shown.banner.outcome, 'partial');
    assert.match(shown.banner.text, /^Partial result\./);
    for (const m of missing) assert.ok(shown.banner.text.includes(m), `banner names missing ${m}: ${shown.banner.text}`);
  } else {
    assert.equal(shown.banner.outcome, 'complete');
    assert.match(shown.banner.text, /^Complete\./);
  }
}

// Records each distinct state of the results panel (statuses | note rows | progress line) in window.snapshots.
function recordSnapshots(page) {
  return page.evaluate(() => {
    window.snapshots = [];
    const take = () => {
      const rows = document.querySelectorAll('#sources tbody tr');
      if (!rows.length) return;
      const state = `${Array.from(rows).map((tr) => tr.dataset.status).join()}|${document.querySelectorAll('#notes tbody tr').length}|${document.getElementById('progress').textContent}`;
      if (window.snapshots[window.snapshots.length - 1] !== state) window.snapshots.push(state);
    };
    new MutationObserver(take).observe(document.getElementById('results'), { attributes: true, childList: true, subtree: true, characterData: true });
  });
}

async function assertPrivate(page, patientId) {
  assert.ok(!(await page.title()).includes(patientId), 'patient id not in the title');
  assert.ok(!page.url().includes(patientId), 'patient id not in the URL');
}

describe('Content-Security-Policy', () => {
  test('the page comes with its security headers and runs a session without a violation', { timeout: 60000 }, async () => {
    const { page, context, errors, response } = await openPage(browser, base);
    try {
      const h = response.headers();
      assert.match(h['content-security-policy'], /^default-src 'none'; script-src 'self'; style-src 'self';/);
      assert.ok(h['content-security-policy'].includes(` ${stack.info.gateways[0]}`), 'connect-src names the gateway');
      assert.match(h['content-security-policy'], /frame-ancestors 'none'/);
      assert.equal(h['x-content-type-options'], 'nosniff');
      assert.equal(h['x-frame-options'], 'DENY');
      assert.equal(h['referrer-policy'], 'no-referrer');
      await fillForm(page, { patientId: 'patient-csp', delays: '0,0,0', timeoutMs: 10000, strategy: 'SSE' });
      await page.click('#submit');
      await waitForSummary(page, 30000);
      assert.equal((await readResults(page)).notes.length, 9, 'the stream came through connect-src');
      assert.deepEqual(consoleErrors(errors, () => true), [], 'no CSP violation, whatever else is allowed');
    } finally {
      await context.close();
    }
  });

  // The check's own test: what the policy blocks is reported, and consoleErrors never lets it pass.
  test('an inline script and a call to an origin not in connect-src are blocked and reported', { timeout: 60000 }, async () => {
    const { page, context, errors } = await openPage(browser, base);
    try {
      await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = 'window.__injected = 1;';
        document.head.appendChild(s);
        fetch('http://192.0.2.1:9/x').catch(() => {});
      });
      // Both reports arrive asynchronously: poll for them with a deadline (the asserts say what is missing).
      const deadline = Date.now() + 10000;
      while (errors.filter((e) => e.csp && e.text.startsWith('CSP violation')).length < 2 && Date.now() < deadline) {
        await page.waitForTimeout(50);
      }
      assert.equal(await page.evaluate(() => window.__injected), undefined, 'the inline script did not run');
      const reported = consoleErrors(errors, () => true).filter((t) => t.startsWith('CSP violation'));
      assert.ok(reported.some((t) => t.startsWith('CSP violation: script-src-elem blocked inline')), reported.join('; '));
      assert.ok(reported.some((t) => t.startsWith('CSP violation: connect-src blocked http://192.0.2.1:9')), reported.join('; '));
    } finally {
      await context.close();
    }
  });
});

describe('SSE strategy: scenario table', () => {
  for (const row of SCENARIOS) {
    const label = `${row.delays} / ${row.timeoutMs} ms -> ${row.respondents}/${row.errors}/${row.notes}${row.scaled ? ` (scaled ${row.scaled})` : ''}`;
    test(label, { timeout: row.timeoutMs + 60000 }, async () => {
      const { page, context, errors } = await openPage(browser, base);
      try {
        const patientId = `patient-${row.name}`;
        await fillForm(page, { patientId, delays: row.delays, timeoutMs: row.timeoutMs, strategy: 'SSE' });
        await recordSnapshots(page);
        await page.click('#submit');

        // Every source starts pending.
        await waitUntil(page, 'three status rows', () => document.querySelectorAll('#sources tbody tr').length === 3, undefined, 15000);
        if (row.name === 'all-answer') {
          await waitUntil(page, 'some sources answered, some pending', () => {
            const st = Array.from(document.querySelectorAll('#sources tbody tr')).map((tr) => tr.dataset.status);
            return st.includes('ok') && st.includes('pending');
          }, undefined, 15000);
          await screenshot(page, 'sse-in-progress');
        }
        await waitForSummary(page, row.timeoutMs + 30000);
        const seen = await page.evaluate(() => window.snapshots);
        assert.equal(seen[0], 'pending,pending,pending|0|0 of 3 sources answered (3 pending)', 'every source starts pending');
        if (row.name === 'all-answer') {
          // Live: each source shows up as it answers, with its notes, before the others.
          for (const state of ['ok,pending,pending|3|1 of 3 sources answered (2 pending)',
            'ok,ok,pending|6|2 of 3 sources answered (1 pending)', 'ok,ok,ok|9|3 of 3 sources answered']) {
            assert.ok(seen.includes(state), `the page went through ${state}; it showed ${JSON.stringify(seen)}`);
          }
        }
        const shown = await readResults(page);
        assertOutcome(shown, row, patientId);
        assert.equal(shown.connection, 'done', 'stream closed after the summary');
        await assertPrivate(page, patientId);
        await screenshot(page, row.name === 'partial-result' ? 'partial-result' : `sse-${row.name}`);
        assert.deepEqual(consoleErrors(errors), [], 'no console errors');
      } finally {
        await context.close();
      }
    });
  }
});

describe('Wait for everyone', () => {
  const rows = SCENARIOS.filter((r) => ['all-answer', 'one-refuses', 'partial-result'].includes(r.name));
  for (const row of rows) {
    test(`${row.delays} / ${row.timeoutMs} ms -> ${row.respondents}/${row.errors}/${row.notes}`, { timeout: row.timeoutMs + 60000 }, async () => {
      const { page, context, errors } = await openPage(browser, base);
      try {
        const patientId = `patient-wfe-${row.name}`;
        await fillForm(page, { patientId, delays: row.delays, timeoutMs: row.timeoutMs, strategy: 'WAIT_FOR_EVERYONE' });
        // Records whether the busy state was shown, however briefly (a fast answer may end it within a frame).
        await page.evaluate(() => {
          const busy = document.getElementById('busy');
          const seen = () => {
            if (!busy.hidden && document.getElementById('results').getAttribute('aria-busy') === 'true'
              && document.getElementById('submit').getAttribute('aria-disabled') === 'true') window.sawBusy = true;
          };
          new MutationObserver(seen).observe(document.body, { attributes: true, subtree: true });
        });
        await page.click('#submit');
        if (row.name === 'all-answer') {
          await waitUntil(page, 'the busy state', () => window.sawBusy === true && !document.getElementById('busy').hidden, undefined, 5000);
          await screenshot(page, 'wfe-busy');
        }
        await waitForSummary(page, row.timeoutMs + 30000);
        assert.equal(await page.evaluate(() => window.sawBusy), true, 'a busy state was shown until the answer arrived');
        const shown = await readResults(page);
        assertOutcome(shown, row, patientId);
        assert.equal(await page.getAttribute('#results', 'aria-busy'), 'false');
        assert.equal(await page.isHidden('#busy'), true);
        await screenshot(page, `wfe-${row.name}`);
        assert.deepEqual(consoleErrors(errors), [], 'no console errors');
      } finally {
        await context.close();
      }
    });
  }
});

describe('Validation errors next to their field', () => {
  const cases = [
    { name: 'empty patient id', form: { patientId: '', delays: '0,0,0', timeoutMs: 10000 }, field: 'patientId' },
    { name: 'timeout 0', form: { patientId: 'patient-v', delays: '0,0,0', timeoutMs: 0 }, field: 'timeoutMs' },
    { name: 'too many delays', form: { patientId: 'patient-v', delays: '0,0,0,0', timeoutMs: 10000 }, field: 'delays' },
  ];
  for (const c of cases) {
    test(c.name, { timeout: 60000 }, async () => {
      const { page, context, errors } = await openPage(browser, base);
      try {
        await fillForm(page, { ...c.form, strategy: 'SSE' });
        await page.click('#submit');
        const msg = page.locator(`#${c.field}-error`);
        await msg.waitFor({ state: 'visible', timeout: 15000 });
        assert.notEqual((await msg.textContent()).trim(), '', 'the API message is shown');
        const input = c.field === 'strategy' ? '#strategy-sse' : `#${c.field}`;
        assert.equal(await page.getAttribute(input, 'aria-invalid'), 'true');
        assert.equal(await page.evaluate((f) => document.activeElement && document.activeElement.id === f, c.field), true,
          'focus moves to the field');
        for (const other of ['patientId', 'delays', 'timeoutMs', 'strategy'].filter((f) => f !== c.field)) {
          assert.equal(await page.isHidden(`#${other}-error`), true, `no error shown at ${other}`);
        }
        assert.equal(await page.isHidden('#results'), true, 'no results panel for a rejected request');
        await screenshot(page, `validation-${c.field}`);

        // Correcting the field and submitting again clears the message and runs the aggregation.
        await fillForm(page, { patientId: 'patient-v', delays: '0,0,0', timeoutMs: 10000, strategy: 'SSE' });
        await page.click('#submit');
        await waitForSummary(page, 30000);
        assert.equal(await page.isHidden(`#${c.field}-error`), true);
        assert.equal(await page.getAttribute(input, 'aria-invalid'), null);
        assert.deepEqual(consoleErrors(errors, (e) => isRejectedPost(e)), [], 'no console errors');
      } finally {
        await context.close();
      }
    });
  }
});

// Chromium logs "Failed to load resource: ... 400" for the rejected POST itself: that is the case under test.
function isRejectedPost(e) {
  return /Failed to load resource: the server responded with a status of 400/.test(e.text)
    && /\/aggregate\/journals$/.test(e.url);
}

test('several aggregations in a row, keyboard only, without reloading', { timeout: 120000 }, async () => {
  const { page, context, errors } = await openPage(browser, base);
  try {
    // Keyboard: the skip link comes first, then the patient id field.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'patientId');
    await page.keyboard.type('patient-kbd');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'delays');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('0,0,0');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'timeoutMs');
    await page.keyboard.press('Enter');
    await waitForSummary(page, 30000);
    let shown = await readResults(page);
    assertOutcome(shown, SCENARIOS[1], 'patient-kbd');

    // Second run, same page: everyone refuses. Nothing of the first run may remain.
    await page.focus('#delays');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('-1,-1,-1');
    await page.keyboard.press('Enter');
    await waitUntil(page, 'the second run', () => {
      const b = document.getElementById('banner');
      return !b.hidden && b.dataset.respondents === '0';
    }, undefined, 30000);
    shown = await readResults(page);
    assertOutcome(shown, SCENARIOS[3], 'patient-kbd');

    // Third run: switch strategy with the arrow keys, then submit with Space on the button.
    await page.focus('#strategy-sse');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.isChecked('#strategy-wfe'), true);
    await page.focus('#delays');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('-1,0,0');
    await page.focus('#submit');
    await page.keyboard.press('Space');
    await waitUntil(page, 'the third run', () => {
      const b = document.getElementById('banner');
      return !b.hidden && b.dataset.respondents === '2';
    }, undefined, 30000);
    shown = await readResults(page);
    assertOutcome(shown, SCENARIOS[2], 'patient-kbd');

    // Status changes were announced through aria-live.
    const announced = await page.evaluate(() => document.getElementById('announcer').textContent);
    assert.match(announced, /Complete\./);
    assert.equal(await page.getAttribute('#announcer', 'aria-live'), 'polite');
    assert.deepEqual(consoleErrors(errors), [], 'no console errors');
  } finally {
    await context.close();
  }
});

test('every input has a label; fits a 375 px phone screen and a desktop', { timeout: 60000 }, async () => {
  for (const [name, viewport] of [['phone-375', { width: 375, height: 812 }], ['desktop-1280', { width: 1280, height: 900 }]]) {
    const { page, context, errors } = await openPage(browser, base, viewport);
    try {
      const unlabeled = await page.evaluate(() => Array.from(document.querySelectorAll('input, select, textarea, button'))
        .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label') && !(c.tagName === 'BUTTON' && c.textContent.trim()))
        .map((c) => c.id || c.name));
      assert.deepEqual(unlabeled, [], 'controls without a label');
      await fillForm(page, { patientId: 'patient-layout', delays: '-1,0,0', timeoutMs: 10000, strategy: 'SSE' });
      await page.click('#submit');
      await waitForSummary(page, 30000);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling at ${viewport.width} px (overflow ${overflow} px)`);
      await screenshot(page, `layout-${name}`);
      assert.deepEqual(consoleErrors(errors), [], 'no console errors');
    } finally {
      await context.close();
    }
  }
});

test('the stream drops mid-way: reconnecting, resume with Last-Event-ID, no duplicate rows', { timeout: 120000 }, async () => {
  const { page, context, errors } = await openPage(browser, base);
  try {
    const streams = [];
    page.on('request', (req) => { if (req.url().includes('/aggregate/stream?')) streams.push(new URL(req.url())); });
    await fillForm(page, { patientId: 'patient-reconnect', delays: '1000,4000,6000', timeoutMs: 10000, strategy: 'SSE' });
    await page.click('#submit');
    await waitUntil(page, 'the first source answered', () => {
      const st = Array.from(document.querySelectorAll('#sources tbody tr')).map((tr) => tr.dataset.status);
      return st.join() === 'ok,pending,pending';
    }, undefined, 15000);

    process.kill(stack.info.pids['gateway-0'], 'SIGKILL');
    await waitUntil(page, '"reconnecting"', () => document.getElementById('connection').dataset.state === 'reconnecting'
      && /reconnecting/i.test(document.getElementById('connection').textContent), undefined, 10000);
    await screenshot(page, 'sse-reconnecting');

    await waitUntil(page, 'live again', () => ['live', 'done'].includes(document.getElementById('connection').dataset.state),
      undefined, 30000);
    await waitForSummary(page, 40000);
    const shown = await readResults(page);
    assertOutcome(shown, SCENARIOS[0], 'patient-reconnect');
    assert.equal(shown.sources.length, 3, 'three status rows');
    assert.equal(new Set(shown.notes.map((n) => n.id)).size, 9, 'exactly 9 unique note rows');
    assert.equal(streams[0].searchParams.get('lastEventId'), null, 'the first stream starts from the beginning');
    const resumed = streams.slice(1).map((u) => Number(u.searchParams.get('lastEventId')));
    assert.ok(resumed.length >= 1 && resumed.every((id) => id >= 1), `reconnects resume after the last event seen: ${JSON.stringify(resumed)}`);
    await screenshot(page, 'sse-reconnected');
    // While the gateway is down, Chromium logs the refused or broken stream connection; nothing else may appear.
    const networkNoise = (e) => /\/aggregate\/stream\?/.test(e.url)
      && /net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|INCOMPLETE_CHUNKED_ENCODING|EMPTY_RESPONSE|CONNECTION_CLOSED)|Failed to load resource/.test(e.text);
    assert.deepEqual(consoleErrors(errors, networkNoise), [], 'no console errors other than the dropped stream');
  } finally {
    await context.close();
  }
});

// The circuit breaker (the worker's BREAKER_FAILURES, 5 by default): sessions in which resource-3
// fails (500) open its circuit; an aggregation in the page then shows resource-3 as ERROR marked
// "circuit open" (it was not called), through both strategies. Afterwards the test waits for the
// cool-down and a probe that closes the circuit again, leaving resource-3 as it found it.
async function aggregateDirect(delays) {
  const r = await fetch(`${stack.info.gateways[0].replace(/\/+$/, '')}/aggregate/journals`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ patientId: 'patient-breaker', delays, timeoutMs: 10000, strategy: 'WAIT_FOR_EVERYONE' }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).sources.find((s) => s.source === 'resource-3');
}

test('a source whose circuit is open shows ERROR, "circuit open"', { timeout: 120000 }, async () => {
  let opened = false;
  for (let i = 0; i < 12 && !opened; i++) {
    const s = await aggregateDirect('0,0,-2');
    assert.equal(s.status, 'ERROR');
    opened = s.reason === 'circuit open';
  }
  assert.ok(opened, 'the circuit of resource-3 opened');
  try {
    for (const strategy of ['SSE', 'WAIT_FOR_EVERYONE']) {
      const { page, context, errors } = await openPage(browser, base);
      try {
        await fillForm(page, { patientId: 'patient-breaker', delays: '0,0,0', timeoutMs: 10000, strategy });
        await page.click('#submit');
        await waitForSummary(page, 30000);
        const row = await page.evaluate(() => {
          const tr = document.querySelector('#sources tbody tr[data-source="resource-3"]');
          return { status: tr.dataset.status, reason: tr.dataset.reason, tag: tr.querySelector('.reason')?.textContent, why: tr.querySelector('.why').textContent };
        });
        assert.equal(row.status, 'ERROR');
        assert.equal(row.reason, 'circuit open');
        assert.equal(row.tag, 'circuit open', 'the row shows "circuit open" next to ERROR');
        assert.match(row.why, /not called/);
        const others = await readResults(page);
        assert.deepEqual(others.sources.map((s) => s.status), ['ok', 'ok', 'ERROR']);
        await screenshot(page, `circuit-open-${strategy.toLowerCase()}`);
        assert.deepEqual(consoleErrors(errors), [], 'no console errors');
      } finally {
        await context.close();
      }
    }
  } finally {
    // After the cool-down one probe closes the circuit: poll until resource-3 answers again.
    const end = Date.now() + 60000;
    let s;
    do {
      s = await aggregateDirect('0,0,0');
      if (s.status !== 'ok') await new Promise((resolve) => { setTimeout(resolve, 500); });
    } while (s.status !== 'ok' && Date.now() < end);
    assert.equal(s.status, 'ok', 'the circuit of resource-3 closed again');
  }
});
