// The dispatch desk (指挥调度): take a call (the place by a map click or coordinates), follow the live
// incidents, rank the units that could go by road ETA (drones by air) with their routes, send the run
// card to every department in one action, follow the orders and the timeline, close the incident, and
// see the units move and the late orders. Everything is read again every few seconds.
import { CityMap } from './citymap.js';
import { api, h, plainError, timeEl } from './common.js';

const $ = (id) => document.getElementById(id);
const root = $('dispatch');
const canOrder = root.dataset.canOrder === 'yes';
const TICK_MS = 4000;
const EMPTY = { type: 'FeatureCollection', features: [] };
const DEPARTMENT = {
  patrol: 'Patrol 巡逻', criminal_investigation: 'Criminal investigation 刑侦', technical_investigation: 'Technical investigation 技侦',
  intelligence: 'Intelligence 情报', traffic: 'Traffic 交警', community: 'Community 社区', anti_fraud: 'Anti-fraud 反诈', air: 'Drones 无人机',
};
const STATUS = {
  open: 'Open 待派', dispatched: 'Dispatched 已派', on_scene: 'On scene 到场', closed: 'Closed 已结', merged: 'Merged 已合并',
  issued: 'Issued 已下达', accepted: 'Accepted 已接收', en_route: 'En route 途中', reported: 'Reported 已反馈', cancelled: 'Cancelled 已撤销',
  available: 'Available 空闲', assigned: 'Assigned 已派', returning: 'Returning 返回', off_duty: 'Off duty 下班',
};
const UNIT_COLOUR = ['match', ['get', 'status'],
  'available', '#15803d', 'assigned', '#d97706', 'en_route', '#d97706', 'on_scene', '#b91c1c', 'returning', '#2563eb', '#6b7280'];
const state = { selected: null, incidents: [], candidates: [], chosen: null };

function sayError(text) {
  const box = $('dispatch-error');
  box.textContent = text;
  box.hidden = !text;
}

const minutes = (s) => (s === null || s === undefined ? '—' : s < 90 ? Math.round(s) + ' s' : (s / 60).toFixed(1) + ' min');

// --- the map ----------------------------------------------------------------------------------------

