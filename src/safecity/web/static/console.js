// The alert console: live alert list over SSE, the explained detail of one alert, and its lifecycle.

import { CityMap } from './citymap.js';
import { followAlerts } from './alertstream.js';
import { api, displayNode, h, humanise, plainError, prefs, timeEl } from './common.js';

const OPEN = new Set(['new', 'acknowledged', 'dispatched']);
// Mirrors safecity.alerts.policy: the lifecycle is a line, and any open alert may be closed.
const NEXT = { new: ['acknowledged', 'closed'], acknowledged: ['dispatched', 'closed'], dispatched: ['closed'], closed: [] };
const ACTIONS = { acknowledged: ['acknowledge', 'Acknowledge'], dispatched: ['dispatch', 'Dispatch'] };
const OUTCOMES = [['confirmed', 'Confirmed'], ['false_alarm', 'False alarm'], ['unverified', 'Could not verify']];
const LIST_LIMIT = 200;

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('alert-list'), empty: $('list-empty'), listError: $('list-error'), count: $('open-count-value'),
  conn: $('connection'), station: $('station-filter'), showClosed: $('show-closed'), detail: $('detail'),
};
const state = {
  alerts: new Map(), // id -> alert summary (AlertOut)
  stations: new Map(), // station id -> name
  areas: new Map(), // area id -> name
  selected: null,
  detail: null,
  refreshing: new Map(), // id -> {again, raised}: one request per alert at a time
};
const cityMap = CityMap.create($('map'), $('map-message'));

// --- the list ----------------------------------------------------------------------------------

function stationLabel(id) {
  const name = state.stations.get(id);
  return name ? name + ' (' + id + ')' : id;
}

function isShown(alert) {
  if (ui.station.value && alert.station_id !== ui.station.value) return false;
  return ui.showClosed.checked || OPEN.has(alert.status);
}

function alertItem(alert) {
  const selected = alert.id === state.selected;
  return h('li', { class: 'alert-item sev-' + alert.severity + ' status-' + alert.status, dataset: { id: alert.id } },
    h('button', { type: 'button', class: 'alert-button', 'aria-current': selected ? 'true' : null,
      onclick: () => openDetail(alert.id) },
      h('span', { class: 'alert-line1' },
        h('span', { class: 'badge sev' }, alert.severity),
        h('span', { class: 'alert-title' }, alert.title)),
      h('span', { class: 'alert-line2' },
        h('span', { class: 'subject' }, alert.subject_kind + ' ' + alert.subject),
        h('span', { class: 'badge status', dataset: { status: alert.status } }, alert.status)),
      h('span', { class: 'alert-line3' },
        h('span', { class: 'station' }, stationLabel(alert.station_id)),
        timeEl(alert.last_seen_at),
        h('span', { class: 'hits', dataset: { hits: alert.hits } }, alert.hits + (alert.hits === 1 ? ' hit' : ' hits')))));
}

function renderList() {
  const focusedId = document.activeElement && document.activeElement.closest('.alert-item')
    ? document.activeElement.closest('.alert-item').dataset.id : null;
  const shown = [...state.alerts.values()].filter(isShown)
    .sort((a, b) => b.last_seen_at.localeCompare(a.last_seen_at) || b.id.localeCompare(a.id));
  ui.list.replaceChildren(...shown.map(alertItem));
  ui.empty.hidden = shown.length > 0;
  const open = [...state.alerts.values()].filter((a) => OPEN.has(a.status)
    && (!ui.station.value || a.station_id === ui.station.value)).length;
  ui.count.textContent = String(open);
  document.title = (open ? '(' + open + ') ' : '') + 'Console · safecity';
  if (focusedId) {
    const again = ui.list.querySelector('[data-id="' + CSS.escape(focusedId) + '"] button');
    if (again) again.focus();
  }
}

function showListError(err) {
  ui.listError.textContent = err ? plainError(err) : '';
  ui.listError.hidden = !err;
}

