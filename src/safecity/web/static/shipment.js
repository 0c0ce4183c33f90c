// One shipment's page (危化品运输): the map with the planned route, the restricted zones and permitted
// stop places, the vehicle's path since loading with a time slider and its live position (read again
// every 5 s while in transit, else every 30 s: each read is audited), the open warnings (one selected
// shows its evidence fixes and zone on the map), and the registry facts with the stock movements.
import { CityMap } from './citymap.js';
import { api, h, plainError, timeEl } from './common.js';
import { STATUS_LABEL, ShipmentMap } from './shipmentmap.js';
import { distanceText } from './trackmap.js';

const $ = (id) => document.getElementById(id);
const root = $('shipment');
const shipmentId = Number(root.dataset.shipment);
const BASE = '/api/v1/hazmat/shipments/' + shipmentId;
const TICK_MS = 5000; // the live position in transit; each read is audited, so not faster
const IDLE_EVERY = 6; // otherwise every sixth tick (30 s), and the shipment itself (status, warnings) too
const ui = {
  title: $('ship-title'), status: $('ship-status'), meta: $('ship-meta'), error: $('ship-error'),
  slider: $('time-slider'), sliderTime: $('slider-time'), live: $('live-line'),
  warnings: $('warning-list'), warningsEmpty: $('warnings-empty'), evidence: $('evidence'),
  evidenceList: $('evidence-list'), evidenceRouting: $('evidence-routing'),
  facts: $('ship-facts'), movements: $('movement-list'), movementsEmpty: $('movements-empty'),
  zones: $('zone-list'), zonesEmpty: $('zones-empty'),
};
const state = { shipment: null, fixes: [], polls: 0, followEnd: true, selected: null, details: new Map() };
const dateTime = new Intl.DateTimeFormat(undefined, {
  month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});
const KIND_LABEL = {
  hazmat_off_route: 'Off route 偏离路线', hazmat_long_stop: 'Long stop 长时间停车',
  hazmat_restricted_zone: 'Restricted zone 进入禁行区', hazmat_outside_window: 'Outside window 时段外行驶',
  hazmat_speeding: 'Speeding 超速', hazmat_silent_terminal: 'Silent terminal 终端失联',
  hazmat_quantity_mismatch: 'Quantity mismatch 数量不符', hazmat_stock_unreconciled: 'Stock unreconciled 库存不符',
};

const MOVEMENT_LABEL = { dispatched: 'Dispatched 发出', received: 'Received 接收' };

const cityMap = CityMap.create($('map'), $('map-message'));
const smap = cityMap ? new ShipmentMap(cityMap) : null;
const mapReady = smap ? Promise.all([smap.ready, cityMap.loadCity()]) : Promise.resolve();

function sayError(text) {
  ui.error.textContent = text;
  ui.error.hidden = false;
}

const kg = (value) => (value === null || value === undefined ? '—'
  : Math.abs(value) >= 1000 ? (value / 1000).toLocaleString(undefined, { maximumFractionDigits: 3 }) + ' t'
    : value.toLocaleString(undefined, { maximumFractionDigits: 1 }) + ' kg');

function fact(label, ...value) {
  return [h('dt', null, label), h('dd', null, ...value)];
}

// --- the shipment and its ledger ---------------------------------------------------------------------

