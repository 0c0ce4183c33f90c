// The community watch: the open warnings of the caller's areas, live, to take on from a phone.

import { followAlerts } from './alertstream.js';
import { api, displayNode, h, humanise, plainError, timeEl } from './common.js';

const OPEN = new Set(['new', 'acknowledged', 'dispatched']);
const LIMIT = 200;

const $ = (id) => document.getElementById(id);
const root = document.querySelector('.watch');
const ui = { list: $('watch-list'), empty: $('watch-empty'), error: $('watch-error'), conn: $('connection') };
const canAcknowledge = root.dataset.canAcknowledge === 'true';
const state = { alerts: new Map(), areas: new Map(), details: new Map(), show: 'new', busy: new Set() };

function showError(err) {
  ui.error.textContent = err ? plainError(err) : '';
  ui.error.hidden = !err;
}

function place(alert) {
  const area = alert.area_id ? state.areas.get(alert.area_id) || alert.area_id : null;
  return area || alert.station_id;
}

function facts(detail) {
  const entries = Object.entries(detail.facts);
  const evidence = detail.evidence.slice(-5).reverse();
  return h('div', { class: 'watch-detail' },
    entries.length
      ? h('dl', { class: 'facts' }, entries.flatMap(([k, v]) => [h('dt', null, humanise(k)), h('dd', null, displayNode(v))]))
      : null,
    h('h3', null, 'Latest evidence (' + detail.evidence.length + ')'),
    h('ul', { class: 'watch-evidence' }, evidence.map((e) => h('li', null,
      timeEl(e.ts, { full: true }), ' ', h('span', { class: 'mono' }, e.kind + (e.code ? ' · ' + e.code : '')),
      h('span', { class: 'muted' }, ' at ' + e.device)))));
}

async function toggleDetail(id) {
  if (state.details.has(id)) {
    state.details.delete(id);
    render();
    return;
  }
  try {
    state.details.set(id, await api('GET', '/api/v1/alerts/' + encodeURIComponent(id)));
    showError(null);
  } catch (err) {
    showError(err);
  }
  render();
}

async function acknowledge(id, note) {
  state.busy.add(id);
  render();
  try {
    const view = await api('POST', '/api/v1/alerts/' + encodeURIComponent(id) + '/acknowledge', { note });
    state.alerts.set(id, view.alert || view);
    showError(null);
  } catch (err) {
    showError(err);
  } finally {
    state.busy.delete(id);
    render();
  }
}

function card(alert) {
  const open = state.details.get(alert.id);
  const note = h('input', { type: 'text', name: 'note', maxlength: 500, placeholder: 'Note (optional)',
    'aria-label': 'Note for ' + alert.title, class: 'watch-note' });
  const busy = state.busy.has(alert.id);
  return h('li', { class: 'watch-card sev-' + alert.severity, dataset: { id: alert.id, status: alert.status } },
    h('div', { class: 'watch-line1' },
      h('span', { class: 'badge sev' }, alert.severity),
      h('strong', { class: 'watch-title' }, alert.title)),
    h('div', { class: 'watch-line2' },
      h('span', { class: 'watch-place' }, place(alert)), ' · ', timeEl(alert.last_seen_at),
      ' · ', alert.hits + (alert.hits === 1 ? ' hit' : ' hits'),
      h('span', { class: 'badge status', dataset: { status: alert.status } }, alert.status)),
    open ? facts(open) : null,
    h('div', { class: 'buttons' },
      h('button', { type: 'button', class: 'details', 'aria-expanded': open ? 'true' : 'false',
        onclick: () => toggleDetail(alert.id) }, open ? 'Less' : 'Details'),
      alert.status === 'new' && canAcknowledge
        ? [note, h('button', { type: 'button', class: 'primary acknowledge', disabled: busy,
          onclick: () => acknowledge(alert.id, note.value.trim()) }, busy ? 'Taking on…' : 'Take on')]
        : null));
}

function render() {
  const open = [...state.alerts.values()].filter((a) => OPEN.has(a.status));
  const fresh = open.filter((a) => a.status === 'new');
  const taken = open.filter((a) => a.status !== 'new');
  $('count-new').textContent = String(fresh.length);
  $('count-taken').textContent = String(taken.length);
  const shown = (state.show === 'new' ? fresh : taken)
    .sort((a, b) => b.last_seen_at.localeCompare(a.last_seen_at) || b.id.localeCompare(a.id));
  ui.list.replaceChildren(...shown.map(card));
  ui.empty.hidden = shown.length > 0;
  document.title = (fresh.length ? '(' + fresh.length + ') ' : '') + 'Community watch · safecity';
}

async function loadList() {
  const urls = ['new', 'acknowledged', 'dispatched'].map((s) => '/api/v1/alerts?limit=' + LIMIT + '&status=' + s);
  try {
    const pages = await Promise.all(urls.map((url) => api('GET', url)));
    state.alerts.clear();
    for (const page of pages) for (const alert of page.items) state.alerts.set(alert.id, alert);
    showError(null);
  } catch (err) {
    showError(err);
  }
  render();
}

async function refresh(id) {
  try {
    const detail = await api('GET', '/api/v1/alerts/' + encodeURIComponent(id));
    state.alerts.set(id, detail.alert);
    if (state.details.has(id)) state.details.set(id, detail);
  } catch (err) {
    if (err.status === 404 || err.status === 403) state.alerts.delete(id); // moved out of our areas
  }
  render();
}

async function loadAreas() {
  try {
    for (const area of await api('GET', '/api/v1/areas')) state.areas.set(area.id, area.name);
  } catch (_) {
    return; // names are a nicety: ids are shown instead
  }
  const mine = $('watch-areas');
  const ids = mine.dataset.areas ? mine.dataset.areas.split(',') : [];
  if (ids.length) mine.textContent = ids.map((id) => state.areas.get(id) || id).join(', ');
  render();
}

for (const tab of document.querySelectorAll('.watch-tabs [role=tab]')) {
  tab.addEventListener('click', () => {
    state.show = tab.dataset.show;
    for (const other of document.querySelectorAll('.watch-tabs [role=tab]')) {
      other.setAttribute('aria-selected', String(other === tab));
    }
    render();
  });
}

followAlerts({
  onNotice: (_type, notice) => refresh(notice.alert_id),
  onState: (kind, text) => {
    ui.conn.dataset.state = kind;
    ui.conn.textContent = text;
  },
  onReopen: loadList,
});
loadAreas();
loadList();
