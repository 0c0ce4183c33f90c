// The investigation workbench (研判台): a case and its purpose; space-time windows added by clicking the
// map; the collision's subjects with their evidence drawn on the map; up to five subjects' paths side
// by side with one time slider (pathboard.js); who travels with it; pins and notes kept in the case;
// the case file. Every question goes through the workbench API, which justifies it by the case and
// audits it.
import { CityMap } from './citymap.js';
import { api, fieldName, h, plainError, plainFieldMessage, timeEl } from './common.js';
import { MAX_SUBJECTS, PATH_SOURCE, PathBoard, pathLayers } from './pathboard.js';
import { TrackMap, circleRing, point, polygon } from './trackmap.js';

const $ = (id) => document.getElementById(id);
const ui = {
  caseSelect: $('case'), purpose: $('purpose'), caseFile: $('case-file'), error: $('bench-error'), notice: $('bench-notice'),
  windows: $('window-list'), windowsEmpty: $('windows-empty'), collideForm: $('collide-form'), k: $('k'),
  hits: $('hit-list'), hitsEmpty: $('hits-empty'), hitsCount: $('hits-count'),
  mates: $('mate-list'), matesEmpty: $('mates-empty'), matesOf: $('mates-of'),
  queries: $('query-list'), pins: $('pin-list'), notes: $('note-list'), noteForm: $('note-form'), noteText: $('note-text'),
  openForm: $('open-case-form'), openArea: $('oc-area'), reports: $('report-list'),
  pathForm: $('path-form'), pathKind: $('path-kind'), pathSubject: $('path-subject'),
};
const DEFAULT_RADIUS_M = 300;
// The platform's clock, not the browser's: a demo runs its city faster than real time, and a
// window drawn "for the last hour" means the platform's last hour.
const clockOffset = Date.parse(document.getElementById('workbench').dataset.now) - Date.now() || 0;
const platformNow = () => Date.now() + clockOffset;
const state = { cases: new Map(), windows: [], markers: [] };

const LAYERS = [
  { id: 'b-window-fill', type: 'fill', source: 'b-windows', paint: { 'fill-color': '#7c3aed', 'fill-opacity': 0.12 } },
  { id: 'b-window-line', type: 'line', source: 'b-windows', paint: { 'line-color': '#6d28d9', 'line-width': 2 } },
  { id: 'b-evidence', type: 'circle', source: 'b-evidence',
    paint: { 'circle-radius': 6, 'circle-color': '#dc2626', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } },
  ...pathLayers(),
];
const cityMap = CityMap.create($('map'), $('map-message'));
const tmap = cityMap ? new TrackMap(cityMap, { sources: ['b-windows', 'b-evidence', PATH_SOURCE], layers: LAYERS, pathSource: PATH_SOURCE }) : null;
const paths = new PathBoard({
  tmap,
  ui: {
    legend: $('path-legend'), count: $('paths-count'), slider: $('slider'), input: $('time-slider'), time: $('slider-time'),
    table: $('path-rows'), tableNote: $('path-table-note'), filter: $('path-filter'),
  },
});
if (cityMap) {
  Promise.all([tmap.ready, cityMap.loadCity()]).then(() => {
    cityMap.map.on('click', (e) => addWindow(e.lngLat.lat, e.lngLat.lng));
    drawWindows();
    paths.render({ fit: true }); // paths asked for before the map loaded
  });
}

function say(text, isError = false) {
  ui.error.hidden = true;
  ui.notice.hidden = true;
  const target = isError ? ui.error : ui.notice;
  target.textContent = text;
  target.hidden = false;
}

function showFieldError(err) {
  for (const el of document.querySelectorAll('.field-error')) el.hidden = true;
  const field = err && err.field;
  const id = { case_id: 'case', purpose: 'purpose', k: 'k', text: 'note-text' }[field];
  if (id && $(id + '-error')) {
    const slot = $(id + '-error');
    slot.textContent = plainFieldMessage(err.message);
    slot.hidden = false;
  }
  say((field ? fieldName(field) + ': ' : '') + plainError(err), true);
}

