// recorderd's dashboard: a snapshot and then every change from /ws/events (docs/protocol.md
// section 9); actions and the finished list through the REST API with the same token. The
// token stays in this tab's sessionStorage and goes only in headers and the first message.
'use strict';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'recorderd.token';
const RUNNING = new Set(['recording', 'interrupted', 'stale']);
const TERMINAL = new Set(['ready', 'failed', 'deleted']);
const PAGE = 20;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  role: null,
  ws: null,
  retry: 0,
  retryTimer: null,
  skew: 0,               // server clock minus ours, in ms
  live: new Map(),       // id -> recording (REST's fields, merged by revision)
  agents: [], devices: [], alerts: [], webhooks: [],
  storage: null,
  sort: { key: 'elapsed', dir: -1 },
  shown: 100,            // active rows drawn; the rest are a click (or a filter) away
  finished: { cursors: [null], page: 0, rows: [], next: null },
  chart: null, history: [[], [], []],
  dirty: false,
  lastRender: 0,
  stats: { messages: 0, bytes: 0, renders: 0, renderMs: 0 },  // for the benchmark (window.dashboardStats)
};
window.dashboardStats = state.stats;

// ---- formatting -------------------------------------------------------------------------

function bytes(n) {
  if (n == null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}
function duration(s) {
  if (s == null || !isFinite(s)) return '';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
  return (h ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + String(sec).padStart(2, '0');
}
function serverNow() { return Date.now() + state.skew; }
function age(iso) {
  if (!iso) return '';
  return duration((serverNow() - Date.parse(iso)) / 1000) + ' ago';
}
function when(iso) { return iso ? new Date(iso).toLocaleString() : ''; }
function who(r) {
  const parts = [];
  if (r.subject) parts.push(r.subject);
  if (r.organizer) parts.push(r.organizer);
  if (r.kind === 'capture' && r.device) parts.push('camera ' + r.device);
  if (r.kind === 'agent' && r.agent_id) parts.push('agent ' + r.agent_id);
  if (!parts.length) parts.push(r.id);
  return parts.join(' · ');
}
function elapsed(r) {
  let s = r.elapsed_seconds || 0;
  if (RUNNING.has(r.state) && r._at) s += (performance.now() - r._at) / 1000;
  return s;
}
function remaining(r) {
  if (r.remaining != null) return 'remaining ' + duration(r.remaining);
  if (r.duration_expected != null) return 'of ' + duration(r.duration_expected);
  return '';
}
function detail(r) {
  if (r.kind === 'capture') return r.current_file ? r.current_file.split('/').pop() : '';
  if (r.kind === 'agent') return (r.agent_status ? r.agent_status + ', ' : '') + (r.last_activity_at ? 'reported ' + age(r.last_activity_at) : 'no report yet');
  return r.last_activity_at ? 'last chunk ' + age(r.last_activity_at) : 'no chunk yet';
}
function canOperate() { return state.role === 'operator' || state.role === 'admin'; }
function isAdmin() { return state.role === 'admin'; }

// ---- REST --------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + state.token };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const message = json && json.error ? json.error.message : (text || res.statusText);
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return json;
}

function banner(message, info) {
  const b = $('banner');
  b.textContent = message;
  b.className = 'banner' + (info ? ' info' : '');
  b.hidden = !message;
}

function confirmAction(text) {
  return new Promise((resolve) => {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    d.returnValue = 'cancel';
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
  });
}

async function stopRecording(r) {
  if (!(await confirmAction(`Stop the recording "${who(r)}"? What was recorded is kept and finalized.`))) return;
  try {
    await api('POST', `/api/recordings/${encodeURIComponent(r.id)}/stop`);
    banner(`Stopped "${who(r)}".`, true);
  } catch (e) { banner(`Could not stop "${who(r)}": ${e.message}`); }
}

async function deleteRecording(r) {
  if (!(await confirmAction(`Delete the recording "${who(r)}" and its files? This cannot be undone.`))) return;
  try {
    await api('DELETE', `/api/recordings/${encodeURIComponent(r.id)}`);
    banner(`Deleted "${who(r)}".`, true);
    loadFinished();
  } catch (e) { banner(`Could not delete "${who(r)}": ${e.message}`); }
}

// ---- the event stream -------------------------------------------------------------------

function setLink(text, cls) {
  const l = $('link');
  l.textContent = text;
  l.className = 'link ' + (cls || '');
}

function connect() {
  clearTimeout(state.retryTimer);
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/events');
  state.ws = ws;
  setLink('connecting…');
  ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: state.token }));
  ws.onmessage = (e) => {
    state.stats.messages++;
    state.stats.bytes += e.data.length;
    const m = JSON.parse(e.data);
    if (m.type === 'snapshot') onSnapshot(m);
    else if (m.type === 'tick') onTick(m);
    else if (m.type === 'notice') onNotice(m.notice);
    else if (m.type === 'error' && m.code === 'unauthenticated') signOut('The token was refused: ' + m.message);
    else if (m.type === 'error') banner('The event stream says: ' + m.message);
  };
  ws.onclose = (e) => {
    if (state.ws !== ws) return;  // replaced or signed out
    state.ws = null;
    if (e.code === 4401) return;  // refused: the error message signed us out
    const wait = Math.min(15, 2 ** state.retry++);
    setLink(`disconnected; reconnecting in ${wait} s`, 'down');
    state.retryTimer = setTimeout(connect, wait * 1000);
  };
}

