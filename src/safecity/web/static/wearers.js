// The wearers list (老人 / 家人): an officer's wearers of their areas, or a guardian's own, each with
// their area, trackers, open warnings and any open missing-person report; each opens its map page.
import { api, h, plainError } from './common.js';

const $ = (id) => document.getElementById(id);
const root = $('wearers');
const { mode, base, listApi } = root.dataset;
const ui = { list: $('wearer-list'), empty: $('wearers-empty'), error: $('wearers-error'), status: $('wearers-status') };
const OPEN = ['new', 'acknowledged', 'dispatched'];

// Officers count open warnings from the alert list of their areas (one read, not one per wearer);
// a guardian, who reads no alerts, from each of their own wearers' details (a family is a few).
async function openWarnings(wearers) {
  const counts = new Map();
  if (mode === 'officer') {
    const pages = await Promise.all(OPEN.map((status) => api('GET', '/api/v1/alerts?status=' + status + '&limit=500')));
    for (const alert of pages.flatMap((p) => p.items)) {
      if (alert.subject_kind === 'wearer') counts.set(alert.subject, (counts.get(alert.subject) || 0) + 1);
    }
  } else {
    const details = await Promise.all(wearers.map((w) => api('GET', listApi + '/' + w.id)));
    for (const d of details) counts.set(String(d.id), d.open_warnings.length);
  }
  return counts;
}

async function areaNames() {
  const names = new Map();
  if (mode !== 'officer') return names;
  try {
    for (const area of await api('GET', '/api/v1/areas')) names.set(area.id, area.name);
  } catch (_) {
    /* names are a nicety: ids are shown instead */
  }
  return names;
}

function item(wearer, warnings, missing, names) {
  const href = base + '/' + wearer.id;
  const area = names.get(wearer.area_id) || wearer.area_id;
  return h('li', { class: 'wearer-item', dataset: { wearer: wearer.id, missing: missing ? 'open' : 'none' } },
    h('div', { class: 'wearer-item-head' },
      h('a', { href, class: 'wearer-link' }, wearer.name),
      missing ? h('span', { class: 'badge missing-badge' }, 'Missing 走失') : null,
      warnings ? h('span', { class: 'badge warn-count', title: 'Open warnings' }, warnings + ' warning' + (warnings === 1 ? '' : 's') + ' 预警') : null,
      wearer.consent_in_force ? null : h('span', { class: 'badge no-consent' }, 'No consent 未同意')),
    h('div', { class: 'wearer-item-meta' },
      h('span', null, 'Area 辖区: ', area),
      h('span', null, 'Trackers 定位器: ', wearer.device_ids.join(', ') || '—'),
      wearer.notes ? h('span', { class: 'notes' }, wearer.notes) : null));
}

async function load() {
  let wearers;
  let warnings;
  let missing;
  let names;
  try {
    wearers = await api('GET', listApi);
    [warnings, missing, names] = await Promise.all([
      openWarnings(wearers),
      api('GET', '/api/v1/missing?status=open'),
      areaNames(),
    ]);
  } catch (err) {
    ui.status.hidden = true;
    ui.error.textContent = plainError(err);
    ui.error.hidden = false;
    return;
  }
  const open = new Set(missing.map((r) => r.wearer_id));
  ui.list.replaceChildren(...wearers.map((w) => item(w, warnings.get(String(w.id)) || 0, open.has(w.id), names)));
  ui.empty.hidden = wearers.length > 0;
  ui.status.textContent = wearers.length + (wearers.length === 1 ? ' wearer' : ' wearers')
    + (open.size ? ' · ' + open.size + ' missing 走失' : '');
  ui.error.hidden = true;
}

load();