const caseId = () => ui.caseSelect.value;
const justification = () => ({ case_id: caseId() || null, purpose: ui.purpose.value.trim() || null });
const iso = (local) => (local ? new Date(local).toISOString() : null);
const localValue = (date) => {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
};

// --- the case ------------------------------------------------------------------------------------------

async function loadCases() {
  let cases = [];
  try {
    cases = await api('GET', '/api/v1/cases?status=open');
  } catch (err) {
    say(plainError(err), true);
  }
  const mine = cases.filter((c) => c.members.includes(document.getElementById('workbench').dataset.user));
  ui.caseSelect.replaceChildren(...(mine.length
    ? mine.map((c) => h('option', { value: c.id }, c.id + ' · ' + c.title))
    : [h('option', { value: '' }, 'No open case you work 暂无案件')]));
  for (const c of mine) state.cases.set(c.id, c);
  await caseChanged();
}

async function caseChanged() {
  const id = caseId();
  paths.clear(); // a path is an answer under its case
  ui.caseFile.hidden = !id;
  if (id) ui.caseFile.href = '/api/v1/cases/' + encodeURIComponent(id) + '/file';
  $('case-file-pdf').hidden = !id;
  if (id) $('case-file-pdf').href = '/api/v1/cases/' + encodeURIComponent(id) + '/file.pdf';
  $('search-link').href = id ? '/search?case=' + encodeURIComponent(id) : '/search';
  await Promise.all([loadWorkspace(), loadReports()]);
}

async function loadAreas() {
  try {
    const areas = (await api('GET', '/api/v1/areas')).filter((a) => a.kind !== 'community');
    ui.openArea.replaceChildren(...areas.map((a) => h('option', { value: a.id }, `${a.name} (${a.id})`)));
  } catch (_) {
    /* the form says so when it is sent */
  }
}

ui.openForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(ui.openForm);
  const now = platformNow();
  try {
    const opened = await api('POST', '/api/v1/cases', {
      title: form.get('title'), basis: form.get('basis'), area_id: form.get('area_id'),
      window_start: new Date(now - Number(form.get('days')) * 86400000).toISOString(),
      window_end: new Date(now + 86400000).toISOString(),
    });
    await loadCases();
    ui.caseSelect.value = opened.id;
    await caseChanged();
    $('open-case').open = false;
    say(`Case ${opened.id} opened. 已立案。`);
  } catch (err) {
    showFieldError(err);
  }
});

const REPORT_KINDS = new Set(['theft', 'burglary_in_progress']);

async function loadReports() {
  const c = state.cases.get(caseId());
  if (!c) {
    ui.reports.replaceChildren();
    return;
  }
  let incidents = [];
  try {
    incidents = await api('GET', '/api/v1/incidents?live=false');
  } catch (_) {
    return;
  }
  const from = Date.parse(c.window_start);
  const to = Date.parse(c.window_end);
  const shown = incidents
    .filter((i) => REPORT_KINDS.has(i.kind) && Date.parse(i.reported_at) >= from && Date.parse(i.reported_at) <= to)
    .sort((a, b) => Date.parse(b.reported_at) - Date.parse(a.reported_at))
    .slice(0, 20);
  ui.reports.replaceChildren(...shown.map((i) => h('li', { 'data-incident': String(i.id) },
    `#${i.id} ${i.label} · `, timeEl(i.reported_at), i.address ? ` · ${i.address} ` : ' ',
    h('button', { type: 'button', onclick: () => addReportWindow(i) }, 'Add as window 加为窗口'))));
  if (!shown.length) ui.reports.replaceChildren(h('li', { class: 'muted' }, 'No theft reports in this case\'s window. 暂无警情。'));
}