function onSnapshot(m) {
  sessionStorage.setItem(TOKEN_KEY, state.token);
  state.retry = 0;
  state.role = m.role;
  state.skew = Date.parse(m.server_time) - Date.now();
  state.live.clear();
  for (const r of m.recordings) { r._at = performance.now(); state.live.set(r.id, r); }
  state.agents = m.agents; state.devices = m.devices; state.alerts = m.alerts; state.webhooks = m.webhooks;
  state.storage = m.storage;
  state.history = [[], [], []];
  for (const [t, active, bps] of m.history) {
    state.history[0].push(t / 1000); state.history[1].push(active); state.history[2].push(bps);
  }
  $('sign-in').hidden = true;
  $('board').hidden = false;
  $('sign-out').hidden = false;
  $('who').textContent = `${m.token_name} (${m.role})`;
  $('start').hidden = !canOperate();
  $('webhooks-card').hidden = !isAdmin();
  document.body.dataset.role = m.role;
  setLink('live', 'live');
  banner('');
  renderSide();
  drawChart();
  loadFinished();
  markDirty();
}

function merge(r) {
  const have = state.live.get(r.id);
  if (have && r.revision < have.revision) return false;  // older than what is shown
  if (TERMINAL.has(r.state)) {
    if (have) { state.live.delete(r.id); finishedChanged(); }
    return true;
  }
  r._at = performance.now();
  if (have) Object.assign(have, r);
  else {
    state.live.set(r.id, r);
    if (!r.kind) fetchOne(r.id);  // progress of one the page has not seen in full
  }
  return true;
}

async function fetchOne(id) {
  try { merge(await api('GET', `/api/recordings/${encodeURIComponent(id)}`)); markDirty(); } catch (_) { /* gone */ }
}

function onTick(m) {
  state.storage = m.storage;
  for (const r of m.recordings) merge(r);
  for (const id of m.gone) {
    if (state.live.delete(id)) finishedChanged();
  }
  if (m.agents) state.agents = m.agents;
  if (m.devices) state.devices = m.devices;
  if (m.webhooks) state.webhooks = m.webhooks;
  const h = state.history;
  h[0].push(Date.parse(m.at) / 1000); h[1].push(m.active); h[2].push(m.ingest_bps);
  if (h[0].length > 3600) for (const a of h) a.shift();
  $('ingest').textContent = bytes(Math.round(m.ingest_bps)) + '/s';
  if (state.chart) state.chart.setData(h);
  if (m.agents || m.devices || m.webhooks) renderSide();
  else renderStorage();
  markDirty();
}

function onNotice(n) {
  if (n.type.startsWith('recording.')) {
    merge(n.data);
    if (TERMINAL.has(n.data.state)) finishedChanged();
  } else if (n.type.startsWith('alert.')) {
    state.alerts.unshift(n);
    state.alerts.length = Math.min(state.alerts.length, 50);
    renderSide();
  } else if (n.type.startsWith('storage.')) {
    banner(`Storage is at ${n.data.used_percent.toFixed(1)} % (${n.data.level}).`, n.data.level === 'normal');
  }
  markDirty();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.role = null;
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000);
  clearTimeout(state.retryTimer);
  state.live.clear();
  $('board').hidden = true;
  $('sign-out').hidden = true;
  $('who').textContent = '';
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message || '';
  setLink('not signed in');
  $('token').focus();
}

// ---- rendering -----------------------------------------------------------------------------

function markDirty() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(render);
}

