// One wearer's page (老人 / 家人): the map with the live position (read again every few seconds), the
// path of the last 24 hours with a time slider, safe zones, open warnings, guardians and consent
// (officers), and the missing-person report: report it, see the last fix, path and search area at
// once, then close it as found (a place clicked on the map, or the last fix) or withdraw it.
import { CityMap } from './citymap.js';
import { api, fieldName, h, plainError, plainFieldMessage, timeEl } from './common.js';
import { WearerMap, distanceText } from './wearermap.js';

const $ = (id) => document.getElementById(id);
const root = $('wearer');
const { mode, oneApi } = root.dataset;
const wearerId = Number(root.dataset.wearer);
const LIVE_EVERY_MS = 5000; // the live position during a search; each read is audited, so not faster
const IDLE_EVERY = 6; // with no search open, every sixth tick (30 s): 120 audited reads an hour, not 720
const REPORT_EVERY = 6; // an open report (its rings grow with time) every sixth live read
const DAY_MS = 24 * 3600 * 1000;
const ui = {
  name: $('wearer-name'), meta: $('wearer-meta'), error: $('wearer-error'), notice: $('wearer-notice'),
  badge: $('missing-badge'), slider: $('time-slider'), sliderTime: $('slider-time'), live: $('live-line'),
  none: $('missing-none'), openButton: $('missing-open'), missingForm: $('missing-form'),
  report: $('missing-open-report'), facts: $('missing-facts'), rings: $('ring-list'),
  foundForm: $('found-form'), withdrawForm: $('withdraw-form'),
  warnings: $('warning-list'), warningsEmpty: $('warnings-empty'), zones: $('zone-list'), zonesEmpty: $('zones-empty'),
  guardians: $('guardian-list'), consent: $('consent-line'),
};
const state = { fixes: [], report: null, polls: 0, followEnd: true };
const dateTime = new Intl.DateTimeFormat(undefined, {
  month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

const cityMap = CityMap.create($('map'), $('map-message'));
const wmap = cityMap ? new WearerMap(cityMap) : null;
// Officers see the city's own map under the wearer; a guardian may not read it, and gets the plain one.
const mapReady = !wmap ? Promise.resolve() : Promise.all([wmap.ready, mode === 'officer' ? cityMap.loadCity() : null]);

function say(text, isError = false) {
  (isError ? ui.notice : ui.error).hidden = true;
  const target = isError ? ui.error : ui.notice;
  target.textContent = text;
  target.hidden = false;
}

// --- the wearer ------------------------------------------------------------------------------------

const areaNames = new Map();

// An officer's areas by name (a guardian may not read the areas: the id is shown).
async function readAreaNames() {
  if (mode !== 'officer') return;
  try {
    for (const area of await api('GET', '/api/v1/areas')) areaNames.set(area.id, area.name);
  } catch (_) {
    /* names are a nicety */
  }
}

function showWearer(w) {
  ui.name.textContent = w.name;
  document.title = w.name + ' · safecity';
  ui.meta.replaceChildren('Area 辖区 ', areaNames.get(w.area_id) || w.area_id, ' · Trackers 定位器 ', w.device_ids.join(', ') || '—',
    w.notes ? ' · ' + w.notes : '');
  ui.warnings.replaceChildren(...w.open_warnings.map((a) => h('li', { class: 'warning-item sev-' + a.severity },
    h('span', { class: 'badge sev sev-' + a.severity }, a.severity), ' ', a.title,
    h('div', { class: 'muted' }, a.rule, ' · since ', timeEl(a.first_seen_at), ' · ', a.status))));
  ui.warningsEmpty.hidden = w.open_warnings.length > 0;
  ui.zones.replaceChildren(...w.safe_zones.map((z) => h('li', { class: 'zone-item' },
    h('strong', null, z.name), ' · ',
    z.shape === 'circle' ? 'circle 圆形, ' + distanceText(z.radius_m) : 'area 多边形, ' + (z.ring.length - 1) + ' corners',
    ' · ', z.hours.length ? z.hours.join(', ') : 'all day 全天')));
  ui.zonesEmpty.hidden = w.safe_zones.length > 0;
  if (ui.guardians) {
    ui.guardians.replaceChildren(...w.guardians.map((g) => h('li', null,
      h('strong', null, g.name), ' (', g.relation, ') · ', g.phone)));
    const inForce = w.consents.filter((c) => !c.withdrawn_at);
    ui.consent.replaceChildren(...(inForce.length
      ? ['Consent in force 已同意: ', ...inForce.flatMap((c, i) => [i ? '; ' : '', c.given_by_name, ' (', c.capacity, '), ',
        c.basis, ', ', timeEl(c.given_at, { full: true })])]
      : ['No consent in force 无有效同意: the rules do not watch this wearer.']));
  }
  if (wmap) wmap.zones(w.safe_zones);
}

/** Read the wearer again (a report, found or withdrawal raises or closes a warning). */
async function refreshWearer() {
  try {
    showWearer(await api('GET', oneApi + '/' + wearerId));
  } catch (err) {
    say(plainError(err), true);
  }
}

// --- path, slider, live position ----------------------------------------------------------------------

function showSlider() {
  const n = state.fixes.length;
  ui.slider.disabled = n < 1;
  ui.slider.max = String(Math.max(0, n - 1));
  if (state.followEnd) ui.slider.value = String(Math.max(0, n - 1));
  moveSlider();
}

function moveSlider() {
  const n = state.fixes.length;
  if (!n) {
    ui.sliderTime.textContent = 'No fixes in the last 24 h 近24小时无定位';
    return;
  }
  const i = Number(ui.slider.value);
  const fix = state.fixes[i];
  ui.sliderTime.textContent = dateTime.format(new Date(fix.ts)) + ' (' + (i + 1) + '/' + n + ')';
  ui.sliderTime.dataset.ts = fix.ts;
  if (wmap) wmap.moveCursor(fix);
}

ui.slider.addEventListener('input', () => {
  state.followEnd = Number(ui.slider.value) === state.fixes.length - 1;
  moveSlider();
});

/** Add fixes (oldest first), dropping those already held; redraw the path, slider and live dot. */
function takeFixes(fixes) {
  const last = state.fixes.length ? state.fixes[state.fixes.length - 1].ts : '';
  const since = Date.parse(last || 0);
  const fresh = fixes.filter((f) => Date.parse(f.ts) > since);
  const dayAgo = Date.now() - DAY_MS;
  const before = state.fixes.length;
  state.fixes = [...state.fixes, ...fresh].filter((f) => Date.parse(f.ts) >= dayAgo);
  if (!fresh.length && state.fixes.length === before) return false;
  const latest = state.fixes[state.fixes.length - 1];
  ui.live.replaceChildren('Live position 实时位置: ', latest ? timeEl(latest.ts, { full: true }) : '—',
    latest ? ' · ' + latest.lat.toFixed(5) + ', ' + latest.lon.toFixed(5) : '');
  if (wmap) {
    wmap.path(state.fixes);
    wmap.livePosition(latest);
  }
  showSlider();
  return true;
}

async function readFixes(first) {
  const last = state.fixes.length ? state.fixes[state.fixes.length - 1].ts : null;
  const query = last && !first ? '?start=' + encodeURIComponent(last) : '';
  const answer = await api('GET', '/api/v1/wearers/' + wearerId + '/fixes' + query);
  return takeFixes(answer.fixes);
}

// --- the missing-person report ------------------------------------------------------------------------

function fact(label, ...value) {
  return [h('dt', null, label), h('dd', null, ...value)];
}

function showReport(report) {
  state.report = report && report.status === 'open' ? report : null;
  const open = Boolean(state.report);
  root.dataset.report = open ? 'open' : 'none';
  ui.badge.hidden = !open;
  ui.none.hidden = open;
  ui.report.hidden = !open;
  if (!open) {
    if (wmap) {
      wmap.searchArea(null);
      wmap.setPoint('last_fix', null);
    }
    return;
  }
  const area = report.search_area;
  const lastFix = report.last_fix;
  ui.facts.replaceChildren(
    ...fact('Reported 报告时间', timeEl(report.reported_at, { full: true }), ' by ', report.reported_by),
    ...fact('Circumstances 情况', report.circumstances),
    ...(report.last_seen_at ? fact('Last seen 最后见到', timeEl(report.last_seen_at, { full: true })) : []),
    ...fact('Last fix 最后定位', lastFix
      ? [timeEl(lastFix.ts, { full: true }), ' · ', lastFix.lat.toFixed(5) + ', ' + lastFix.lon.toFixed(5)]
      : 'none: the locator never reported 定位器从未上报'),
    ...(area ? fact('Could have gone 可能走出', 'up to ', distanceText(area.reach_m), ' in ',
      Math.round(area.elapsed_s / 60), ' min',
      area.heading_deg !== null ? ', heading ' + area.heading_deg + '°' : '') : []));
  ui.rings.replaceChildren(...(area ? area.rings : []).map((r) => h('li', { class: 'ring-item', dataset: { share: r.share } },
    h('strong', null, Math.round(r.share * 100) + '%'), ' within 范围内 ', distanceText(r.radius_m))));
  takeFixes(report.path);
  if (wmap) {
    wmap.setPoint('last_fix', lastFix);
    wmap.searchArea(area);
  }
}

async function readOpenReport() {
  const open = await api('GET', '/api/v1/missing?status=open');
  const mine = open.find((r) => r.wearer_id === wearerId);
  showReport(mine ? await api('GET', '/api/v1/missing/' + mine.id) : null);
}

function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, [data-form-error]')) el.hidden = true;
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Each error the API names goes next to its field; anything else to the form's own message. */
function showErrors(form, err) {
  const items = err.details && err.details.length ? err.details : [{ field: err.field, message: err.message }];
  let first = null;
  for (const item of items) {
    const input = form.elements.namedItem(fieldName(item.field) || '');
    const slot = input && input.id ? $(input.id + '-error') : null;
    if (!slot || !slot.hidden) continue;
    input.setAttribute('aria-invalid', 'true');
    slot.textContent = plainFieldMessage(item.message);
    slot.hidden = false;
    first = first || input;
  }
  if (first) first.focus();
  else {
    const slot = form.querySelector('[data-form-error]');
    slot.textContent = plainError(err);
    slot.hidden = false;
  }
}

/** Submit a form's body to the API; the answer goes to `done`, errors next to their fields. */
async function submit(form, method, url, body, done) {
  clearErrors(form);
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    done(await api(method, url, body));
  } catch (err) {
    showErrors(form, err);
  } finally {
    button.disabled = false;
  }
}

function toggle(form, show) {
  form.hidden = !show;
  if (show) {
    clearErrors(form);
    const first = form.querySelector('textarea, input');
    if (first) first.focus();
  }
}

ui.openButton.addEventListener('click', () => { ui.openButton.hidden = true; toggle(ui.missingForm, true); });
$('missing-cancel').addEventListener('click', () => { toggle(ui.missingForm, false); ui.openButton.hidden = false; });
ui.missingForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = ui.missingForm;
  const seen = form.elements.namedItem('last_seen_at').value;
  const body = { circumstances: form.elements.namedItem('circumstances').value.trim() };
  // datetime-local is the phone's own time: the Date reads it as local and says it in UTC.
  if (seen) body.last_seen_at = new Date(seen).toISOString();
  submit(form, 'POST', '/api/v1/wearers/' + wearerId + '/missing', body, (report) => {
    form.reset();
    form.hidden = true;
    ui.openButton.hidden = false;
    showReport(report);
    say('Reported 已报告: the police and the guardians are told. The map shows where to look. 地图显示搜寻范围。');
    refreshWearer();
  });
});