function addReportWindow(incident) {
  const end = new Date(incident.reported_at);
  state.windows.push({
    lat: incident.lat, lon: incident.lon, radius_m: DEFAULT_RADIUS_M,
    start: localValue(new Date(end.getTime() - 2 * 3600 * 1000)), end: localValue(end),
  });
  renderWindows();
}

ui.caseSelect.addEventListener('change', caseChanged);

// --- windows -------------------------------------------------------------------------------------------

function defaultSpan() {
  const c = state.cases.get(caseId());
  const end = new Date(c ? Math.min(platformNow(), Date.parse(c.window_end)) : platformNow());
  return [new Date(end.getTime() - 3600 * 1000), end];
}

function addWindow(lat, lon) {
  const [start, end] = defaultSpan();
  state.windows.push({ lat, lon, radius_m: DEFAULT_RADIUS_M, start: localValue(start), end: localValue(end) });
  renderWindows();
}

function renderWindows() {
  ui.windows.replaceChildren(...state.windows.map((w, i) => {
    const input = (label, key, type, attrs = {}) => h('div', null,
      h('label', { for: `w${i}-${key}` }, label),
      h('input', { id: `w${i}-${key}`, type, value: w[key], ...attrs, onchange: (e) => { w[key] = type === 'number' ? Number(e.target.value) : e.target.value; drawWindows(); } }));
    return h('li', { 'data-window': String(i) }, h('div', { class: 'window-row' },
      input('From 开始', 'start', 'datetime-local'),
      input('To 结束', 'end', 'datetime-local'),
      input('Radius m 半径', 'radius_m', 'number', { min: '10', max: '5000', step: '10' }),
      h('button', { type: 'button', class: 'remove', onclick: () => { state.windows.splice(i, 1); renderWindows(); } }, 'Remove 删除')));
  }));
  ui.windowsEmpty.hidden = state.windows.length > 0;
  ui.k.max = String(Math.max(1, state.windows.length));
  drawWindows();
}

function drawWindows() {
  if (!tmap || !tmap.map.getSource('b-windows')) return; // drawn again once the map has loaded
  for (const m of state.markers) m.remove();
  state.markers = state.windows.map((w, i) => new window.maplibregl.Marker({ element: h('div', { class: 'window-pin' }, String(i + 1)) })
    .setLngLat([w.lon, w.lat]).addTo(tmap.map));
  const features = state.windows.map((w, i) => polygon(circleRing(w.lon, w.lat, w.radius_m), { n: i + 1 }));
  tmap.map.getSource('b-windows').setData({ type: 'FeatureCollection', features });
  tmap.element.dataset.windows = String(features.length);
}

// --- collision -----------------------------------------------------------------------------------------

ui.collideForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const kinds = [...ui.collideForm.querySelectorAll('input[name=kinds]:checked')].map((i) => i.value);
  const body = {
    ...justification(),
    k: Number(ui.k.value),
    kinds,
    windows: state.windows.map((w, i) => ({
      start: iso(w.start), end: iso(w.end), center: [w.lat, w.lon], radius_m: w.radius_m, label: 'window ' + (i + 1),
    })),
  };
  try {
    const found = await api('POST', '/api/v1/workbench/collision', body);
    renderHits(found);
    say(`${found.total} subjects seen in at least ${found.k} of ${found.windows} windows. 碰撞完成。`);
    await loadWorkspace();
  } catch (err) {
    showFieldError(err);
  }
});

function subjectActions(kind, subject) {
  return h('div', { class: 'hit-actions' },
    h('button', { type: 'button', title: 'Add its path to the map 加到地图', onclick: () => addPath(kind, subject) }, 'Path 轨迹'),
    h('button', { type: 'button', onclick: () => findCompanions(kind, subject) }, 'Companions 同行'),
    h('button', { type: 'button', onclick: () => pin(kind, subject) }, 'Pin 钉住'));
}