const rows = new Map();  // id -> {tr, cells, stop}
const SORTS = {
  kind: (r) => r.kind || '', who: (r) => who(r).toLowerCase(), state: (r) => r.state,
  elapsed: elapsed, remaining: (r) => (r.remaining != null ? r.remaining : r.duration_expected != null ? r.duration_expected : -1),
  bytes: (r) => r.bytes || 0, chunks: (r) => r.chunks || 0, missing: (r) => r.missing || 0, detail: (r) => r.last_activity_at || '',
};

function activeRows() {
  const text = $('filter').value.trim().toLowerCase();
  const kind = $('filter-kind').value;
  const list = [];
  for (const r of state.live.values()) {
    if (kind && r.kind !== kind) continue;
    if (text && !(`${r.id} ${r.subject || ''} ${r.organizer || ''} ${r.device || ''} ${r.agent_id || ''} ${r.state}`.toLowerCase().includes(text))) continue;
    list.push(r);
  }
  const key = SORTS[state.sort.key], dir = state.sort.dir;
  list.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * dir || (a.id < b.id ? -1 : 1); });
  return list;
}

function setText(cell, text) { if (cell.textContent !== text) cell.textContent = text; }

function makeRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.id = r.id;
  const cells = [];
  for (let i = 0; i < 9; ++i) {
    const td = document.createElement('td');
    if (i === 1) td.className = 'who';
    if (i === 6 || i === 7 || i === 8) td.classList.add('opt');
    tr.appendChild(td);
    cells.push(td);
  }
  const actions = document.createElement('td');
  const stop = document.createElement('button');
  stop.type = 'button';
  stop.className = 'danger stop';
  stop.textContent = 'Stop';
  stop.addEventListener('click', () => { const now = state.live.get(tr.dataset.id); if (now) stopRecording(now); });
  actions.appendChild(stop);
  tr.appendChild(actions);
  return { tr, cells, stop };
}