async function loadList() {
  // Open alerts by status so that a busy day cannot push them out of the page, plus the latest of all.
  const urls = ['new', 'acknowledged', 'dispatched'].map((s) => '/api/v1/alerts?limit=' + LIST_LIMIT + '&status=' + s);
  urls.push('/api/v1/alerts?limit=50');
  try {
    const pages = await Promise.all(urls.map((url) => api('GET', url)));
    state.alerts.clear();
    for (const page of pages) for (const alert of page.items) state.alerts.set(alert.id, alert);
    showListError(null);
  } catch (err) {
    showListError(err);
  }
  renderList();
}

async function loadAreas() {
  try {
    const areas = await api('GET', '/api/v1/areas');
    for (const area of areas) {
      state.areas.set(area.id, area.name);
      if (area.kind === 'station') state.stations.set(area.id, area.name);
    }
  } catch (_) {
    return; // names are a nicety: ids are shown instead
  }
  const saved = prefs.get('station');
  ui.station.append(...[...state.stations].map(([id, name]) => h('option', { value: id }, name + ' (' + id + ')')));
  if (state.stations.has(saved)) ui.station.value = saved;
}

// --- live updates ------------------------------------------------------------------------------

function setConnection(kind, text) {
  ui.conn.dataset.state = kind;
  ui.conn.textContent = text;
}

/** Read one alert again; a burst of notices about it costs at most two requests. */
async function refresh(id, raised = false) {
  const running = state.refreshing.get(id);
  if (running) {
    running.again = true;
    running.raised = running.raised || raised;
    return;
  }
  const job = { again: true, raised };
  state.refreshing.set(id, job);
  try {
    while (job.again) {
      job.again = false;
      const detail = await api('GET', '/api/v1/alerts/' + encodeURIComponent(id));
      const isNew = job.raised || !state.alerts.has(id);
      job.raised = false;
      applyDetail(detail, isNew);
    }
  } catch (err) {
    showListError(err);
  } finally {
    state.refreshing.delete(id);
  }
}

function applyDetail(detail, isNew) {
  const alert = detail.alert;
  state.alerts.set(alert.id, alert);
  renderList();
  if (isNew && isShown(alert)) {
    const item = ui.list.querySelector('[data-id="' + CSS.escape(alert.id) + '"]');
    if (item) item.classList.add('arrived');
    const first = detail.evidence.find((e) => e.lat !== null && e.lon !== null);
    if (first && cityMap) cityMap.flash([first.lon, first.lat]);
  }
  if (state.selected === alert.id) renderDetail(detail);
}

// --- the detail --------------------------------------------------------------------------------

async function openDetail(id) {
  state.selected = id;
  renderList();
  ui.detail.hidden = false;
  ui.detail.replaceChildren(h('p', { class: 'muted pad' }, 'Loading alert…'));
  try {
    const detail = await api('GET', '/api/v1/alerts/' + encodeURIComponent(id));
    if (state.selected !== id) return;
    state.alerts.set(id, detail.alert);
    renderList();
    renderDetail(detail, { fit: true });
    ui.detail.focus();
  } catch (err) {
    ui.detail.replaceChildren(detailHeader(null), h('p', { class: 'error pad', role: 'alert' }, plainError(err)));
  }
}

function closeDetail() {
  const was = state.selected;
  state.selected = null;
  state.detail = null;
  ui.detail.hidden = true;
  ui.detail.replaceChildren();
  if (cityMap) cityMap.clearPath();
  renderList();
  const item = was && ui.list.querySelector('[data-id="' + CSS.escape(was) + '"] button');
  if (item) item.focus();
}

function detailHeader(alert) {
  return h('header', { class: 'detail-head' },
    h('h2', { id: 'detail-title' }, alert ? alert.title : 'Alert'),
    h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close the alert detail', onclick: closeDetail }, '×'),
    alert && h('div', { class: 'detail-badges' },
      h('span', { class: 'badge sev sev-' + alert.severity }, alert.severity),
      h('span', { class: 'badge status', id: 'detail-status', dataset: { status: alert.status } }, alert.status),
      alert.outcome && h('span', { class: 'badge outcome' }, humanise(alert.outcome))));
}

function definitions(entries) {
  return h('dl', { class: 'facts' }, entries.flatMap(([key, value]) => [
    h('dt', null, key), h('dd', null, value instanceof Node ? value : displayNode(value))]));
}

function section(title, ...body) {
  return h('section', { class: 'detail-section' }, h('h3', null, title), ...body);
}