function renderHits(found) {
  ui.hitsCount.textContent = `(${found.total})`;
  ui.hits.replaceChildren(...found.hits.map((hit) => h('li', { class: 'hit', 'data-subject': hit.subject_kind + ':' + hit.subject },
    h('div', { class: 'hit-head' }, h('span', { class: 'hit-subject' }, hit.subject_kind + ' ' + hit.subject),
      h('span', { class: 'muted' }, `${hit.windows} windows · ${hit.sightings} sightings`)),
    h('ul', { class: 'hit-evidence' }, ...hit.evidence.map((e) => h('li', null,
      `#${e.window + 1} `, timeEl(e.ts), ` · ${e.device || '—'} · ${e.area || ''} (${e.seen}×)`))),
    subjectActions(hit.subject_kind, hit.subject))));
  ui.hitsEmpty.hidden = found.hits.length > 0;
  ui.hitsEmpty.textContent = 'No subject was in enough windows. 无符合条件的对象。';
  if (tmap && tmap.map.getSource('b-evidence')) {
    const points = found.hits.flatMap((hit) => hit.evidence.filter((e) => e.lat != null).map((e) => point(e.lon, e.lat, {})));
    tmap.map.getSource('b-evidence').setData({ type: 'FeatureCollection', features: points });
    tmap.element.dataset.evidence = String(points.length);
  }
}

// --- paths ---------------------------------------------------------------------------------------------

/** Put a subject's path on the map beside the others: its own audited question under the case. */
async function addPath(kind, subject) {
  const c = state.cases.get(caseId());
  if (!c) return say('Choose a case first. 请先选择案件。', true);
  if (paths.full && !paths.has(kind, subject)) {
    return say(`${MAX_SUBJECTS} subjects are on the map: remove one first. 最多同时显示${MAX_SUBJECTS}个对象。`, true);
  }
  const end = new Date(Math.min(platformNow(), Date.parse(c.window_end))).toISOString();
  const params = new URLSearchParams({ start: c.window_start, end, case_id: c.id, purpose: ui.purpose.value.trim() });
  try {
    const entry = await paths.add(kind, subject, params);
    if (!entry) return; // removed while it loaded
    say(entry.count
      ? `${entry.count} sightings of ${kind} ${entry.subject} in the case's window and area. 轨迹已显示。`
      : `No sightings of ${kind} ${entry.subject} in the case's window and area. 无轨迹记录。`);
  } catch (err) {
    showFieldError(err);
  }
}

ui.pathForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const subject = ui.pathSubject.value.trim();
  if (!subject) {
    $('path-subject-error').textContent = 'Type the subject: a plate, tag, card, phone or pseudonym. 请输入对象。';
    $('path-subject-error').hidden = false;
    return;
  }
  $('path-subject-error').hidden = true;
  addPath(ui.pathKind.value, subject);
});

// --- companions ----------------------------------------------------------------------------------------

async function findCompanions(kind, subject) {
  const c = state.cases.get(caseId());
  if (!c) return say('Choose a case first. 请先选择案件。', true);
  const end = new Date(Math.min(platformNow(), Date.parse(c.window_end))).toISOString();
  try {
    const found = await api('POST', '/api/v1/workbench/companions', {
      ...justification(), subject_kind: kind, subject, start: c.window_start, end,
    });
    ui.matesOf.textContent = `· ${kind} ${subject}, ${found.target_sightings} sightings`;
    ui.mates.replaceChildren(...found.companions.map((m) => h('li', { class: 'hit', 'data-subject': m.subject_kind + ':' + m.subject },
      h('div', { class: 'hit-head' }, h('span', { class: 'hit-subject' }, m.subject_kind + ' ' + m.subject),
        h('span', { class: 'muted' }, `${m.places} places · ${m.meetings} meetings`)),
      h('ul', { class: 'hit-evidence' }, ...m.evidence.slice(0, 4).map((e) => h('li', null, timeEl(e.ts), ` · ${e.device || '—'}`))),
      subjectActions(m.subject_kind, m.subject))));
    ui.matesEmpty.hidden = found.companions.length > 0;
    ui.matesEmpty.textContent = 'Nobody was seen with it at two places or more. 无同行对象。';
    await loadWorkspace();
  } catch (err) {
    showFieldError(err);
  }
}