function render(now) {
  state.dirty = false;
  const started = performance.now();
  const all = activeRows();
  const list = all.length > state.shown ? all.slice(0, state.shown) : all;
  const body = $('active').tBodies[0];
  const seen = new Set();
  let previous = null;
  for (const r of list) {
    let row = rows.get(r.id);
    if (!row) { row = makeRow(r); rows.set(r.id, row); }
    seen.add(r.id);
    const c = row.cells;
    setText(c[0], r.kind || '');
    setText(c[1], who(r));
    setText(c[2], r.state);
    c[2].className = 'state ' + r.state;
    setText(c[3], duration(elapsed(r)));
    setText(c[4], remaining(r));
    setText(c[5], r.kind === 'stream' ? bytes(r.bytes) : '');
    setText(c[6], r.kind === 'stream' ? String(r.chunks) : '');
    setText(c[7], r.kind === 'stream' ? String(r.missing || 0) : '');
    setText(c[8], detail(r));
    const cls = r.state === 'stale' || r.state === 'interrupted' ? r.state : '';
    if (row.tr.className !== cls) row.tr.className = cls;
    row.stop.hidden = !canOperate() || !RUNNING.has(r.state) && r.state !== 'starting';
    // Moved only when out of place: most renders move nothing.
    const expected = previous ? previous.nextSibling : body.firstChild;
    if (expected !== row.tr) body.insertBefore(row.tr, expected);
    previous = row.tr;
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
  }
  $('active-empty').hidden = list.length > 0;
  $('active-more').hidden = all.length <= list.length;
  setText($('active-shown'), `Showing ${list.length} of ${all.length}; filter or sort to find the others.`);
  $('active-count').textContent = String(state.live.size);
  for (const th of $('active').tHead.rows[0].cells) {
    if (th.dataset.sort === state.sort.key) th.setAttribute('aria-sort', state.sort.dir > 0 ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
  state.stats.renders++;
  state.stats.renderMs += performance.now() - started;
}

function renderStorage() {
  const s = state.storage;
  if (!s) return;
  if (s.error) { setText($('storage-text'), 'unknown: ' + s.error); return; }
  const bar = $('storage-bar');
  bar.className = 'bar ' + s.level;
  $('storage-used').style.width = Math.min(100, s.used_percent) + '%';
  $('storage-warn').style.left = s.warn_percent + '%';
  $('storage-block').style.left = s.block_percent + '%';
  bar.setAttribute('aria-label', `storage ${s.used_percent.toFixed(1)} % used; warn at ${s.warn_percent} %, block at ${s.block_percent} %`);
  const level = $('storage-level');
  level.textContent = s.level;
  level.className = 'level ' + s.level;
  setText($('storage-text'), `${bytes(s.used_bytes)} used, ${bytes(s.free_bytes)} free (${s.used_percent.toFixed(1)} %); warn ${s.warn_percent} %, block ${s.block_percent} %`);
}

function list(el, items, make) {
  el.replaceChildren(...items.map((x) => { const li = document.createElement('li'); make(li, x); return li; }));
  if (!items.length) { const li = document.createElement('li'); li.className = 'small'; li.textContent = 'none'; el.appendChild(li); }
}

function renderSide() {
  renderStorage();
  const shownAgents = [...state.agents].sort((a, b) => (a.agent_id < b.agent_id ? -1 : 1)).slice(0, 50);
  setText($('agents-count'), state.agents.length > 50 ? `${state.agents.length} connected; the first 50 by id` : '');
  list($('agents'), shownAgents, (li, a) => {
    li.textContent = `${a.agent_id}: connected ${age(a.connected_at)}` + (a.last_message_at ? `, last message ${age(a.last_message_at)}` : '') +
      (a.recording_id ? ` — recording "${a.subject}" (${a.recording_state})` : '');
  });
  list($('devices'), state.devices, (li, d) => { li.textContent = `${d.name} (${d.source}): ${d.recording ? 'recording' : 'free'}`; });
  list($('alerts'), state.alerts, (li, n) => {
    li.className = n.data.severity;
    li.textContent = `${when(n.timestamp)} ${n.data.severity}: ${n.data.message}`;
  });
  const failing = state.webhooks.filter((h) => h.last_failure_at || !h.enabled || h.gave_up)
    .sort((a, b) => (b.last_failure_at || '').localeCompare(a.last_failure_at || ''));  // newest first
  list($('webhooks'), failing, (li, h) => {
    li.textContent = `${h.name}: ${h.enabled ? '' : 'disabled (' + (h.disabled_reason || '') + '), '}${h.pending ?? 0} pending, ` +
      `failed attempts ${h.failed_attempts}, given up ${h.gave_up}` + (h.last_error ? `; last error ${when(h.last_failure_at)}: ${h.last_error}` : '');
  });
  const devices = document.querySelector('#start-capture select');
  const agents = document.querySelector('#start-agent select');
  fillSelect(devices, state.devices.filter((d) => !d.recording).map((d) => d.name));
  fillSelect(agents, state.agents.filter((a) => !a.recording_id).map((a) => a.agent_id));
}

function fillSelect(select, values) {
  const keep = select.value;
  if ([...select.options].map((o) => o.value).join('\n') === values.join('\n')) return;
  select.replaceChildren(...values.map((v) => new Option(v, v)));
  if (values.includes(keep)) select.value = keep;
}

function drawChart() {
  const el = $('chart');
  if (typeof uPlot === 'undefined') return;
  if (state.chart) { state.chart.setData(state.history); return; }
  const width = Math.max(200, el.clientWidth || 400);
  state.chart = new uPlot({
    width, height: 120,
    legend: { show: true },
    scales: { x: { time: true }, bps: {} },
    series: [
      {},
      { label: 'active', stroke: '#0b5cad', width: 2, scale: 'y' },
      { label: 'ingest B/s', stroke: '#1d6b36', width: 1.5, scale: 'bps', value: (u, v) => (v == null ? '' : bytes(Math.round(v)) + '/s') },
    ],
    axes: [{}, { scale: 'y' }, { scale: 'bps', side: 1, values: (u, vals) => vals.map((v) => bytes(v)), size: 70 }],
  }, state.history, el);
  new ResizeObserver(() => state.chart.setSize({ width: Math.max(200, el.clientWidth), height: 120 })).observe(el);
}

// ---- finished recordings -------------------------------------------------------------------

let finishedTimer = null;
function finishedChanged() {
  if (state.finished.page !== 0) return;  // an older page stays as the reader left it
  clearTimeout(finishedTimer);
  finishedTimer = setTimeout(loadFinished, 300);
}

async function loadFinished() {
  const f = state.finished;
  const cursor = f.cursors[f.page];
  try {
    const res = await api('GET', `/api/recordings?state=finished&limit=${PAGE}` + (cursor ? `&cursor=${cursor}` : ''));
    f.rows = res.recordings;
    f.next = res.next_cursor;
    renderFinished();
  } catch (e) { banner('Could not list finished recordings: ' + e.message); }
}

function playable(r) {
  const file = (r.files || []).find((x) => x.signed_url && r.signed_url && x.signed_url === r.signed_url) || null;
  const name = file ? file.name : '';
  const type = name.endsWith('.webm') ? 'video/webm' : name.endsWith('.mp4') ? 'video/mp4' : name.endsWith('.wav') ? 'audio/wav' :
    name.endsWith('.ogg') ? 'audio/ogg' : name.endsWith('.mkv') ? 'video/x-matroska' : '';
  return type && $('player-video').canPlayType(type) ? type : '';
}

function renderFinished() {
  const f = state.finished;
  const body = $('finished').tBodies[0];
  body.replaceChildren(...f.rows.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.id = r.id;
    if (r.state === 'failed') tr.className = 'failed';
    const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; };
    cell(when(r.ended_at || r.finalized_at));
    cell(r.kind);
    cell(who(r), 'who');
    cell(r.outcome);
    cell(r.stop_reason);
    cell(duration(r.duration_seconds));
    cell(bytes(r.file_size_bytes));
    const file = cell('');
    if (r.signed_url) {
      const a = document.createElement('a');
      a.href = r.signed_url;
      a.textContent = (r.files.find((x) => x.signed_url === r.signed_url) || { name: 'download' }).name;
      a.setAttribute('download', '');
      a.className = 'download';
      file.appendChild(a);
    } else if (r.error) file.textContent = r.error;
    const actions = cell('');
    if (r.signed_url && playable(r)) {
      const play = document.createElement('button');
      play.type = 'button'; play.className = 'play'; play.textContent = 'Play';
      play.addEventListener('click', () => openPlayer(r));
      actions.appendChild(play);
    }
    if (isAdmin()) {
      const del = document.createElement('button');
      del.type = 'button'; del.className = 'danger delete'; del.textContent = 'Delete';
      del.addEventListener('click', () => deleteRecording(r));
      actions.append(' ', del);
    }
    return tr;
  }));
  if (!f.rows.length) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 9; td.className = 'small'; td.textContent = 'No finished recordings.';
    tr.appendChild(td); body.appendChild(tr);
  }
  $('finished-newer').disabled = f.page === 0;
  $('finished-older').disabled = !f.next;
}

