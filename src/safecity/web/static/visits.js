// The community officer's visit list: places by priority with their flats and tasks, outcome buttons,
// flats marked visited, and the suggested walking round drawn on the city map.
import { CityMap } from './citymap.js';
import { api, h, plainError, timeEl } from './common.js';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('place-list'), empty: $('visits-empty'), error: $('visits-error'), notice: $('visits-notice'),
  status: $('visit-status'), community: $('visit-community'), communityField: $('community-field'), count: $('visit-count'), summary: $('round-summary'), position: $('use-position'),
  precision: document.querySelector('#precision-table tbody'), precisionEmpty: $('precision-empty'),
};
const OUTCOMES = [
  ['confirmed', 'Confirmed'], ['explained', 'Explained'], ['no_one_home', 'No one home'], ['false_alarm', 'False alarm'],
];
const OUTCOME_WORDS = Object.fromEntries(OUTCOMES);
const state = { position: null, list: null, areaNames: new Map(), communities: new Set() };
const cityMap = CityMap.create($('map'), $('map-message'));
const mapReady = cityMap ? cityMap.loadCity() : Promise.resolve();

function say(text, isError = false) {
  (isError ? ui.notice : ui.error).hidden = true;
  const target = isError ? ui.error : ui.notice;
  target.textContent = text;
  target.hidden = false;
}

function placeName(place) {
  const parts = [place.compound_name || place.compound_id, place.building_name].filter(Boolean);
  return parts.join(' · ');
}

// --- the list ------------------------------------------------------------------------------------

function taskItem(task) {
  const done = task.status === 'done';
  const note = h('textarea', { class: 'task-note', rows: 2, maxlength: 1000, 'aria-label': 'Note on ' + (task.title || task.rule),
    placeholder: 'What you found (optional)' });
  const outcome = task.outcome
    ? h('span', { class: 'badge result' }, OUTCOME_WORDS[task.outcome] || task.outcome)
    : null;
  return h('li', { class: 'task-item', dataset: { task: task.id, priority: task.priority, status: task.status } },
    h('div', { class: 'task-title' }, h('span', { class: 'badge prio-' + task.priority }, 'P' + task.priority), ' ',
      task.title || task.rule),
    h('div', { class: 'task-meta' }, task.rule, ' · raised ', timeEl(task.created_at), outcome ? ' · ' : null, outcome,
      task.visited_by ? ' by ' + task.visited_by : null),
    task.note ? h('div', { class: 'task-meta' }, '“' + task.note + '”') : null,
    done ? null : note,
    done ? null : h('div', { class: 'outcome-buttons', role: 'group', 'aria-label': 'Outcome' },
      ...OUTCOMES.map(([value, label]) => h('button', { type: 'button', dataset: { outcome: value },
        onclick: (event) => record(task, value, note.value, event.currentTarget) }, label))));
}

function flatBlock(flat) {
  const head = flat.flat_id === null
    ? h('div', { class: 'flat-block-head' }, h('strong', null, 'Whole building'))
    : h('div', { class: 'flat-block-head' },
      h('strong', null, 'Flat ' + flat.number),
      h('span', { class: 'muted' }, 'capacity ' + flat.capacity + ' · ',
        flat.visited_on ? 'visited ' + flat.visited_on : 'not visited yet'),
      h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'mark-visited',
        onclick: (event) => markVisited(flat, event.currentTarget) }, 'Visited today')));
  return h('div', { class: 'flat-block', dataset: { flat: flat.flat_id ?? '' } }, head,
    h('ul', { class: 'task-list' }, ...flat.tasks.map(taskItem)));
}

function placeItem(place, order) {
  return h('li', { class: 'place-item', dataset: { place: place.key } },
    h('div', { class: 'place-head' },
      order ? h('span', { class: 'stop-num', title: 'Stop ' + order + ' of the round' }, String(order)) : null,
      h('h2', null, placeName(place)),
      h('span', { class: 'badge prio-' + place.priority }, 'P' + place.priority)),
    ...place.flats.map(flatBlock));
}

