// Web client logic: submits an aggregation, follows its SSE stream (with resume), renders sources and notes.
'use strict';

(() => {
  // How each outcome status counts and how it reads (see docs/architecture.md, "Outcomes").
  const STATUS = {
    pending: { kind: 'pending', why: 'waiting for an answer' },
    ok: { kind: 'ok', why: 'answered' },
    REJECTED: { kind: 'rejected', why: 'refused access' },
    TIMEOUT: { kind: 'error', why: 'no answer in time' },
    ERROR: { kind: 'error', why: 'source failed' },
    CONNECTION_CLOSED: { kind: 'error', why: 'connection to the source dropped' },
  };
  // Why the aggregator gave an outcome without calling the source (the outcome event's "reason").
  const REASONS = {
    'circuit open': 'not called: it failed repeatedly, and is tried again after a cool-down',
  };
  const FIELDS = ['patientId', 'delays', 'timeoutMs', 'strategy'];
  const RETRY_BASE_MS = 500;
  const RETRY_CAP_MS = 8000;
  const RETRY_MAX_ATTEMPTS = 12; // consecutive failures without an event before giving up (about 70 s)

  const TOKEN_KEY = 'aggregator.token'; // sessionStorage: this tab only, gone when it closes

  const $ = (id) => document.getElementById(id);
  const el = {
    form: $('request-form'),
    token: $('token'),
    formError: $('form-error'),
    submit: $('submit'),
    results: $('results'),
    heading: $('results-heading'),
    connection: $('connection'),
    busy: $('busy'),
    busyText: $('busy-text'),
    progress: $('progress'),
    banner: $('banner'),
    sourcesBody: document.querySelector('#sources tbody'),
    notes: $('notes'),
    notesBody: document.querySelector('#notes tbody'),
    notesEmpty: $('notes-empty'),
    noteCount: $('note-count'),
    announcer: $('announcer'),
    alertAnnouncer: $('alert-announcer'),
  };

  const API = apiBase();
  let run = null; // the aggregation on screen; a new submission replaces it

  // The token lives in sessionStorage only: not in the form's values, the URL bar or a cookie.
  el.token.value = readToken();
  el.token.addEventListener('input', () => {
    try {
      if (el.token.value.trim()) sessionStorage.setItem(TOKEN_KEY, el.token.value.trim());
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) { /* storage disabled: the field still works for this page */ }
  });

  function readToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (_) {
      return '';
    }
  }

  function token() {
    return el.token.value.trim();
  }

  // The API base comes from ?api=http://host:port, else the page's host on port 8080.
  function apiBase() {
    const param = new URLSearchParams(location.search).get('api');
    if (param) {
      try {
        const u = new URL(param);
        if (u.protocol === 'http:' || u.protocol === 'https:') {
          return (u.origin + u.pathname).replace(/\/+$/, '');
        }
      } catch (_) { /* not a URL: fall back to the default below */ }
    }
    const proto = location.protocol === 'https:' ? 'https:' : 'http:';
    return `${proto}//${location.hostname || 'localhost'}:8080`;
  }

  // ---- announcements (aria-live) ----------------------------------------------------------

  function announce(text, urgent) {
    const region = urgent ? el.alertAnnouncer : el.announcer;
    const p = document.createElement('p');
    p.textContent = text;
    region.appendChild(p);
    while (region.childElementCount > 5) region.firstElementChild.remove();
  }

  // ---- form -------------------------------------------------------------------------------

  function readForm() {
    const body = { patientId: $('patientId').value.trim() };
    const delays = $('delays').value.replace(/\s+/g, '');
    if (delays !== '') body.delays = delays;
    const timeout = $('timeoutMs').value.trim();
    if (timeout !== '') body.timeoutMs = /^-?\d+$/.test(timeout) ? Number(timeout) : timeout;
    const checked = el.form.querySelector('input[name="strategy"]:checked');
    body.strategy = checked ? checked.value : 'SSE';
    return body;
  }

  function clearErrors() {
    el.formError.hidden = true;
    el.formError.textContent = '';
    for (const f of FIELDS) {
      const msg = $(`${f}-error`);
      msg.hidden = true;
      msg.textContent = '';
      for (const input of fieldInputs(f)) input.removeAttribute('aria-invalid');
    }
  }

  function fieldInputs(field) {
    if (field === 'strategy') return Array.from(el.form.querySelectorAll('input[name="strategy"]'));
    return [$(field)];
  }

  function showFieldError(field, message) {
    const msg = $(`${field}-error`);
    msg.textContent = message;
    msg.hidden = false;
    const inputs = fieldInputs(field);
    for (const input of inputs) input.setAttribute('aria-invalid', 'true');
    const target = field === 'strategy'
      ? (el.form.querySelector('input[name="strategy"]:checked') || inputs[0])
      : inputs[0];
    target.focus();
    announce(`${labelOf(field)}: ${message}`, true);
  }

  function labelOf(field) {
    if (field === 'strategy') return 'Strategy';
    const label = el.form.querySelector(`label[for="${field}"]`);
    return label ? label.textContent : field;
  }

  function showFormError(message) {
    el.formError.textContent = message;
    el.formError.hidden = false;
  }

  function describeHttpError(status, data) {
    const detail = data && typeof data.message === 'string' ? ` ${data.message}` : '';
    if (status === 401) {
      return token()
        ? `The aggregator did not accept the access token (it may have expired): sign in again and paste a new one.${detail}`
        : `The aggregator asks for an access token: paste the token from your sign-in in "Access token".${detail}`;
    }
    if (status === 403) return `This access token is not allowed to do that.${detail}`;
    if (status === 413) return 'The request is too large.';
    if (status === 503) return `The aggregator is unavailable right now; try again shortly.${detail}`;
    if (status === 504) return 'The aggregator did not answer in time.';
    if (status === 400) return `The request was not accepted.${detail}`;
    return `The aggregator answered with an error (HTTP ${status}).${detail}`;
  }

  function setBusy(on) {
    el.submit.setAttribute('aria-disabled', on ? 'true' : 'false');
    el.results.setAttribute('aria-busy', on ? 'true' : 'false');
    el.busy.hidden = !on;
  }

  function isBusy() {
    return el.submit.getAttribute('aria-disabled') === 'true';
  }

  el.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (isBusy()) return;
    submit(readForm());
  });

  async function submit(body) {
    clearErrors();
    if (run) run.cancel();
    const r = new Run(body);
    run = r;
    resetResults(r);

    if (r.strategy === 'WAIT_FOR_EVERYONE') {
      el.results.hidden = false;
      setBusy(true);
      setConnection('waiting', 'Waiting');
      r.startTicker();
      announce('Request sent. Waiting for every source to answer.');
    } else {
      el.submit.setAttribute('aria-disabled', 'true');
    }

    let resp;
    let data = null;
    try {
      resp = await fetch(`${API}/aggregate/journals`, {
        method: 'POST',
        headers: authHeaders({ 'Content-Type': 'application/json', Accept: 'application/json' }),
        body: JSON.stringify(body),
        signal: r.abort.signal,
        cache: 'no-store',
      });
      data = await resp.json().catch(() => null);
    } catch (_) {
      if (r !== run) return;
      r.stopTicker();
      setBusy(false);
      el.results.hidden = true;
      showFormError(`Could not reach the aggregator at ${API}. Check that it is running, then try again.`);
      announce('Could not reach the aggregator.', true);
      return;
    }
    if (r !== run) return;
    setBusy(false);

    if (!resp.ok || !data) {
      r.stopTicker();
      el.results.hidden = true;
      if (resp.status === 400 && data && FIELDS.includes(data.field)) {
        showFieldError(data.field, data.message || 'Invalid value.');
      } else {
        const message = describeHttpError(resp.status, data);
        showFormError(message);
        announce(message, true);
      }
      return;
    }

    if (r.strategy === 'WAIT_FOR_EVERYONE') {
      showWaitResult(r, data);
    } else {
      startStream(r, data);
    }
  }

  function authHeaders(headers) {
    const t = token();
    return t ? { ...headers, Authorization: `Bearer ${t}` } : headers;
  }

  // ---- one aggregation --------------------------------------------------------------------

  class Run {
    constructor(body) {
      this.strategy = body.strategy;
      this.patientId = body.patientId;
      this.abort = new AbortController();
      this.startedAt = performance.now();
      this.sources = new Map(); // name -> { status, elapsedMs, row }
      this.notes = new Map(); // note key -> { note, source }
      this.seenEvents = new Set();
      this.lastEventId = 0;
      this.correlationId = null;
      this.es = null;
      this.retryTimer = 0;
      this.attempt = 0;
      this.reconnecting = false;
      this.done = false;
      this.ticker = 0;
    }

    cancel() {
      this.done = true;
      this.abort.abort();
      this.closeStream();
      clearTimeout(this.retryTimer);
      this.stopTicker();
    }

    closeStream() {
      if (this.es) {
        this.es.close();
        this.es = null;
      }
    }

    startTicker() {
      this.stopTicker();
      this.ticker = setInterval(() => tick(this), 250);
    }

    stopTicker() {
      clearInterval(this.ticker);
      this.ticker = 0;
    }
  }

  function resetResults(r) {
    el.heading.textContent = r.patientId ? `Journal of ${r.patientId}` : 'Journal';
    el.sourcesBody.replaceChildren();
    el.notesBody.replaceChildren();
    el.notes.hidden = true;
    el.notesEmpty.hidden = false;
    el.notesEmpty.textContent = 'No notes yet.';
    el.noteCount.textContent = '';
    el.banner.hidden = true;
    el.banner.className = 'banner';
    el.banner.replaceChildren();
    for (const k of ['outcome', 'respondents', 'errors']) delete el.banner.dataset[k];
    el.progress.textContent = '';
    el.busyText.textContent = 'Waiting for every source to answer…';
    setConnection('idle', '');
  }

  function setConnection(state, text) {
    el.connection.dataset.state = state;
    el.connection.textContent = text;
    el.connection.hidden = !text;
  }

  function tick(r) {
    const waited = performance.now() - r.startedAt;
    for (const s of r.sources.values()) {
      if (s.status === 'pending') s.row.querySelector('.time').textContent = `${formatMs(waited)} so far`;
    }
    if (!el.busy.hidden) {
      el.busyText.textContent = `Waiting for every source to answer… ${formatMs(waited)}`;
    }
  }

  function formatMs(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(1)} s`;
  }

  // ---- sources ----------------------------------------------------------------------------

  function addSource(r, name) {
    if (r.sources.has(name)) return r.sources.get(name);
    const row = document.createElement('tr');
    row.dataset.source = name;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name;
    const status = document.createElement('td');
    status.className = 'status';
    const time = document.createElement('td');
    time.className = 'time';
    row.append(th, status, time);
    el.sourcesBody.appendChild(row);
    const s = { status: 'pending', elapsedMs: null, row };
    r.sources.set(name, s);
    paintSource(s);
    return s;
  }

  function paintSource(s) {
    const info = STATUS[s.status] || { kind: 'error', why: 'unexpected status' };
    s.row.dataset.status = s.status;
    s.row.dataset.kind = info.kind;
    const badge = document.createElement('span');
    badge.className = `badge badge-${info.kind}`;
    badge.textContent = s.status;
    const why = document.createElement('span');
    why.className = 'why';
    why.textContent = info.why;
    const parts = [badge];
    if (s.reason) {
      const reason = document.createElement('span');
      reason.className = 'reason';
      reason.textContent = s.reason;
      parts.push(reason);
      why.textContent = REASONS[s.reason] || info.why;
      s.row.dataset.reason = s.reason;
    }
    parts.push(why);
    s.row.querySelector('.status').replaceChildren(...parts);
    s.row.querySelector('.time').textContent = s.status === 'pending' ? '' : formatMs(s.elapsedMs);
  }

  // Records one source's outcome. A source's outcome is final: a repeat is ignored.
  function recordOutcome(r, name, status, elapsedMs, reason) {
    if (typeof name !== 'string' || name === '') return false;
    const s = addSource(r, name);
    if (s.status !== 'pending') return false;
    s.status = typeof status === 'string' ? status : 'ERROR';
    s.reason = typeof reason === 'string' && reason !== '' ? reason : null;
    s.elapsedMs = typeof elapsedMs === 'number' ? elapsedMs : null;
    paintSource(s);
    return true;
  }

  function counts(r) {
    const c = { n: r.sources.size, ok: 0, rejected: 0, failed: 0, pending: 0 };
    for (const s of r.sources.values()) {
      const kind = (STATUS[s.status] || { kind: 'error' }).kind;
      if (kind === 'ok') c.ok++;
      else if (kind === 'rejected') c.rejected++;
      else if (kind === 'pending') c.pending++;
      else c.failed++;
    }
    return c;
  }

  function paintProgress(r) {
    const c = counts(r);
    let text = `${c.ok + c.rejected} of ${c.n} sources answered`;
    const extra = [];
    if (c.rejected) extra.push(`${c.rejected} refused`);
    if (c.failed) extra.push(`${c.failed} failed`);
    if (c.pending) extra.push(`${c.pending} pending`);
    if (extra.length) text += ` (${extra.join(', ')})`;
    el.progress.textContent = text;
  }

  // ---- notes ------------------------------------------------------------------------------

  function addNotes(r, notes, source) {
    if (!Array.isArray(notes)) return 0;
    let added = 0;
    for (const note of notes) {
      if (!note || typeof note !== 'object') continue;
      const key = note.id != null ? `id:${note.id}` : `${source}|${note.date}|${note.note}`;
      if (r.notes.has(key)) continue;
      r.notes.set(key, { note, source, fresh: true });
      added++;
    }
    if (added) paintNotes(r);
    return added;
  }

  function noteTime(note) {
    const t = Date.parse(note.date);
    return Number.isNaN(t) ? -Infinity : t;
  }

  function paintNotes(r) {
    const entries = Array.from(r.notes.values());
    entries.sort((a, b) => (noteTime(b.note) - noteTime(a.note))
      || String(b.note.date).localeCompare(String(a.note.date))
      || String(a.note.id).localeCompare(String(b.note.id)));
    const rows = entries.map(({ note, source, fresh }, i) => {
      const tr = document.createElement('tr');
      tr.dataset.noteId = note.id != null ? String(note.id) : `row-${i}`;
      if (source) tr.dataset.source = source;
      if (fresh) tr.className = 'fresh';
      const date = document.createElement('td');
      date.dataset.label = 'Date';
      const time = document.createElement('time');
      time.dateTime = String(note.date ?? '');
      time.textContent = formatDate(note.date);
      date.appendChild(time);
      tr.append(date,
        cell('Caregiver', note.caregiverId),
        cell('Doctor', note.doctorId),
        cell('Note', note.note, 'note-text'));
      return tr;
    });
    for (const e of entries) e.fresh = false;
    el.notesBody.replaceChildren(...rows);
    el.notes.hidden = rows.length === 0;
    el.notesEmpty.hidden = rows.length !== 0;
    el.noteCount.textContent = `(${rows.length})`;
  }

  function cell(label, value, cls) {
    const td = document.createElement('td');
    td.dataset.label = label;
    if (cls) td.className = cls;
    td.textContent = value == null ? '' : String(value);
    return td;
  }

  // Shows the date as the source wrote it: "YYYY-MM-DD HH:MM" (UTC marked), without time-zone shifts.
  function formatDate(value) {
    const s = String(value ?? '');
    const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}))?/.exec(s);
    if (!m) return s;
    if (!m[2]) return m[1];
    return `${m[1]} ${m[2]}${/Z$/i.test(s) ? ' UTC' : ''}`;
  }

  // ---- summary ----------------------------------------------------------------------------

  function finish(r, summary) {
    r.done = true;
    r.closeStream();
    clearTimeout(r.retryTimer);
    r.stopTicker();
    // Every outcome comes before the summary; a source still pending here had none recorded.
    for (const s of r.sources.values()) {
      if (s.status === 'pending') {
        s.status = 'TIMEOUT';
        paintSource(s);
      }
    }
    paintProgress(r);
    if (!r.notes.size) el.notesEmpty.textContent = 'No notes.';
    const c = counts(r);
    const names = (pred) => Array.from(r.sources.entries()).filter(([, s]) => pred(s)).map(([n]) => n);
    const refused = names((s) => s.status === 'REJECTED');
    const missing = Array.from(r.sources.entries())
      .filter(([, s]) => (STATUS[s.status] || { kind: 'error' }).kind === 'error')
      .map(([n, s]) => `${n} (${s.status}${s.reason ? `, ${s.reason}` : ''})`);
    const errors = typeof summary.errors === 'number' ? summary.errors : c.failed;
    const respondents = typeof summary.respondents === 'number' ? summary.respondents : c.ok;
    const partial = errors > 0 || missing.length > 0;

    const title = document.createElement('strong');
    title.textContent = partial ? 'Partial result.' : 'Complete.';
    const parts = [`${respondents} of ${c.n} sources returned notes; ${r.notes.size} notes in total.`];
    if (missing.length) parts.push(`Missing: ${missing.join(', ')}.`);
    if (refused.length) parts.push(`Refused access: ${refused.join(', ')}.`);
    if (summary.completedBy === 'TIMEOUT') parts.push('The deadline passed before every source answered.');
    if (typeof summary.elapsedMs === 'number') parts.push(`Took ${formatMs(summary.elapsedMs)}.`);
    const detail = document.createElement('span');
    detail.textContent = ` ${parts.join(' ')}`;
    el.banner.replaceChildren(title, detail);
    el.banner.className = `banner ${partial ? 'banner-partial' : 'banner-complete'}`;
    el.banner.dataset.outcome = partial ? 'partial' : 'complete';
    el.banner.dataset.respondents = String(respondents);
    el.banner.dataset.errors = String(errors);
    el.banner.hidden = false;
    announce(el.banner.textContent);
  }

  function fail(r, message, heading = 'Connection lost') {
    r.done = true;
    r.closeStream();
    clearTimeout(r.retryTimer);
    r.stopTicker();
    setConnection('failed', heading);
    const title = document.createElement('strong');
    title.textContent = `${heading}.`;
    const detail = document.createElement('span');
    detail.textContent = ` ${message}`;
    el.banner.replaceChildren(title, detail);
    el.banner.className = 'banner banner-failed';
    el.banner.dataset.outcome = 'failed';
    el.banner.hidden = false;
    announce(el.banner.textContent, true);
  }

  // ---- wait for everyone ------------------------------------------------------------------

  function showWaitResult(r, data) {
    r.correlationId = data.correlationId || null;
    // The answer lists sources in the order they finished; rows keep the sources' own order.
    const sources = (Array.isArray(data.sources) ? data.sources : [])
      .filter((s) => s && typeof s.source === 'string')
      .sort((a, b) => a.source.localeCompare(b.source, 'en', { numeric: true }));
    for (const s of sources) recordOutcome(r, s.source, s.status, s.elapsedMs, s.reason);
    addNotes(r, data.notes, null);
    setConnection('done', 'Answered');
    finish(r, {
      respondents: data.respondents,
      errors: data.errors,
      completedBy: data.completedBy,
      elapsedMs: performance.now() - r.startedAt,
    });
  }

  // ---- SSE with resume --------------------------------------------------------------------

  function startStream(r, data) {
    r.correlationId = data.correlationId;
    let names = Array.isArray(data.sources) ? data.sources.filter((x) => typeof x === 'string') : [];
    if (!names.length && Number.isInteger(data.resources)) {
      names = Array.from({ length: data.resources }, (_, i) => `resource-${i + 1}`);
    }
    el.results.hidden = false;
    for (const name of names) addSource(r, name);
    paintProgress(r);
    setConnection('connecting', 'Connecting…');
    announce(`Request accepted. Waiting for ${names.length} sources.`);
    r.startTicker();
    el.submit.setAttribute('aria-disabled', 'false');
    openStream(r);
  }

  // The stream's URL from the last event seen on. EventSource cannot set Authorization: the
  // gateway takes the token as access_token here (and never logs it); the page's own address
  // never holds it.
  function streamUrl(r) {
    let url = `${API}/aggregate/stream?correlationId=${encodeURIComponent(r.correlationId)}`;
    if (r.lastEventId > 0) url += `&lastEventId=${r.lastEventId}`;
    const t = token();
    if (t) url += `&access_token=${encodeURIComponent(t)}`;
    return url;
  }

  function openStream(r) {
    if (r !== run || r.done) return;
    const es = new EventSource(streamUrl(r));
    r.es = es;
    es.addEventListener('open', () => {
      if (r.es === es && !r.done) markLive(r);
    });
    es.addEventListener('callback', (e) => onEvent(r, es, e, 'callback'));
    es.addEventListener('summary', (e) => onEvent(r, es, e, 'summary'));
    es.addEventListener('aborted', (e) => onAborted(r, es, e));
    es.addEventListener('error', () => {
      if (r.es !== es || r.done) return;
      // Take over from the browser's own retry: resume explicitly from the last event seen.
      r.closeStream();
      refusedOrReconnect(r, streamUrl(r));
    });
  }

  // EventSource hides the status of a refused stream: ask once with fetch (the answer's head is
  // enough, the body is dropped) so that 401 and 403 get their message instead of retries.
  async function refusedOrReconnect(r, url) {
    const ctl = new AbortController();
    let status = 0;
    let data = null;
    try {
      const resp = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal: ctl.signal, cache: 'no-store' });
      status = resp.status;
      if (status === 401 || status === 403) data = await resp.json().catch(() => null);
    } catch (_) {
      status = 0;
    } finally {
      ctl.abort();
    }
    if (r !== run || r.done) return;
    if (status === 401 || status === 403) {
      fail(r, describeHttpError(status, data), status === 401 ? 'Not signed in' : 'Not allowed');
      return;
    }
    scheduleReconnect(r);
  }

  function markLive(r) {
    r.attempt = 0;
    if (r.reconnecting) {
      r.reconnecting = false;
      announce('Connection restored.');
    }
    setConnection('live', 'Live');
  }

  function scheduleReconnect(r) {
    if (r.attempt >= RETRY_MAX_ATTEMPTS) {
      fail(r, 'The aggregator stayed unreachable. Submit the request again to start over.');
      return;
    }
    const delay = Math.min(RETRY_BASE_MS * 2 ** r.attempt, RETRY_CAP_MS);
    r.attempt++;
    if (!r.reconnecting) {
      r.reconnecting = true;
      announce('Connection lost. Reconnecting…', true);
    }
    setConnection('reconnecting', `Reconnecting… (attempt ${r.attempt})`);
    clearTimeout(r.retryTimer);
    r.retryTimer = setTimeout(() => openStream(r), delay);
  }

  // The server ended the stream without a summary: the session is lost (final), or the session
  // store is unreachable for now (resume from the last event once it is back).
  function onAborted(r, es, e) {
    if (r !== run || r.es !== es || r.done) return;
    let d = null;
    try {
      d = JSON.parse(e.data);
    } catch (_) {
      d = null;
    }
    const message = d && typeof d.message === 'string' ? d.message : 'The aggregator ended this request.';
    if (d && d.reason === 'store-unavailable') {
      r.closeStream();
      scheduleReconnect(r);
      return;
    }
    fail(r, message, 'Request aborted');
  }

  function onEvent(r, es, e, type) {
    if (r !== run || r.es !== es || r.done) return;
    const id = Number(e.lastEventId);
    if (Number.isInteger(id) && id > 0) {
      if (r.seenEvents.has(id)) return;
      r.seenEvents.add(id);
      if (id > r.lastEventId) r.lastEventId = id;
    }
    markLive(r);
    let d;
    try {
      d = JSON.parse(e.data);
    } catch (_) {
      return;
    }
    if (!d || typeof d !== 'object') return;
    if (type === 'summary') {
      setConnection('done', 'Finished');
      finish(r, d);
      return;
    }
    const fresh = recordOutcome(r, d.source, d.status, d.elapsedMs, d.reason);
    const added = addNotes(r, d.notes, d.source);
    paintProgress(r);
    if (fresh) {
      const info = STATUS[d.status] || { why: 'unexpected status' };
      const notesText = d.status === 'ok' ? `, ${added} ${added === 1 ? 'note' : 'notes'}` : '';
      const why = typeof d.reason === 'string' ? `${d.reason}, ${REASONS[d.reason] || info.why}` : info.why;
      announce(`${d.source}: ${d.status}, ${why}${notesText}. ${el.progress.textContent}.`);
    }
  }
})();