const cityMap = CityMap.create($('map'), $('map-message'));
const mapReady = cityMap
  ? Promise.all([cityMap.ready, cityMap.loadCity()]).then(() => {
    const map = cityMap.map;
    for (const id of ['circles', 'units', 'incidents', 'route', 'moves']) map.addSource(id, { type: 'geojson', data: EMPTY });
    // The 5-minute circle first (palest), the 1-minute one on top (darkest).
    map.addLayer({ id: 'circle-fill', type: 'fill', source: 'circles',
      // No antialiasing: the cells' shared edges would show as lines.
      paint: { 'fill-color': ['match', ['get', 'minutes'], 1, '#15803d', 3, '#65a30d', '#a3e635'], 'fill-opacity': 0.28,
        'fill-antialias': false } });
    map.addLayer({ id: 'route-line', type: 'line', source: 'route', layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#7c3aed', 'line-width': 4, 'line-opacity': 0.85 } });
    map.addLayer({ id: 'move-line', type: 'line', source: 'moves', layout: { 'line-cap': 'round' },
      paint: { 'line-color': '#0369a1', 'line-width': 3, 'line-dasharray': [2, 1.5] } });
    map.addLayer({ id: 'incident-dot', type: 'circle', source: 'incidents',
      paint: { 'circle-radius': ['case', ['get', 'selected'], 10, 7], 'circle-color': '#dc2626',
        'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } });
    map.addLayer({ id: 'unit-dot', type: 'circle', source: 'units',
      paint: { 'circle-radius': 6, 'circle-color': UNIT_COLOUR, 'circle-stroke-color': '#111827', 'circle-stroke-width': 1 } });
    map.on('click', (e) => {
      const lat = $('call-lat'), lon = $('call-lon');
      if (!lat) return;
      lat.value = e.lngLat.lat.toFixed(6);
      lon.value = e.lngLat.lng.toFixed(6);
      cityMap.element.dataset.picked = lat.value + ',' + lon.value;
    });
    cityMap.element.dataset.state = 'ready';
  })
  : Promise.resolve();

function draw(source, features) {
  if (!cityMap) return;
  mapReady.then(() => {
    cityMap.map.getSource(source).setData({ type: 'FeatureCollection', features });
    cityMap.element.dataset[source] = String(features.length);
  });
}

const pointOf = (lon, lat, props) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties: props });

function drawUnits(units) {
  draw('units', units.map((u) => pointOf(u.lon ?? u.home_lon, u.lat ?? u.home_lat, { id: u.id, status: u.status })));
}

function drawIncidents() {
  draw('incidents', state.incidents.map((i) => pointOf(i.lon, i.lat, { id: i.id, selected: i.id === state.selected })));
}

function drawRoute(candidate) {
  const coords = candidate && candidate.route ? candidate.route.map(([lat, lon]) => [lon, lat]) : [];
  draw('route', coords.length > 1 ? [{ type: 'Feature', geometry: { type: 'LineString', coordinates: coords }, properties: {} }] : []);
}

// --- the lists --------------------------------------------------------------------------------------

// A desk's order is worked from this desk: its next status, and the report back that finishes it.
const DESK_NEXT = { issued: ['accepted', 'Accept 接收'], accepted: ['reported', 'Report back 反馈'] };

function deskActions(o) {
  const next = DESK_NEXT[o.status];
  if (!canOrder || o.unit_id || !next) return null;
  const report = h('input', { name: 'report', maxlength: 4000, placeholder: 'Report 反馈内容', 'aria-label': 'Report back 反馈内容' });
  const form = h('form', { class: 'desk-order', onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api('POST', '/api/v1/orders/' + o.id, { status: next[0], report: report.value.trim() });
      sayError('');
      await refreshSelected();
    } catch (err) { sayError(plainError(err)); }
  } }, next[0] === 'reported' ? report : null, h('button', { type: 'submit' }, next[1]));
  return form;
}

function orderItem(o) {
  const who = o.unit_id ? 'Unit 警组 ' + o.unit_id : 'Desk 席位';
  return h('li', { class: 'order' + (o.late ? ' late' : ''), dataset: { order: o.id, status: o.status } },
    h('span', { class: 'badge status-' + o.status }, STATUS[o.status] || o.status), ' ',
    h('strong', null, DEPARTMENT[o.department] || o.department), ' · ', who,
    o.eta_s !== null ? ' · ETA ' + minutes(o.eta_s) : '',
    h('div', { class: 'muted task' }, o.task),
    h('div', { class: 'muted' }, 'Deadline 时限 ', timeEl(o.deadline_at), o.late ? ' · LATE 超时' : ''),
    o.report ? h('div', { class: 'report' }, 'Report 反馈: ', o.report) : null,
    deskActions(o));
}

async function refreshLate() {
  const late = await api('GET', '/api/v1/orders/late');
  $('late-list').replaceChildren(...late.map((o) => orderItem(o)));
  $('late-empty').hidden = late.length > 0;
}

async function refreshIncidents() {
  state.incidents = await api('GET', '/api/v1/incidents');
  const list = $('incident-list');
  list.replaceChildren(...state.incidents.map((i) => h('li', null,
    h('button', { type: 'button', class: 'incident' + (i.id === state.selected ? ' selected' : ''), dataset: { incident: i.id },
      'aria-pressed': i.id === state.selected ? 'true' : 'false', onclick: () => select(i.id) },
    h('span', { class: 'prio prio-' + i.priority }, 'P' + i.priority), ' #' + i.id + ' ' + i.label, ' ',
    h('span', { class: 'badge status-' + i.status }, STATUS[i.status] || i.status), ' ',
    h('span', { class: 'muted' }, i.address || i.area_id, ' · ', timeEl(i.reported_at))))));
  $('incidents-empty').hidden = state.incidents.length > 0;
  drawIncidents();
}

async function refreshUnits() {
  drawUnits(await api('GET', '/api/v1/units'));
}

async function refreshSelected() {
  if (!state.selected) return;
  const id = state.selected;
  const [incident, orders, timeline] = await Promise.all([
    api('GET', '/api/v1/incidents/' + id), api('GET', '/api/v1/incidents/' + id + '/orders'),
    api('GET', '/api/v1/incidents/' + id + '/timeline'),
  ]);
  if (state.selected !== id) return;
  $('incident-card').hidden = false;
  $('incident-card').dataset.incident = String(id);
  $('incident-card').dataset.status = incident.status;
  $('incident-heading').textContent = 'Incident 警情 #' + id + ' · ' + incident.label;
  $('incident-meta').replaceChildren(h('span', null,
    h('span', { class: 'badge status-' + incident.status }, STATUS[incident.status] || incident.status), ' ',
    'P' + incident.priority, ' · ', incident.address || (incident.lat.toFixed(5) + ', ' + incident.lon.toFixed(5)),
    ' · ', 'Called 报警 ', timeEl(incident.reported_at),
    incident.arrived_at ? [' · On scene 到场 ', timeEl(incident.arrived_at)] : null,
    incident.caller_name ? ' · ' + incident.caller_name + ' ' + incident.caller_phone : null,
    incident.description ? h('div', { class: 'muted' }, incident.description) : null));
  const dup = $('duplicates');
  dup.hidden = !incident.possible_duplicates.length;
  dup.replaceChildren(...incident.possible_duplicates.map((other) => h('p', null,
    'Possibly the same as 可能重复 #' + other + ' ',
    canOrder ? h('button', { type: 'button', dataset: { merge: other }, onclick: () => merge(id, other) }, 'Merge into #' + other + ' 合并') : null)));
  $('order-list').replaceChildren(...orders.map(orderItem));
  $('orders-empty').hidden = orders.length > 0;
  $('timeline').replaceChildren(...timeline.map((e) => h('li', null, timeEl(e.at), ' ', e.what.replaceAll('_', ' '), ' · ', e.actor,
    e.detail.department ? ' · ' + (DEPARTMENT[e.detail.department] || e.detail.department) : '',
    e.detail.unit ? ' · ' + e.detail.unit : '')));
  if (canOrder) {
    const open = incident.status === 'open';
    $('candidates-box').hidden = !open;
    $('close-form').hidden = !['open', 'dispatched', 'on_scene'].includes(incident.status);
    if (open) await refreshCandidates(id);
    else drawRoute(null); // sent: the candidates' route is no longer a proposal
  }
}

async function refreshCandidates(id) {
  const ranked = await api('GET', '/api/v1/incidents/' + id + '/candidates?department=patrol');
  state.candidates = ranked;
  if (!ranked.find((c) => c.unit_id === state.chosen)) state.chosen = ranked.length ? ranked[0].unit_id : null;
  $('candidate-list').replaceChildren(...ranked.slice(0, 8).map((c) => h('li', null,
    h('label', { class: 'candidate' },
      h('input', { type: 'radio', name: 'candidate', value: c.unit_id, checked: c.unit_id === state.chosen,
        onchange: () => { state.chosen = c.unit_id; drawRoute(c); } }),
      ' ', h('strong', null, c.unit_id), ' ', c.kind, ' · ETA ', minutes(c.eta_s), c.by_air ? ' (air 空中)' : '',
      ' · ', Math.round(c.distance_m) + ' m',
      c.coverage_now !== null && c.coverage_now !== undefined
        ? h('span', { class: 'effect' + (c.coverage_without < c.coverage_now ? ' loss' : '') },
          ' · ' + c.district + ' 5 min ' + pct(c.coverage_now) + ' → ' + pct(c.coverage_without))
        : null))));
  $('candidates-empty').hidden = ranked.length > 0;
  drawRoute(ranked.find((c) => c.unit_id === state.chosen));
}

async function select(id) {
  state.selected = id;
  state.chosen = null;
  drawRoute(null);
  drawIncidents();
  for (const b of document.querySelectorAll('button.incident')) {
    const on = Number(b.dataset.incident) === id;
    b.classList.toggle('selected', on);
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  try {
    await refreshSelected();
  } catch (err) { sayError(plainError(err)); }
}

// --- actions ----------------------------------------------------------------------------------------

async function sendOrders() {
  const id = state.selected;
  const button = $('send-orders');
  button.disabled = true;
  try {
    const units = {};
    const versions = {};
    if (state.chosen) {
      units.patrol = state.chosen;
      const unit = (await api('GET', '/api/v1/units')).find((u) => u.id === state.chosen);
      if (unit) versions.patrol = unit.version;
    }
    await api('POST', '/api/v1/incidents/' + id + '/dispatch', { units, versions });
    sayError('');
    drawRoute(null);
    await Promise.all([refreshSelected(), refreshIncidents(), refreshUnits()]);
  } catch (err) {
    sayError(plainError(err));
    await refreshSelected().catch(() => {});
  } finally { button.disabled = false; }
}

async function merge(id, into) {
  try {
    await api('POST', '/api/v1/incidents/' + id + '/merge', { into_id: into });
    await refreshIncidents();
    await select(into);
  } catch (err) { sayError(plainError(err)); }
}

function callBody(form) {
  const data = new FormData(form);
  const body = {};
  for (const [k, v] of data.entries()) if (String(v).trim() !== '') body[k] = String(v).trim();
  for (const k of ['lat', 'lon']) if (k in body) body[k] = Number(body[k]);
  if (body.priority) body.priority = Number(body.priority);
  return body;
}

const callForm = $('call-form');
if (callForm) {
  const kind = $('call-kind');
  const priority = () => { $('call-priority').value = kind.selectedOptions[0].dataset.priority; };
  kind.addEventListener('change', priority);
  priority();
  $('call-submit').disabled = false;
  callForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = $('call-error');
    error.hidden = true;
    const body = callBody(callForm);
    if (!('lat' in body) || !('lon' in body) || Number.isNaN(body.lat) || Number.isNaN(body.lon)) {
      error.textContent = 'Pick the place on the map or type its coordinates. 请在地图上选取位置或输入坐标。';
      error.hidden = false;
      return;
    }
    try {
      const incident = await api('POST', '/api/v1/incidents', body);
      callForm.reset();
      priority();
      await refreshIncidents();
      await select(incident.id);
    } catch (err) {
      error.textContent = plainError(err);
      error.hidden = false;
    }
  });
}