async function load() {
  const params = new URLSearchParams({ status: ui.status.value });
  if (ui.community.value) params.set('community_id', ui.community.value);
  if (state.position) {
    params.set('lat', state.position[0].toFixed(6));
    params.set('lon', state.position[1].toFixed(6));
  }
  let list;
  try {
    list = await api('GET', '/api/v1/visits?' + params);
  } catch (err) {
    say(plainError(err), true);
    return;
  }
  state.list = list;
  ui.error.hidden = true;
  offerCommunities(list);
  const orderOf = new Map(list.round.stops.filter((s) => s.lat !== null).map((s) => [s.key, s.order]));
  ui.list.replaceChildren(...list.places.map((p) => placeItem(p, orderOf.get(p.key))));
  ui.empty.hidden = list.places.length > 0;
  ui.count.textContent = list.open_tasks + ' open';
  const km = (list.round.total_m / 1000).toFixed(2);
  const from = { officer: 'from where you are', community: 'from the community centre', first_place: 'from the first place' };
  ui.summary.textContent = list.round.stops.length
    ? 'Round of ' + list.round.stops.length + (list.round.stops.length === 1 ? ' place, ' : ' places, ') + km + ' km '
      + (from[list.round.start_from] || '')
    : '';
  await drawRound(list.round);
  loadPrecision();
}

let startMarker = null;

// The communities the officer has tasks in, to narrow the list (and start the round at one's centre).
function offerCommunities(list) {
  const before = state.communities.size;
  for (const place of list.places) for (const flat of place.flats) for (const t of flat.tasks) state.communities.add(t.community_id);
  if (state.communities.size === before) return;
  const chosen = ui.community.value;
  ui.community.replaceChildren(h('option', { value: '' }, 'All of mine'),
    ...[...state.communities].sort().map((id) => h('option', { value: id }, state.areaNames.get(id) || id)));
  ui.community.value = chosen;
  ui.communityField.hidden = state.communities.size < 2;
}

async function loadAreaNames() {
  try {
    for (const area of await api('GET', '/api/v1/areas?kind=community')) state.areaNames.set(area.id, area.name);
  } catch (_) {
    /* names are a nicety: ids are shown instead */
  }
}

async function drawRound(round) {
  if (!cityMap) return;
  await mapReady;
  if (startMarker) startMarker.remove();
  startMarker = null;
  if (round.start && round.start_from === 'officer') {
    const here = h('div', { class: 'you-are-here', title: 'You are here' });
    startMarker = new window.maplibregl.Marker({ element: here }).setLngLat([round.start[1], round.start[0]]).addTo(cityMap.map);
  }
  const coords = round.stops.filter((s) => s.lat !== null && s.lon !== null).map((s) => [s.lon, s.lat]);
  if (!coords.length) {
    cityMap.clearPath();
    return;
  }
  const geometry = coords.length > 1 ? { type: 'LineString', coordinates: coords } : { type: 'Point', coordinates: coords[0] };
  cityMap.showPath({ type: 'Feature', geometry, properties: {} });
  // One place has no extent to fit: centre on it at street level instead.
  if (coords.length === 1) cityMap.map.jumpTo({ center: coords[0], zoom: 16 });
}

async function loadPrecision() {
  try {
    const rows = await api('GET', '/api/v1/visits/precision');
    const judged = rows.filter((r) => r.confirmed + r.false_alarm > 0);
    ui.precision.replaceChildren(...judged.map((r) => h('tr', null,
      h('td', null, r.rule), h('td', { class: 'num' }, r.confirmed), h('td', { class: 'num' }, r.false_alarm),
      h('td', { class: 'num' }, Math.round(r.precision * 100) + ' %'))));
    ui.precisionEmpty.hidden = judged.length > 0;
  } catch (err) {
    ui.precisionEmpty.textContent = plainError(err);
    ui.precisionEmpty.hidden = false;
  }
}

// --- what the officer does -------------------------------------------------------------------------

async function record(task, outcome, note, button) {
  button.disabled = true;
  const body = { outcome };
  if (note.trim()) body.note = note.trim();
  try {
    await api('POST', '/api/v1/visits/' + task.id + '/outcome', body);
    say((task.title || task.rule) + ': ' + OUTCOME_WORDS[outcome].toLowerCase() + ' recorded.');
    await load();
  } catch (err) {
    button.disabled = false;
    say(plainError(err), true);
  }
}

async function markVisited(flat, button) {
  button.disabled = true;
  try {
    const answer = await api('POST', '/api/v1/flats/' + flat.flat_id + '/visited', {});
    say('Flat ' + flat.number + ' marked visited on ' + answer.visited_on + '.');
    await load();
  } catch (err) {
    button.disabled = false;
    say(plainError(err), true);
  }
}

ui.status.addEventListener('change', load);
ui.community.addEventListener('change', load);
ui.position.addEventListener('click', () => {
  if (!navigator.geolocation) {
    say('This browser cannot tell where you are; the round starts from the community centre.', true);
    return;
  }
  navigator.geolocation.getCurrentPosition(
    (pos) => { state.position = [pos.coords.latitude, pos.coords.longitude]; load(); },
    (err) => say('Your position is not available (' + err.message + '); the round starts from the community centre.', true),
    { enableHighAccuracy: true, timeout: 10000 });
});

loadAreaNames().then(load);