function openPlayer(r) {
  const v = $('player-video');
  $('player-title').textContent = who(r);
  v.src = r.signed_url;
  $('player').hidden = false;
  v.play().catch(() => { /* the reader presses play */ });
}

// ---- start -----------------------------------------------------------------------------------

function formObject(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) if (v !== '') out[k] = v;
  return out;
}

async function start(body, what) {
  try {
    const r = await api('POST', '/api/recordings', body);
    banner(`Started ${what}: ${who(r)}.`, true);
    merge(r);
    markDirty();
  } catch (e) { banner(`Could not start ${what}: ${e.message}`); }
}

// ---- wiring ---------------------------------------------------------------------------------

function init() {
  $('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    $('token').value = '';
    $('sign-in-error').textContent = '';
    if (state.ws) { const old = state.ws; state.ws = null; old.close(1000); }
    connect();
  });
  $('sign-out').addEventListener('click', () => signOut(''));
  $('filter').addEventListener('input', markDirty);
  $('show-more').addEventListener('click', () => { state.shown += 100; markDirty(); });
  $('filter-kind').addEventListener('change', markDirty);
  for (const th of $('active').tHead.rows[0].cells) {
    if (!th.dataset.sort) continue;
    th.addEventListener('click', () => {
      state.sort = { key: th.dataset.sort, dir: state.sort.key === th.dataset.sort ? -state.sort.dir : 1 };
      markDirty();
    });
  }
  $('finished-older').addEventListener('click', () => {
    const f = state.finished;
    if (!f.next) return;
    f.cursors[f.page + 1] = f.next;
    f.page++;
    loadFinished();
  });
  $('finished-newer').addEventListener('click', () => {
    const f = state.finished;
    if (f.page === 0) return;
    f.page--;
    loadFinished();
  });
  $('player-close').addEventListener('click', () => { const v = $('player-video'); v.pause(); v.removeAttribute('src'); v.load(); $('player').hidden = true; });
  $('start-capture').addEventListener('submit', (e) => {
    e.preventDefault();
    const o = formObject(e.target);
    const body = { kind: 'capture', device: o.device };
    if (o.duration_seconds) body.duration_seconds = Number(o.duration_seconds);
    start(body, 'camera ' + o.device);
  });
  $('start-agent').addEventListener('submit', (e) => {
    e.preventDefault();
    const o = formObject(e.target);
    const body = { kind: 'agent', agent_id: o.agent_id, subject: o.subject, organizer: o.organizer, start_time: new Date().toISOString() };
    if (o.duration_expected) body.duration_expected = Number(o.duration_expected);
    start(body, 'agent ' + o.agent_id);
  });
  setInterval(() => { if (state.role) { markDirty(); renderSide(); } }, 1000);  // ages and elapsed times move on
  if (state.token) connect();
  else signOut('');
}

init();