if ($('send-orders')) $('send-orders').addEventListener('click', sendOrders);
if ($('close-form')) {
  $('close-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('POST', '/api/v1/incidents/' + state.selected + '/close', { outcome: $('close-outcome').value.trim() });
      $('close-form').reset();
      await Promise.all([refreshSelected(), refreshIncidents(), refreshUnits()]);
    } catch (err) { sayError(plainError(err)); }
  });
}

// --- response circles and coverage -------------------------------------------------------------------

let circlesDue = 0;
async function refreshCircles() {
  if (Date.now() < circlesDue) return;
  circlesDue = Date.now() + 15000; // heavier than the rest: every 15 s
  const out = await api('GET', '/api/v1/dispatch/circles');
  const features = [...out.circles.features].sort((a, b) => b.properties.minutes - a.properties.minutes);
  draw('circles', features);
  $('coverage-units').textContent = out.units + ' cars and motorcycles available 可用车辆 · ' + out.band;
  const shares = (s) => '1 min ' + pct(s[0]) + ' · 3 min ' + pct(s[1]) + ' · 5 min ' + pct(s[2]);
  $('coverage-list').replaceChildren(...out.districts.map((d) => h('li', { class: d.gap ? 'gap' : null, dataset: { district: d.district } },
    h('strong', null, d.district),
    d.gap ? h('span', { class: 'badge gap-badge' }, 'Gap 覆盖不足 < ' + pct(out.target)) : null,
    d.incidents ? h('span', { class: 'cover-line' }, d.incidents + ' incidents 警情: ' + shares(d.share)) : null,
    d.residents ? h('span', { class: 'cover-line' }, d.residents + ' residents 人口: ' + shares(d.population_share)) : null)));
  $('coverage-empty').hidden = out.districts.length > 0;
}