// --- cloned plates -------------------------------------------------------------------------------------

const MONTH_MS = 31 * 86400000;

$('find-clones').addEventListener('click', async () => {
  const c = state.cases.get(caseId());
  if (!c) return say('Choose a case first. 请先选择案件。', true);
  const end = Math.min(platformNow(), Date.parse(c.window_end));
  // A second inside the case's window: its start may carry microseconds a Date cannot hold.
  const start = Math.max(Date.parse(c.window_start) + 1000, end - MONTH_MS);
  try {
    const found = await api('POST', '/api/v1/workbench/cloned-plates', {
      ...justification(), start: new Date(start).toISOString(), end: new Date(end).toISOString(),
    });
    $('clones-count').textContent = `(${found.pairs.length})`;
    $('clone-list').replaceChildren(...found.pairs.map((p) => h('li', { class: 'hit', 'data-subject': 'plate:' + p.plate },
      h('div', { class: 'hit-head' }, h('span', { class: 'hit-subject' }, 'plate ' + p.plate),
        h('span', { class: 'muted' }, `${(p.distance_m / 1000).toFixed(1)} km in ${Math.round(p.seconds / 6) / 10} min · ${Math.round(p.kmh)} km/h`)),
      h('ul', { class: 'hit-evidence' },
        h('li', null, timeEl(p.first.ts), ` · ${p.first.device || '—'} · ${p.first.area || ''}`),
        h('li', null, timeEl(p.second.ts), ` · ${p.second.device || '—'} · ${p.second.area || ''}`)),
      subjectActions('plate', p.plate))));
    if (!found.pairs.length) $('clone-list').replaceChildren(h('li', { class: 'muted' }, 'No plate was read too far apart. 未发现套牌。'));
    await loadWorkspace();
  } catch (err) {
    showFieldError(err);
  }
});

// --- the workspace -------------------------------------------------------------------------------------

async function pin(kind, subject) {
  if (!caseId()) return say('Choose a case first. 请先选择案件。', true);
  try {
    await api('POST', `/api/v1/cases/${encodeURIComponent(caseId())}/pins`, { kind: 'subject', ref: `${kind}:${subject}`, label: '' });
    say(`Pinned ${kind} ${subject} to ${caseId()}. 已钉住。`);
    await loadWorkspace();
  } catch (err) {
    showFieldError(err);
  }
}

async function loadWorkspace() {
  const id = caseId();
  if (!id) {
    for (const list of [ui.queries, ui.pins, ui.notes]) list.replaceChildren();
    return;
  }
  try {
    const space = await api('GET', `/api/v1/cases/${encodeURIComponent(id)}/workspace`);
    ui.queries.replaceChildren(...space.queries.map((q) => h('li', null, timeEl(q.asked_at), ` · ${q.asked_by} · ${q.title}`)));
    ui.pins.replaceChildren(...space.pins.map((p) => h('li', null, `${p.kind} ${p.ref}`, p.label ? ` · ${p.label}` : '', ` · ${p.pinned_by}`)));
    ui.notes.replaceChildren(...space.notes.map((n) => h('li', null, n.text, h('br'), h('span', { class: 'muted' }, n.written_by, ' · ', timeEl(n.written_at)))));
    if (!space.queries.length) ui.queries.replaceChildren(h('li', { class: 'muted' }, 'None yet 暂无'));
  } catch (err) {
    say(plainError(err), true);
  }
}

ui.noteForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!caseId()) return say('Choose a case first. 请先选择案件。', true);
  try {
    await api('POST', `/api/v1/cases/${encodeURIComponent(caseId())}/notes`, { text: ui.noteText.value });
    ui.noteText.value = '';
    await loadWorkspace();
  } catch (err) {
    showFieldError(err);
  }
});

renderWindows();
loadAreas();
loadCases();