function placeOf(e) {
  const area = e.area ? (state.areas.get(e.area) || (cityMap && cityMap.names.get(e.area)) || e.area) : null;
  const coords = e.lat !== null && e.lon !== null ? e.lat.toFixed(5) + ', ' + e.lon.toFixed(5) : null;
  return [area, coords].filter(Boolean).join(' · ') || '—';
}

function evidenceTable(evidence) {
  if (!evidence.length) return h('p', { class: 'muted' }, 'No evidence records.');
  const deviceName = (id) => (cityMap && cityMap.names.get(id)) || null;
  return h('table', { class: 'evidence', id: 'evidence-table' },
    h('thead', null, h('tr', null, ['#', 'Time', 'Station / device', 'Place'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, evidence.map((e, i) => h('tr', null,
      h('td', { class: 'num' }, String(i + 1)),
      h('td', null, timeEl(e.ts)),
      h('td', null, deviceName(e.device) ? [deviceName(e.device), h('br'), h('span', { class: 'muted' }, e.device)] : e.device,
        e.code ? h('span', { class: 'muted' }, ' · ' + e.code) : null),
      h('td', null, placeOf(e))))));
}

function stepsList(steps) {
  return h('ol', { class: 'steps', id: 'steps' }, steps.map((s) => h('li', { dataset: { to: s.to_status } },
    h('div', { class: 'step-head' },
      h('strong', null, s.from_status ? humanise(s.to_status) : 'Raised'),
      s.outcome ? h('span', { class: 'badge outcome' }, humanise(s.outcome)) : null,
      ' by ', h('span', { class: 'by' }, s.by), ' · ', timeEl(s.at, { full: true })),
    s.note ? h('p', { class: 'note' }, s.note) : null)));
}

function actionForm(alert) {
  const allowed = NEXT[alert.status] || [];
  if (!allowed.length) return h('p', { class: 'muted' }, 'Closed: no further steps.');
  const error = h('p', { class: 'error', id: 'action-error', role: 'alert', hidden: true });
  const note = h('textarea', { id: 'action-note', name: 'note', rows: 2, maxlength: 2000 });
  const outcome = h('select', { id: 'action-outcome', name: 'outcome' }, OUTCOMES.map(([v, t]) => h('option', { value: v }, t)));

  // The server records the signed-in account as the actor of each step.
  async function act(step, button) {
    error.hidden = true;
    const body = { note: note.value.trim() };
    if (step === 'close') body.outcome = outcome.value;
    button.disabled = true;
    try {
      await api('POST', '/api/v1/alerts/' + encodeURIComponent(alert.id) + '/' + step, body);
      note.value = '';
      await refresh(alert.id);
    } catch (err) {
      error.textContent = plainError(err);
      error.hidden = false;
      button.disabled = false;
    }
  }

  // An open alert becomes an incident on the dispatch desk in one action (dispatch.calls).
  async function escalate(button) {
    error.hidden = true;
    button.disabled = true;
    try {
      const incident = await api('POST', '/api/v1/alerts/' + encodeURIComponent(alert.id) + '/incident', {});
      button.replaceWith(h('a', { href: '/dispatch', id: 'escalated', class: 'escalated' },
        'Incident 警情 #' + incident.id + ' → Dispatch 指挥调度'));
    } catch (err) {
      error.textContent = plainError(err);
      error.hidden = false;
      button.disabled = false;
    }
  }
  const canEscalate = document.getElementById('console').dataset.canEscalate === 'yes' && alert.status !== 'closed';

  const buttons = allowed.filter((s) => ACTIONS[s]);
  return h('form', { class: 'act', id: 'action-form', onsubmit: (e) => e.preventDefault() },
    h('div', { class: 'field' }, h('label', { for: 'action-note' }, 'Note'), note),
    h('div', { class: 'buttons' },
      buttons.map((s) => h('button', { type: 'button', class: 'primary', id: 'action-' + ACTIONS[s][0],
        onclick: (e) => act(ACTIONS[s][0], e.currentTarget) }, ACTIONS[s][1])),
      allowed.includes('closed') ? h('span', { class: 'close-group' },
        h('label', { for: 'action-outcome' }, 'Outcome'), outcome,
        h('button', { type: 'button', id: 'action-close', onclick: (e) => act('close', e.currentTarget) }, 'Close alert'))
        : null,
      canEscalate ? h('button', { type: 'button', id: 'action-escalate', onclick: (e) => escalate(e.currentTarget) },
        'Make incident 转为警情') : null),
    error);
}

function renderDetail(detail, { fit = false } = {}) {
  const { alert, routing } = detail;
  const focused = document.activeElement && ui.detail.contains(document.activeElement) ? document.activeElement.id : null;
  // An update of the alert on screen keeps what the officer was typing and where they had scrolled to.
  const same = !!state.detail && state.detail.alert.id === alert.id;
  const kept = same ? ['action-note', 'action-outcome'].map((id) => [id, $(id) && $(id).value]) : [];
  const oldBody = ui.detail.querySelector('.detail-body');
  const scrollTop = same && oldBody ? oldBody.scrollTop : 0;
  state.detail = detail;
  const located = detail.evidence.filter((e) => e.lat !== null && e.lon !== null);
  ui.detail.replaceChildren(
    detailHeader(alert),
    h('div', { class: 'detail-body' },
      definitions([
        ['Subject', alert.subject_kind + ' ' + alert.subject],
        ['First seen', timeEl(alert.first_seen_at, { full: true })],
        ['Last seen', timeEl(alert.last_seen_at, { full: true })],
        ['Hits', h('span', { id: 'detail-hits' }, String(alert.hits))],
        ['Alert', h('span', { class: 'mono' }, alert.id)],
      ]),
      section('Rule', definitions([['Rule', alert.rule + ' (' + alert.rule_kind + ')'],
        ...Object.entries(detail.params).map(([k, v]) => [humanise(k), v])])),
      section('Registry facts', Object.keys(detail.facts).length
        ? definitions(Object.entries(detail.facts).map(([k, v]) => [humanise(k), v]))
        : h('p', { class: 'muted' }, 'None used.')),
      section('Routing', definitions([
        ['Station', routing.station_name ? routing.station_name + ' (' + routing.station_id + ')' : routing.station_id],
        ['Area', routing.area_id ? (routing.area_name || routing.area_id) + ' (' + routing.area_id + ')' : '—'],
        ['Why', routing.reason],
      ])),
      section('Evidence (' + detail.evidence.length + ')', evidenceTable(detail.evidence),
        located.length ? null : h('p', { class: 'muted' }, 'No evidence record has a place: no path to draw.')),
      section('Lifecycle', stepsList(detail.steps)),
      section('Next step', actionForm(alert)),
      h('p', { class: 'downloads' },
        h('a', { href: '/api/v1/alerts/' + encodeURIComponent(alert.id) + '/cap', download: 'alert-' + alert.id + '.cap.xml',
          id: 'cap-link' }, 'Download CAP 1.2 XML'))));
  for (const [id, value] of kept) if (value !== null && value !== undefined && $(id)) $(id).value = value;
  ui.detail.querySelector('.detail-body').scrollTop = scrollTop;
  // Keep keyboard focus in the pane: on the same control, else the next step, else the pane itself.
  if (focused) {
    const next = $(focused) || ui.detail.querySelector('#action-form button') || ui.detail;
    next.focus();
  }
  if (cityMap) {
    const before = Number(cityMap.element.dataset.pathPoints || 0);
    if (fit || before !== located.length) cityMap.ready.then(() => cityMap.showPath(detail.path));
  }
}

// --- start -------------------------------------------------------------------------------------

ui.station.addEventListener('change', () => {
  prefs.set('station', ui.station.value);
  renderList();
});
ui.showClosed.checked = prefs.get('showClosed', 'true') === 'true';
ui.showClosed.addEventListener('change', () => {
  prefs.set('showClosed', String(ui.showClosed.checked));
  renderList();
});
document.addEventListener('keydown', (e) => {
  const typing = e.target.closest && e.target.closest('input, textarea, select');
  if (e.key === 'Escape' && state.selected && !typing) closeDetail();
});

followAlerts({
  onNotice: (type, notice) => refresh(notice.alert_id, type === 'AlertRaised'),
  onState: setConnection,
  onReopen: loadList,
});
if (cityMap) cityMap.loadCity();
loadAreas().then(renderList);
loadList();