// --- repositioning (a suggestion: nothing is ordered) -------------------------------------------------

const repositionForm = $('reposition-form');
if (repositionForm) {
  for (const b of repositionForm.querySelectorAll('button')) b.disabled = false;
  repositionForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const exact = e.submitter ? e.submitter.dataset.exact === 'true' : false;
    const q = new URLSearchParams({ demand: $('reposition-demand').value, minutes: $('reposition-minutes').value, exact: String(exact) });
    $('reposition-result').textContent = exact ? 'Solving the optimum… 正在求最优解…' : 'Working… 计算中…';
    $('reposition-moves').replaceChildren();
    try {
      const out = await api('GET', '/api/v1/dispatch/reposition?' + q);
      if (out.message) {
        $('reposition-result').textContent = out.message;
        draw('moves', []);
        return;
      }
      let text = out.units + ' units 警力 · covered now 当前覆盖 ' + pct(out.share_now) + ' → suggested 建议 ' + pct(out.share_suggested)
        + ' (' + out.method + ', ' + out.seconds.toFixed(2) + ' s)';
      if (out.gap_pct !== null && out.gap_pct !== undefined) {
        text += ' · live heuristic 实时算法 ' + pct(out.heuristic_share) + ', gap 差距 ' + out.gap_pct.toFixed(2) + '%'
          + (out.optimal ? ' (proven optimal 已证最优)' : ' (stopped at the time limit 限时停止: optimum ≤ ' + pct(out.bound_share) + ')');
      }
      $('reposition-result').textContent = text;
      // The longest drives are the ones worth reading first; a long plan is folded after a dozen.
      const moves = [...out.moves].sort((a, b) => b.eta_s - a.eta_s);
      const shown = moves.slice(0, 12).map((m) => h('li', { dataset: { unit: m.unit_id } }, h('strong', null, m.unit_id),
        ' → post 点位 ' + m.to[0].toFixed(4) + ', ' + m.to[1].toFixed(4) + ' · ' + minutes(m.eta_s)));
      if (moves.length > 12) shown.push(h('li', { class: 'muted' }, '… ' + (moves.length - 12) + ' more moves 另有' + (moves.length - 12) + '项调整 (drawn on the map 见地图)'));
      $('reposition-moves').replaceChildren(...(moves.length ? shown
        : [h('li', null, 'Every unit is already where it should be 各警力位置已最优')]));
      draw('moves', out.moves.map((m) => ({ type: 'Feature', properties: { unit: m.unit_id },
        geometry: { type: 'LineString', coordinates: [[m.from[1], m.from[0]], [m.to[1], m.to[0]]] } })));
    } catch (err) { $('reposition-result').textContent = plainError(err); }
  });
}
const pct = (v) => (v === null || v === undefined ? '—' : Math.round(v * 100) + '%');