function showShipment(s, ledger) {
  state.shipment = s;
  root.dataset.status = s.status;
  const product = ledger ? ledger.product.name : '';
  ui.title.textContent = 'UN' + s.un_number + ' ' + product + ' · ' + s.plate;
  document.title = 'UN' + s.un_number + ' ' + s.plate + ' · safecity';
  ui.status.textContent = STATUS_LABEL[s.status] || s.status;
  ui.status.className = 'badge ship-status status-' + s.status;
  ui.status.hidden = false;
  ui.meta.replaceChildren('Class 类 ', s.hazard_class, ' · ', s.quantity + ' ' + s.unit, ' · ', s.carrier,
    ' · Tracker 定位终端 ', s.device_id, ' (', s.terminal, ')');
  const site = (which) => (ledger ? [ledger[which].name, ' (', ledger[which].licence, ')'] : ['#', s[which + '_site_id']]);
  ui.facts.replaceChildren(
    ...fact('From 发货方', ...site('consignor')),
    ...fact('To 收货方', ...site('consignee')),
    ...fact('Planned 计划量', s.quantity + ' ' + s.unit, s.unit === 't' ? '' : ' = ' + kg(s.quantity_kg)),
    ...fact('Loaded 装车量', kg(s.loaded_kg), s.loaded_at ? [' · ', timeEl(s.loaded_at, { full: true })] : ''),
    ...fact('Delivered 送达量', kg(s.delivered_kg), s.delivered_at ? [' · ', timeEl(s.delivered_at, { full: true })] : ''),
    ...(s.difference_kg !== null ? fact('Difference 差额', kg(s.difference_kg)) : []),
    ...fact('Departure 出发时段', timeEl(s.depart_from, { full: true }), ' – ', timeEl(s.depart_until, { full: true })),
    ...fact('Arrival 到达时段', timeEl(s.arrive_from, { full: true }), ' – ', timeEl(s.arrive_until, { full: true })),
    ...(s.departed_at ? fact('Departed 出发', timeEl(s.departed_at, { full: true })) : []),
  );
  if (ledger) {
    const siteName = (id) => (id === ledger.consignor.id ? ledger.consignor.name : id === ledger.consignee.id ? ledger.consignee.name : '#' + id);
    ui.movements.replaceChildren(...ledger.movements.map((m) => h('li', { class: 'movement-item', dataset: { kind: m.kind } },
      h('strong', null, MOVEMENT_LABEL[m.kind] || m.kind), ' · ', siteName(m.site_id), ' · ',
      h('span', { class: 'amount' }, (m.quantity_kg < 0 ? '−' : '+') + kg(Math.abs(m.quantity_kg))),
      m.unit === 'L' ? ' (' + m.quantity + ' L)' : '', ' · ', timeEl(m.at, { full: true }))));
    ui.movementsEmpty.hidden = ledger.movements.length > 0;
  }
  showWarnings(s.warnings);
  if (smap) smap.route(s.route);
}

// --- warnings and their evidence ---------------------------------------------------------------------

function showWarnings(warnings) {
  ui.warnings.replaceChildren(...warnings.map((w) => h('li', { class: 'ship-warning' },
    h('button', {
      type: 'button', class: 'warning-button', 'aria-pressed': String(state.selected === w.alert_id),
      dataset: { alert: w.alert_id, kind: w.rule_kind }, onclick: () => select(w),
    },
    h('strong', null, KIND_LABEL[w.rule_kind] || w.rule_kind),
    h('span', { class: 'warning-title' }, w.title),
    h('span', { class: 'muted' }, w.status, ' · ', timeEl(w.last_seen_at))))));
  ui.warningsEmpty.hidden = warnings.length > 0;
}

async function select(warning) {
  if (state.selected === warning.alert_id) {
    state.selected = null;
    ui.evidence.hidden = true;
    if (smap) smap.highlight(null, [], null);
    showWarnings(state.shipment.warnings);
    return;
  }
  state.selected = warning.alert_id;
  showWarnings(state.shipment.warnings);
  let detail = state.details.get(warning.alert_id);
  try {
    if (!detail) {
      detail = await api('GET', '/api/v1/alerts/' + encodeURIComponent(warning.alert_id));
      state.details.set(warning.alert_id, detail);
    }
  } catch (err) {
    sayError('The warning\'s evidence could not be read 无法读取证据: ' + plainError(err));
    return;
  }
  if (state.selected !== warning.alert_id) return; // another was chosen meanwhile
  const zone = detail.facts && detail.facts.zone;
  const facts = detail.facts || {};
  ui.evidenceRouting.replaceChildren(...[
    zone ? ['Zone 区域: ', h('strong', null, zone.name), ' · '] : [],
    facts.farthest_m !== undefined ? ['Farthest 最远 ', distanceText(facts.farthest_m), ' · '] : [],
    facts.top_speed_kmh !== undefined ? ['Top speed 最高 ', Math.round(facts.top_speed_kmh), ' km/h · '] : [],
    'Station 派出所: ', detail.routing.station_name || detail.routing.station_id,
  ].flat());
  ui.evidenceList.replaceChildren(...detail.evidence.map((e) => h('li', null, timeEl(e.ts, { full: true }),
    e.lat !== null ? ' · ' + e.lat.toFixed(5) + ', ' + e.lon.toFixed(5) : '')));
  ui.evidence.hidden = false;
  if (smap) smap.highlight(warning.alert_id, detail.evidence, zone ? zone.id : null);
}