$('found-open').addEventListener('click', () => { toggle(ui.withdrawForm, false); toggle(ui.foundForm, true); });
$('withdraw-open').addEventListener('click', () => { toggle(ui.foundForm, false); toggle(ui.withdrawForm, true); });
for (const cancel of document.querySelectorAll('[data-cancel]')) {
  cancel.addEventListener('click', () => {
    toggle(cancel.closest('form'), false);
    if (wmap) wmap.setPoint('found', null);
  });
}

function placeFound(lat, lon) {
  ui.foundForm.elements.namedItem('lat').value = lat.toFixed(6);
  ui.foundForm.elements.namedItem('lon').value = lon.toFixed(6);
  if (wmap) wmap.setPoint('found', { lat, lon });
}

$('found-use-last').addEventListener('click', () => {
  const last = (state.report && state.report.last_fix) || state.fixes[state.fixes.length - 1];
  if (last) {
    placeFound(last.lat, last.lon);
    return;
  }
  const slot = ui.foundForm.querySelector('[data-form-error]');
  slot.textContent = 'There is no fix to use: click the map where they were found. 无定位，请点击地图。';
  slot.hidden = false;
});
if (cityMap) {
  cityMap.map.on('click', (event) => {
    if (!ui.foundForm.hidden) placeFound(event.lngLat.lat, event.lngLat.lng);
  });
}