// --- response times --------------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}
const mins = (v) => (v === null || v === undefined ? '—' : v.toFixed(1) + ' min');

async function refreshKpis() {
  const report = await api('GET', '/api/v1/dispatch/kpis?by=' + $('kpi-by').value);
  const all = report.overall;
  $('kpi-overall').textContent = all.incidents + ' incidents 起 · call→dispatch 派单 ' + mins(all.call_to_dispatch.median)
    + ' · dispatch→arrival 到达 ' + mins(all.dispatch_to_arrival.median) + ' · call→arrival 报警到达 '
    + mins(all.call_to_arrival.median) + ' (mean 平均 ' + mins(all.call_to_arrival.mean) + ', p90 ' + mins(all.call_to_arrival.p90) + ')'
    + (all.not_dispatched ? ' · ' + all.not_dispatched + ' not sent 未派' : '') + (all.not_reached ? ' · ' + all.not_reached + ' not reached 未到' : '');
  const rows = report.rows.filter((r) => r.call_to_arrival.median !== null);
  const chart = $('kpi-chart');
  chart.dataset.rows = String(rows.length);
  const top = Math.max(report.reference_min * 1.3, ...rows.map((r) => r.call_to_arrival.p90 || 0));
  const width = 360, barH = 18, gap = 6, left = 130, height = Math.max(1, rows.length) * (barH + gap) + 24;
  const x = (v) => left + (v / top) * (width - left - 10);
  const root = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, width, height, class: 'kpi-svg' });
  const kinds = new Map([...document.querySelectorAll('#call-kind option, #kpi-kinds option')].map((o) => [o.value, o.textContent]));
  const label = (key) => (report.by === 'kind' ? kinds.get(key) || key : report.by === 'priority' ? 'P' + key : report.by === 'hour' ? key + ':00' : key);
  rows.forEach((r, i) => {
    const y = 4 + i * (barH + gap);
    root.append(svg('text', { x: left - 6, y: y + barH - 5, 'text-anchor': 'end', class: 'kpi-label' }, label(r.key)));
    root.append(svg('rect', { x: left, y, width: x(r.call_to_arrival.p90) - left, height: barH, class: 'kpi-p90' }));
    root.append(svg('rect', { x: left, y, width: x(r.call_to_arrival.median) - left, height: barH, class: 'kpi-median' }));
    root.append(svg('text', { x: x(r.call_to_arrival.p90) + 3, y: y + barH - 5, class: 'kpi-value' }, r.call_to_arrival.median.toFixed(1)));
  });
  const ref = x(report.reference_min);
  root.append(svg('line', { x1: ref, x2: ref, y1: 0, y2: height - 16, class: 'kpi-reference' }));
  root.append(svg('text', { x: ref, y: height - 4, 'text-anchor': 'middle', class: 'kpi-label' }, report.reference_min + ' min'));
  chart.replaceChildren(root);
}
$('kpi-by').addEventListener('change', () => refreshKpis().catch((err) => sayError(plainError(err))));

async function tick() {
  try {
    await Promise.all([refreshIncidents(), refreshUnits(), refreshLate(), refreshSelected(), refreshKpis(), refreshCircles()]);
    root.dataset.ready = 'yes';
  } catch (err) { sayError(plainError(err)); }
}

tick();
setInterval(tick, TICK_MS);