// --- zones ---------------------------------------------------------------------------------------------

function showZones(zones) {
  ui.zones.replaceChildren(...zones.map((z) => h('li', { class: 'zone-item', dataset: { kind: z.kind } },
    h('span', { class: 'key ' + (z.kind === 'restricted' ? 'key-restricted' : 'key-stop'), 'aria-hidden': 'true' }), ' ',
    h('strong', null, z.name), ' · ', z.kind === 'restricted' ? 'restricted 禁行' : 'stop 停靠', ' · ', z.category,
    z.geometry.type === 'Circle' ? ' · ' + distanceText(z.geometry.radius_m) : '')));
  ui.zonesEmpty.hidden = zones.length > 0;
  if (smap) smap.zones(zones);
}

// --- path, slider, live position -------------------------------------------------------------------------

function moveSlider() {
  const n = state.fixes.length;
  if (!n) {
    ui.sliderTime.textContent = state.shipment && state.shipment.loaded_at ? 'No fixes yet 暂无定位' : 'Not loaded yet 尚未装车';
    return;
  }
  const i = Number(ui.slider.value);
  const fix = state.fixes[i];
  ui.sliderTime.textContent = dateTime.format(new Date(fix.ts)) + (fix.speed_kmh !== null ? ' · ' + Math.round(fix.speed_kmh) + ' km/h' : '')
    + ' (' + (i + 1) + '/' + n + ')';
  ui.sliderTime.dataset.ts = fix.ts;
  if (smap) smap.moveCursor(fix);
}

ui.slider.addEventListener('input', () => {
  state.followEnd = Number(ui.slider.value) === state.fixes.length - 1;
  moveSlider();
});

/** Add fixes (oldest first), dropping those already held; redraw the path, slider and live dot. */
function takeFixes(fixes) {
  const since = state.fixes.length ? Date.parse(state.fixes[state.fixes.length - 1].ts) : -Infinity;
  const fresh = fixes.filter((f) => Date.parse(f.ts) > since);
  if (fresh.length || !state.fixes.length) {
    state.fixes = [...state.fixes, ...fresh];
    const latest = state.fixes[state.fixes.length - 1];
    ui.live.replaceChildren('Live position 实时位置: ', latest ? timeEl(latest.ts, { full: true }) : '—',
      latest ? ' · ' + latest.lat.toFixed(5) + ', ' + latest.lon.toFixed(5) : '',
      latest && latest.speed_kmh !== null ? ' · ' + Math.round(latest.speed_kmh) + ' km/h' : '');
    if (smap) {
      smap.path(state.fixes);
      smap.livePosition(latest);
    }
  }
  const n = state.fixes.length;
  ui.slider.disabled = n < 1;
  ui.slider.max = String(Math.max(0, n - 1));
  if (state.followEnd) ui.slider.value = String(Math.max(0, n - 1));
  moveSlider();
}

async function readFixes() {
  const last = state.fixes.length ? state.fixes[state.fixes.length - 1].ts : null;
  const answer = await api('GET', BASE + '/fixes' + (last ? '?start=' + encodeURIComponent(last) : ''));
  takeFixes(answer.fixes);
}

// --- start and keep up ----------------------------------------------------------------------------------

async function poll() {
  if (document.hidden || !state.shipment) return;
  state.polls += 1;
  const idleTick = state.polls % IDLE_EVERY === 0;
  if (state.shipment.status !== 'in_transit' && !idleTick) return;
  try {
    await readFixes();
    if (idleTick) showShipment(await api('GET', BASE), await api('GET', BASE + '/movements'));
  } catch (err) {
    sayError(plainError(err));
  }
}

async function start() {
  try {
    const [shipment, ledger, zones] = await Promise.all([
      api('GET', BASE),
      api('GET', BASE + '/movements'),
      api('GET', '/api/v1/hazmat/zones').catch(() => []),
      mapReady,
    ]);
    showShipment(shipment, ledger);
    showZones(zones);
    await readFixes();
  } catch (err) {
    sayError(plainError(err));
    return;
  }
  if (smap) {
    smap.fit();
    cityMap.element.dataset.shipmentState = 'ready';
  }
  root.dataset.state = 'ready';
  window.setInterval(poll, TICK_MS);
}

start();