ui.foundForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = ui.foundForm;
  const number = (name) => {
    const text = form.elements.namedItem(name).value.trim();
    return text === '' ? null : Number(text);
  };
  const body = { lat: number('lat'), lon: number('lon'), note: form.elements.namedItem('note').value.trim() };
  submit(form, 'POST', '/api/v1/missing/' + state.report.id + '/found', body, (report) => {
    form.reset();
    form.hidden = true;
    showReport(report);
    if (wmap) wmap.setPoint('found', { lat: report.found_lat, lon: report.found_lon });
    const minutes = report.minutes_to_found === null ? '' : ', ' + Math.round(report.minutes_to_found) + ' min after the report';
    say('Found 已找到' + minutes + '. The warning is closed. 预警已关闭。');
    refreshWearer();
  });
});

ui.withdrawForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = ui.withdrawForm;
  const body = { note: form.elements.namedItem('note').value.trim() };
  submit(form, 'POST', '/api/v1/missing/' + state.report.id + '/withdraw', body, (report) => {
    form.reset();
    form.hidden = true;
    showReport(report);
    say('Withdrawn 已撤销: the warning is closed as a false alarm.');
    refreshWearer();
  });
});

// --- start and keep up ----------------------------------------------------------------------------------

async function poll() {
  if (document.hidden) return;
  state.polls += 1;
  const searching = state.report && state.report.status === 'open';
  if (!searching && state.polls % IDLE_EVERY !== 0) return;
  try {
    await readFixes(false);
    if (state.report && state.polls % REPORT_EVERY === 0) showReport(await api('GET', '/api/v1/missing/' + state.report.id));
  } catch (err) {
    say(plainError(err), true);
  }
}

async function start() {
  let wearer;
  try {
    [wearer] = await Promise.all([api('GET', oneApi + '/' + wearerId), readAreaNames(), mapReady]);
    showWearer(wearer);
    await Promise.all([readFixes(true), readOpenReport()]);
  } catch (err) {
    say(plainError(err), true);
    return;
  }
  if (wmap) {
    wmap.fit();
    cityMap.element.dataset.wearerState = 'ready';
  }
  window.setInterval(poll, LIVE_EVERY_MS);
}

start();
