// wasp dashboard: a page over the HTTP API, nothing more. Every call goes
// to the same routes a client uses, with the API key from this tab's
// session storage (asked for on the first 401). The event stream is read
// with fetch() rather than EventSource, which cannot send the key in a
// header. Text from WhatsApp (names, messages) is only ever set as
// textContent, never parsed as HTML.
'use strict';

(() => {
  const KEY_STORE = 'wasp.apiKey';
  const MAX_EVENTS = 100;
  const LIFECYCLE = new Set(['qr', 'pair_code', 'paired', 'connected', 'disconnected',
    'reconnecting', 'logged_out', 'stopped']);
  // The status an event implies, shown at once; the session is fetched
  // again right after, and that answer has the last word.
  const IMPLIED = { qr: 'qr', paired: 'connecting', connected: 'connected',
    disconnected: 'reconnecting', reconnecting: 'reconnecting', logged_out: 'logged_out',
    stopped: 'stopped' };

  const state = {
    sessions: new Map(),      // id -> SessionInfo
    rows: new Map(),          // id -> <li>
    selected: null,
    events: [],
    pushNames: new Map(),     // id -> the account's push name, seen on its own messages
    qrUrl: null,
    qrExpires: 0,
    stream: null,             // AbortController of the event stream
    locked: false,            // waiting for an API key
  };

  const $ = (id) => document.getElementById(id);

  class Unauthorized extends Error {}

  function apiKey() {
    return sessionStorage.getItem(KEY_STORE);
  }

  function headers(extra) {
    const h = Object.assign({}, extra);
    const key = apiKey();
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
  }

  async function api(method, path, body) {
    const init = { method, headers: headers() };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (res.status === 401) {
      askForKey(apiKey() ? 'That key was refused.' : '');
      throw new Unauthorized();
    }
    return res;
  }

  async function readJson(res) {
    try {
      return await res.json();
    } catch (_) {
      return null;
    }
  }

  async function failure(res) {
    const body = await readJson(res);
    return body && body.message ? `${body.error}: ${body.message}` : `HTTP ${res.status}`;
  }

  function sessionPath(id, rest) {
    return `/v1/sessions/${encodeURIComponent(id)}${rest || ''}`;
  }

  // ---- API key ----------------------------------------------------------

  function askForKey(message) {
    state.locked = true;
    if (state.stream) state.stream.abort();
    $('key-panel').hidden = false;
    $('key-error').textContent = message || '';
    $('key-input').focus();
    setLive(false, 'waiting for the API key');
  }

  function onKeySubmit(e) {
    e.preventDefault();
    const key = $('key-input').value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    $('key-input').value = '';
    $('key-panel').hidden = true;
    $('forget-key').hidden = false;
    state.locked = false;
    start();
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY_STORE);
    window.location.reload();
  }

  // ---- sessions ---------------------------------------------------------

  async function refreshSessions() {
    if (state.locked) return;
    const res = await api('GET', '/v1/sessions');
    if (!res.ok) return;
    const list = (await readJson(res)) || [];
    const seen = new Set();
    for (const info of list) {
      seen.add(info.id);
      state.sessions.set(info.id, info);
      renderRow(info);
    }
    for (const id of Array.from(state.sessions.keys())) {
      if (!seen.has(id)) removeSession(id);
    }
    $('no-sessions').hidden = state.sessions.size > 0;
    if (state.selected) renderDetails();
  }

  async function refreshSession(id) {
    if (state.locked) return;
    const res = await api('GET', sessionPath(id));
    if (res.status === 404) {
      removeSession(id);
      return;
    }
    if (!res.ok) return;
    const info = await readJson(res);
    if (!info) return;
    state.sessions.set(id, info);
    renderRow(info);
    if (state.selected === id) renderDetails();
  }

  function removeSession(id) {
    state.sessions.delete(id);
    const row = state.rows.get(id);
    if (row) row.remove();
    state.rows.delete(id);
    if (state.selected === id) select(null);
    $('no-sessions').hidden = state.sessions.size > 0;
  }

  // Rows are updated in place, so keyboard focus stays where it was.
  function renderRow(info) {
    let row = state.rows.get(info.id);
    if (!row) {
      row = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.session = info.id;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = info.id;
      const badge = document.createElement('span');
      badge.className = 'badge status';
      button.append(name, badge);
      button.addEventListener('click', () => select(info.id));
      row.append(button);
      state.rows.set(info.id, row);
      $('session-list').append(row);
    }
    const button = row.firstChild;
    const badge = button.querySelector('.badge');
    badge.textContent = label(info.status);
    badge.className = `badge status ${info.status}`;
    button.dataset.status = info.status;
    button.setAttribute('aria-current', String(state.selected === info.id));
    button.setAttribute('aria-label', `${info.id}: ${label(info.status)}`);
  }

  function label(status) {
    return String(status || 'unknown').replace('_', ' ');
  }

  function select(id) {
    state.selected = id;
    for (const [rowId, row] of state.rows) {
      row.firstChild.setAttribute('aria-current', String(rowId === id));
    }
    $('pair-code').textContent = '';
    $('pair-error').textContent = '';
    $('send-result').textContent = '';
    $('send-error').textContent = '';
    clearQr();
    renderDetails();
    renderEvents();
    if (id) {
      refreshSession(id).catch(ignoreUnauthorized);
    }
  }

  function renderDetails() {
    const info = state.selected && state.sessions.get(state.selected);
    $('details').hidden = !info;
    if (!info) return;
    $('d-id').textContent = info.id;
    const status = $('d-status');
    status.textContent = label(info.status);
    status.className = `badge ${info.status}`;
    $('d-jid').textContent = info.jid || '—';
    $('d-push-name').textContent = state.pushNames.get(info.id) || '—';
    $('d-created').textContent = info.created_at ? new Date(info.created_at * 1000).toLocaleString() : '—';
    $('d-webhook').textContent = info.webhook_url || '—';
    $('d-error').textContent = info.last_error || '—';
    const linking = info.status === 'qr' || info.status === 'starting';
    $('link-box').hidden = !linking;
    if (info.status === 'qr' && !state.qrUrl) loadQr(info.id).catch(ignoreUnauthorized);
    if (!linking) clearQr();
    $('send-submit').disabled = info.status !== 'connected';
  }

  // ---- QR ---------------------------------------------------------------

  async function loadQr(id) {
    const res = await api('GET', sessionPath(id, '/qr'));
    if (res.status !== 200 || state.selected !== id) return;
    const qr = await readJson(res);
    const png = await api('GET', sessionPath(id, '/qr?format=png'));
    if (png.status !== 200 || state.selected !== id) return;
    const blob = await png.blob();
    if (state.selected !== id) return;
    const old = state.qrUrl;
    state.qrUrl = URL.createObjectURL(blob);
    state.qrExpires = qr && qr.expires_at ? qr.expires_at : 0;
    const img = $('qr-img');
    img.src = state.qrUrl;
    img.dataset.session = id;
    $('qr-text').textContent = qr && qr.qr ? qr.qr : '';
    if (old) URL.revokeObjectURL(old);
  }

  function clearQr() {
    if (state.qrUrl) URL.revokeObjectURL(state.qrUrl);
    state.qrUrl = null;
    state.qrExpires = 0;
    const img = $('qr-img');
    img.removeAttribute('src');
    delete img.dataset.session;
    $('qr-text').textContent = '';
  }

  // ---- capacity ---------------------------------------------------------

  async function refreshCapacity() {
    if (state.locked) return;
    const res = await api('GET', '/v1/capacity');
    if (!res.ok) return;
    const c = await readJson(res);
    if (!c) return;
    const pct = Math.round((c.utilization || 0) * 100);
    $('capacity-label').textContent = `${c.sessions} of ${c.max_sessions} sessions · ${pct}% used`;
    const meter = $('capacity-meter');
    meter.setAttribute('aria-valuenow', String(Math.min(pct, 100)));
    meter.setAttribute('aria-valuetext', `${pct}% of capacity`);
    meter.classList.toggle('high', pct >= 80);
    $('capacity-fill').style.width = `${Math.min(pct, 100)}%`;
    $('capacity-alert').hidden = !c.alert;
    const m = c.memory || {};
    $('mem-rss').textContent = bytes(m.rss_bytes);
    $('mem-limit').textContent = m.limit_bytes ? bytes(m.limit_bytes) : 'none known';
    $('mem-per-session').textContent = bytes(m.per_session_bytes);
    $('mem-measured').textContent = m.measured_per_session_bytes ? bytes(m.measured_per_session_bytes) : 'not yet (10+ sessions)';
    $('media-transfers').textContent = `${c.media_transfers} of ${c.max_media_transfers}`;
  }

  function bytes(n) {
    if (n === null || n === undefined) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u += 1;
    }
    return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
  }

  // ---- events -----------------------------------------------------------

  function setLive(on, text) {
    const live = $('live');
    live.classList.toggle('on', on);
    live.textContent = text || (on ? 'live: receiving events' : 'event stream lost, reconnecting…');
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function runStream() {
    if (state.stream) state.stream.abort();
    const ctl = new AbortController();
    state.stream = ctl;
    while (!ctl.signal.aborted && !state.locked) {
      try {
        const res = await fetch('/v1/events', { headers: headers(), signal: ctl.signal });
        if (res.status === 401) {
          askForKey(apiKey() ? 'That key was refused.' : '');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        setLive(true);
        // Whatever happened while the stream was down.
        refreshSessions().catch(ignoreUnauthorized);
        refreshCapacity().catch(ignoreUnauthorized);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          buffer = buffer.replace(/\r\n/g, '\n');
          let at = buffer.indexOf('\n\n');
          while (at >= 0) {
            onBlock(buffer.slice(0, at));
            buffer = buffer.slice(at + 2);
            at = buffer.indexOf('\n\n');
          }
        }
      } catch (_) {
        if (ctl.signal.aborted) return;
      }
      if (ctl.signal.aborted || state.locked) return;
      setLive(false);
      await sleep(2000);
    }
  }

  // One Server-Sent Events block: `event:` names it, `data:` lines carry
  // the JSON; comment lines (keep-alives) start with a colon.
  function onBlock(block) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') name = value;
      if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    let event;
    try {
      event = JSON.parse(data.join('\n'));
    } catch (_) {
      return;
    }
    onEvent(name, event);
  }

  function onEvent(type, event) {
    if (type === 'lagged') {
      refreshSessions().catch(ignoreUnauthorized);
      return;
    }
    addEvent(type, event);
    if (type.startsWith('capacity.')) {
      refreshCapacity().catch(ignoreUnauthorized);
    }
    const id = event.session;
    if (!id) return;
    if (type === 'message' && event.from_me && event.push_name) {
      state.pushNames.set(id, event.push_name);
      if (state.selected === id) renderDetails();
    }
    if (!LIFECYCLE.has(type)) return;
    const known = state.sessions.get(id);
    if (known && IMPLIED[type]) {
      known.status = IMPLIED[type];
      renderRow(known);
      if (state.selected === id) renderDetails();
    }
    if (type === 'qr' && state.selected === id) {
      loadQr(id).catch(ignoreUnauthorized);
    }
    if (type === 'pair_code' && state.selected === id) {
      $('pair-code').textContent = spaced(event.code);
    }
    setTimeout(() => refreshSession(id).catch(ignoreUnauthorized), 300);
    refreshCapacity().catch(ignoreUnauthorized);
  }

  function addEvent(type, event) {
    state.events.unshift({ type, event });
    if (state.events.length > MAX_EVENTS) state.events.pop();
    renderEvents();
  }

  function renderEvents() {
    const onlySelected = $('events-selected').checked && state.selected;
    const list = $('event-list');
    const items = [];
    for (const { type, event } of state.events) {
      if (onlySelected && event.session !== state.selected) continue;
      const li = document.createElement('li');
      li.dataset.type = type;
      const time = document.createElement('time');
      const at = new Date((event.at || 0) * 1000);
      time.dateTime = at.toISOString();
      time.textContent = at.toLocaleTimeString();
      const kind = document.createElement('span');
      kind.className = 'type';
      kind.textContent = event.session ? `${event.session} · ${type}` : type;
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = summary(type, event);
      li.append(time, kind, what);
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  function summary(type, e) {
    switch (type) {
      case 'message': {
        const who = e.from_me ? 'me' : (e.push_name || e.sender || '');
        const body = e.media ? `[${e.media.kind}] ${e.text || ''}` : (e.text || '');
        return `${who} in ${e.chat}: ${body}`;
      }
      case 'qr': return 'new QR code';
      case 'pair_code': return `linking code ${spaced(e.code)}`;
      case 'paired': return `linked as ${e.jid}`;
      case 'receipt': return `${e.kind} ×${(e.ids || []).length} from ${e.sender}`;
      case 'disconnected':
      case 'logged_out':
      case 'stopped': return e.reason || '';
      case 'reconnecting': return `attempt ${e.attempt} in ${Math.round((e.delay_ms || 0) / 1000)} s`;
      case 'undecryptable': return `from ${e.sender}: ${e.reason}`;
      case 'capacity.alert':
      case 'capacity.recovered': return `${e.sessions} of ${e.max_sessions} sessions`;
      default: return e.group ? `group ${typeof e.group === 'string' ? e.group : e.group.jid}` : '';
    }
  }

  function spaced(code) {
    const c = String(code || '');
    return c.length === 8 ? `${c.slice(0, 4)}-${c.slice(4)}` : c;
  }

  // ---- forms and buttons --------------------------------------------------

  async function onCreate(e) {
    e.preventDefault();
    $('create-error').textContent = '';
    const body = {};
    const id = $('create-id').value.trim();
    const webhook = $('create-webhook').value.trim();
    if (id) body.id = id;
    if (webhook) body.webhook_url = webhook;
    const button = $('create-submit');
    button.disabled = true;
    try {
      const res = await api('POST', '/v1/sessions', body);
      if (res.status !== 201) {
        $('create-error').textContent = await failure(res);
        return;
      }
      const info = await readJson(res);
      $('create-id').value = '';
      $('create-webhook').value = '';
      state.sessions.set(info.id, info);
      renderRow(info);
      $('no-sessions').hidden = true;
      select(info.id);
      refreshCapacity().catch(ignoreUnauthorized);
    } catch (err) {
      if (!(err instanceof Unauthorized)) $('create-error').textContent = String(err);
    } finally {
      button.disabled = false;
    }
  }

  async function onPairCode(e) {
    e.preventDefault();
    const id = state.selected;
    if (!id) return;
    $('pair-error').textContent = '';
    $('pair-code').textContent = '';
    try {
      const res = await api('POST', sessionPath(id, '/pair-code'), { phone: $('pair-phone').value.trim() });
      const body = await readJson(res);
      if (!res.ok) {
        $('pair-error').textContent = body && body.message ? `${body.error}: ${body.message}` : `HTTP ${res.status}`;
        return;
      }
      $('pair-code').textContent = `Type this code on the phone: ${spaced(body.code)}`;
    } catch (err) {
      if (!(err instanceof Unauthorized)) $('pair-error').textContent = String(err);
    }
  }

  async function onSend(e) {
    e.preventDefault();
    const id = state.selected;
    if (!id) return;
    $('send-error').textContent = '';
    $('send-result').textContent = '';
    const button = $('send-submit');
    button.disabled = true;
    try {
      const res = await api('POST', sessionPath(id, '/messages'), {
        to: $('send-to').value.trim(),
        text: $('send-text').value,
      });
      const body = await readJson(res);
      if (res.status !== 201) {
        $('send-error').textContent = body && body.message ? `${body.error}: ${body.message}` : `HTTP ${res.status}`;
        return;
      }
      $('send-result').textContent = `Sent ${body.id} to ${body.chat}`;
    } catch (err) {
      if (!(err instanceof Unauthorized)) $('send-error').textContent = String(err);
    } finally {
      const info = state.sessions.get(id);
      button.disabled = !info || info.status !== 'connected';
    }
  }

  async function onCommand(path, method) {
    const id = state.selected;
    if (!id) return;
    try {
      const res = await api(method, sessionPath(id, path));
      if (!res.ok) {
        $('d-error').textContent = await failure(res);
        return;
      }
      if (method === 'DELETE') {
        removeSession(id);
        refreshCapacity().catch(ignoreUnauthorized);
      } else {
        await refreshSession(id);
      }
    } catch (err) {
      if (!(err instanceof Unauthorized)) $('d-error').textContent = String(err);
    }
  }

  // Deleting wipes the session's state: the button asks once more
  // (a second press within 5 s) instead of a modal dialog.
  let deleteArmed = null;
  function onDelete() {
    const button = $('d-delete');
    if (deleteArmed !== state.selected) {
      deleteArmed = state.selected;
      button.textContent = 'Press again to delete';
      setTimeout(() => {
        deleteArmed = null;
        button.textContent = 'Delete';
      }, 5000);
      return;
    }
    deleteArmed = null;
    button.textContent = 'Delete';
    onCommand('', 'DELETE');
  }

  function ignoreUnauthorized(err) {
    if (!(err instanceof Unauthorized)) console.warn(err);
  }

  // ---- start ------------------------------------------------------------

  function start() {
    refreshSessions().catch(ignoreUnauthorized);
    refreshCapacity().catch(ignoreUnauthorized);
    runStream();
  }

  function tick() {
    if (state.locked) return;
    refreshCapacity().catch(ignoreUnauthorized);
    const info = state.selected && state.sessions.get(state.selected);
    // A QR past its expiry without a new one announced: ask again.
    if (info && info.status === 'qr' && state.qrExpires && Date.now() / 1000 > state.qrExpires) {
      loadQr(info.id).catch(ignoreUnauthorized);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('key-form').addEventListener('submit', onKeySubmit);
    $('forget-key').addEventListener('click', forgetKey);
    $('forget-key').hidden = !apiKey();
    $('create-form').addEventListener('submit', onCreate);
    $('pair-form').addEventListener('submit', onPairCode);
    $('send-form').addEventListener('submit', onSend);
    $('d-restart').addEventListener('click', () => onCommand('/restart', 'POST'));
    $('d-logout').addEventListener('click', () => onCommand('/logout', 'POST'));
    $('d-delete').addEventListener('click', onDelete);
    $('events-selected').addEventListener('change', renderEvents);
    setInterval(tick, 5000);
    setInterval(() => refreshSessions().catch(ignoreUnauthorized), 15000);
    start();
  });
})();
