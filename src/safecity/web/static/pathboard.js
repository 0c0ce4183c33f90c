// Several subjects' paths on the workbench map side by side (up to five): a suspect's phone and an
// accomplice's plate on one map, to see where they met. Each path is its own audited question under the
// case (the path API; no bulk route, so every subject is justified and recorded on its own). Each
// subject has a letter, a colour of the Okabe-Ito palette (told apart with the common colour-vision
// deficiencies) and a dash of its own, so nothing rests on colour alone. One time slider steps through
// every sighting of every subject in time order and puts each subject's marker where it was last seen at
// that moment; stays are drawn per path; the legend names each subject with its kind, its exports, and
// why it shows nothing (no sightings, a refusal); one table lists the sightings with a subject column.
import { ApiError, api, h, plainError, timeEl } from './common.js';

export const MAX_SUBJECTS = 5;
export const PATH_SOURCE = 'b-paths';
const TABLE_ROWS = 500; // more is for the CSV export, not a page

// Okabe & Ito, "Color Universal Design" (2008), without their yellow (unreadable on the light map).
// `ink` is the letter's colour on the swatch, whichever of black and white contrasts more; `offset`
// (px) sets paths that share streets side by side instead of one over the other.
const SLOTS = [
  { letter: 'A', colour: '#0072B2', ink: '#ffffff', dash: null, offset: 0 },
  { letter: 'B', colour: '#D55E00', ink: '#000000', dash: [2, 1], offset: 4 },
  { letter: 'C', colour: '#009E73', ink: '#000000', dash: [0.5, 1.5], offset: -4 },
  { letter: 'D', colour: '#CC79A7', ink: '#000000', dash: [3, 1, 0.5, 1], offset: 8 },
  { letter: 'E', colour: '#E69F00', ink: '#000000', dash: [1, 1], offset: -8 },
];
const MARKER_SPREAD_PX = 26; // markers at one place stand side by side, this far apart

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
});
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });

/** The map layers of the paths: a line per slot (its own dash and offset), the sightings, the stays. */
export function pathLayers() {
  const lines = SLOTS.map((s, i) => ({
    id: `b-path-line-${i}`, type: 'line', source: PATH_SOURCE,
    filter: ['all', ['==', ['get', 'role'], 'path'], ['==', ['get', 'slot'], i]],
    layout: { 'line-cap': s.dash ? 'butt' : 'round', 'line-join': 'round' },
    paint: {
      'line-color': s.colour, 'line-width': 3.5, 'line-opacity': 0.9, 'line-offset': s.offset,
      ...(s.dash ? { 'line-dasharray': s.dash } : {}),
    },
  }));
  return [...lines,
    { id: 'b-path-stay', type: 'circle', source: PATH_SOURCE, filter: ['==', ['get', 'role'], 'stay'],
      paint: { 'circle-radius': 10, 'circle-color': '#ffffff', 'circle-opacity': 0.75,
        'circle-stroke-color': ['get', 'colour'], 'circle-stroke-width': 3 } },
    { id: 'b-path-sighting', type: 'circle', source: PATH_SOURCE, filter: ['==', ['get', 'role'], 'sighting'],
      paint: { 'circle-radius': 4, 'circle-color': ['get', 'colour'], 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.5 } },
  ];
}

/** As the path API reads a subject: tags and plates in capitals, everything trimmed. */
export function subjectValue(kind, value) {
  const v = String(value || '').trim();
  return kind === 'tag' || kind === 'plate' ? v.toUpperCase() : v;
}

/** The last index of a time-ordered list whose time is at or before t (-1: none). */
function lastAtOrBefore(points, t) {
  let lo = 0;
  let hi = points.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].t <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

const placed = (p) => p.lat != null && p.lon != null;
const paint = (el, slot) => {
  el.style.setProperty('--path-colour', slot.colour); // CSSOM, which the CSP allows (no style attribute)
  el.style.setProperty('--path-ink', slot.ink);
  return el;
};
const swatch = (entry) => paint(h('span', { class: 'path-swatch', 'aria-hidden': 'true' }, entry.letter), entry);
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The subjects on the map, their legend, the shared time slider and the sightings table. */
export class PathBoard {
  /** `ui`: legend, count, slider, input, time, table (tbody), tableNote, filter; `tmap`: a TrackMap or null. */
  constructor({ tmap, ui }) {
    this.tmap = tmap;
    this.ui = ui;
    this.entries = []; // in slot order
    this.steps = []; // every distinct sighting time of every subject, ascending
    ui.input.addEventListener('input', () => this.move());
    ui.filter.addEventListener('change', () => this.renderTable());
  }

  get full() {
    return this.entries.length >= MAX_SUBJECTS;
  }

  has(kind, value) {
    return this.entries.some((e) => e.key === `${kind}:${subjectValue(kind, value)}`);
  }

  /** Put a subject's path on the map, or ask for it again (the purpose may have changed): resolves to
   * its entry, null if it was removed meanwhile; rejects with the API's error, also shown in its entry. */
  async add(kind, value, query) {
    const subject = subjectValue(kind, value);
    const key = `${kind}:${subject}`;
    let entry = this.entries.find((e) => e.key === key);
    if (!entry) {
      if (this.full) throw new Error(`${MAX_SUBJECTS} subjects are on the map: remove one first. 最多同时显示${MAX_SUBJECTS}个对象。`);
      const used = new Set(this.entries.map((e) => e.slot));
      const slot = SLOTS.findIndex((_, i) => !used.has(i));
      entry = { key, kind, subject, slot, ...SLOTS[slot] };
      this.entries.push(entry);
      this.entries.sort((a, b) => a.slot - b.slot);
    }
    const ticket = {};
    Object.assign(entry, { ticket, state: 'loading', message: '', points: [], stays: [], count: 0, exports: null });
    this.render();
    const base = `/api/v1/subjects/${encodeURIComponent(kind)}/${encodeURIComponent(subject)}/path`;
    const current = () => entry.ticket === ticket && this.entries.includes(entry);
    try {
      const found = await api('GET', `${base}?${query}`);
      if (!current()) return null;
      entry.points = found.points.map((p) => ({ ...p, t: Date.parse(p.ts) }));
      entry.stays = found.stays;
      entry.count = found.count;
      entry.state = found.count ? 'shown' : 'empty';
      entry.exports = found.count ? { geojson: `${base}.geojson?${query}`, csv: `${base}.csv?${query}` } : null;
    } catch (err) {
      if (!current()) return null;
      entry.state = err instanceof ApiError && (err.status === 403 || err.status === 404) ? 'refused' : 'failed';
      entry.message = plainError(err);
      this.render();
      throw err;
    }
    this.render({ fit: true });
    return entry;
  }

  remove(key) {
    const entry = this.entries.find((e) => e.key === key);
    if (!entry) return;
    if (entry.marker) entry.marker.remove();
    this.entries.splice(this.entries.indexOf(entry), 1);
    this.render();
  }

  clear() {
    for (const e of this.entries) if (e.marker) e.marker.remove();
    this.entries = [];
    this.render();
  }

  render({ fit = false } = {}) {
    const before = this.steps[Number(this.ui.input.value)];
    const atEnd = Number(this.ui.input.value) >= this.steps.length - 1;
    this.steps = [...new Set(this.entries.flatMap((e) => e.points.map((p) => p.t)))].sort((a, b) => a - b);
    // Stay at the moment being looked at, unless the slider stood at the end (then: the new end).
    const keep = atEnd || before === undefined ? this.steps.length - 1 : Math.max(0, lastAtOrBefore(this.steps.map((t) => ({ t })), before));
    this.ui.input.max = String(Math.max(0, this.steps.length - 1));
    this.ui.input.value = String(Math.max(0, keep));
    this.ui.input.disabled = this.steps.length < 2;
    this.ui.slider.hidden = this.entries.length === 0;
    this.ui.count.textContent = this.entries.length ? `(${this.entries.length}/${MAX_SUBJECTS})` : '';
    this.renderLegend();
    this.draw(fit);
    this.renderFilter();
    this.renderTable();
    this.move();
  }

  renderLegend() {
    this.ui.legend.replaceChildren(...this.entries.map((e) => {
      const name = `${e.kind} ${e.subject}`;
      const stays = e.stays.length ? ` · ${plural(e.stays.length, 'stay 停留', 'stays 停留')}` : '';
      const summary = {
        loading: 'Loading… 加载中',
        shown: `${plural(e.count, 'sighting', 'sightings')}${stays}`,
        empty: 'No sightings in the case\'s window and area. 案件时空范围内无记录。',
        refused: e.message,
        failed: e.message,
      }[e.state];
      e.nowEl = h('span', { class: 'path-now' });
      const links = e.exports && h('span', { class: 'path-exports' }, 'Export 导出: ',
        h('a', { class: 'export-geojson', href: e.exports.geojson, download: true }, 'GeoJSON'), ' · ',
        h('a', { class: 'export-csv', href: e.exports.csv, download: true }, 'CSV'));
      const problem = e.state === 'refused' || e.state === 'failed';
      return paint(h('li', { class: 'path-entry', 'data-subject': e.key, 'data-state': e.state, 'data-letter': e.letter },
        swatch(e),
        h('div', { class: 'path-entry-body' },
          h('div', { class: 'path-entry-head' }, h('span', { class: 'path-name' }, name),
            h('span', { class: problem ? 'path-summary error-text' : 'path-summary muted' }, summary)),
          e.state === 'shown' ? e.nowEl : null,
          links),
        h('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${name} from the map 移除`, onclick: () => this.remove(e.key) },
          'Remove 移除')), e);
    }));
  }

  /** The lines, sightings and stays on the map; a marker per subject for the slider. */
  draw(fit) {
    const shown = this.entries.filter((e) => e.points.some(placed));
    const features = [];
    for (const e of shown) {
      const coords = e.points.filter(placed).map((p) => [p.lon, p.lat]);
      if (coords.length > 1) features.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: coords }, properties: { role: 'path', slot: e.slot } });
      for (const c of coords) features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: c }, properties: { role: 'sighting', colour: e.colour } });
      for (const s of e.stays) features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [s.lon, s.lat] }, properties: { role: 'stay', colour: e.colour, minutes: s.minutes } });
    }
    if (!this.tmap) return;
    const element = this.tmap.element;
    element.dataset.paths = String(shown.length);
    element.dataset.pathPoints = String(shown.reduce((n, e) => n + e.points.filter(placed).length, 0));
    element.dataset.stays = String(shown.reduce((n, e) => n + e.stays.length, 0));
    const source = this.tmap.map.getSource(PATH_SOURCE);
    if (!source) return; // the map has not loaded: drawn again on the next change
    source.setData({ type: 'FeatureCollection', features });
    for (const e of this.entries) {
      if (e.marker && !shown.includes(e)) {
        e.marker.remove();
        e.marker = null;
      }
      if (!e.marker && shown.includes(e)) {
        const el = paint(h('div', { class: 'path-cursor', 'data-subject': e.key, title: `${e.kind} ${e.subject}`, 'aria-hidden': 'true' }, e.letter), e);
        const first = e.points.find(placed);
        e.marker = new window.maplibregl.Marker({ element: el }).setLngLat([first.lon, first.lat]).addTo(this.tmap.map);
      }
    }
    if (fit && shown.length) {
      this.tmap.extent = null;
      for (const e of shown) this.tmap.extend(e.points.filter(placed).map((p) => [p.lon, p.lat]));
      this.tmap.fit();
    }
  }

  /** Every subject's marker where it was last seen at the slider's moment. */
  move() {
    const step = Number(this.ui.input.value);
    const t = this.steps[step];
    if (t === undefined) {
      this.ui.time.textContent = this.entries.some((e) => e.state === 'loading') ? '' : 'No sightings 无轨迹';
      return;
    }
    const multi = this.entries.length > 1;
    const seenNow = [];
    const spots = new Map(); // markers at one place, to stand side by side
    for (const e of this.entries) {
      if (!e.points.length) continue;
      const at = lastAtOrBefore(e.points, t);
      let fix = null;
      for (let i = at; i >= 0 && !fix; i -= 1) if (placed(e.points[i])) fix = e.points[i];
      if (at < 0 || !fix) {
        e.nowEl.textContent = `Not seen yet 尚未出现 · first ${clock.format(new Date(e.points[0].t))}`;
        if (e.marker) {
          e.marker.getElement().classList.add('is-unseen');
          e.marker.getElement().dataset.at = '';
        }
        continue;
      }
      const last = e.points[at];
      if (last.t === t) seenNow.push((multi ? e.letter + ' ' : '') + (last.device || '—'));
      e.nowEl.textContent = `${last.t === t ? 'Seen' : 'Last seen'} ${clock.format(new Date(last.t))} · ${last.device || '—'} (${at + 1}/${e.points.length})`;
      if (e.marker) {
        const el = e.marker.getElement();
        el.classList.remove('is-unseen');
        el.classList.toggle('is-now', last.t === t);
        el.dataset.at = fix.lat.toFixed(6) + ',' + fix.lon.toFixed(6);
        e.marker.setLngLat([fix.lon, fix.lat]);
        const spot = el.dataset.at;
        spots.set(spot, [...(spots.get(spot) || []), e]);
      }
    }
    for (const together of spots.values()) {
      together.forEach((e, i) => e.marker.setOffset([(i - (together.length - 1) / 2) * MARKER_SPREAD_PX, 0]));
    }
    this.ui.time.textContent = `${dateTime.format(new Date(t))}${seenNow.length ? ' · ' + seenNow.join(', ') : ''} (${step + 1}/${this.steps.length})`;
    for (const row of this.ui.table.rows) row.classList.toggle('is-now', Number(row.dataset.t) === t);
  }

  renderFilter() {
    const chosen = this.ui.filter.value;
    this.ui.filter.replaceChildren(h('option', { value: '' }, 'All subjects 全部对象'),
      ...this.entries.filter((e) => e.points.length).map((e) => h('option', { value: e.key }, `${e.letter} · ${e.kind} ${e.subject}`)));
    this.ui.filter.value = this.entries.some((e) => e.key === chosen && e.points.length) ? chosen : '';
  }

  /** The sightings in time order, each with its subject, and the stays that began there. */
  renderTable() {
    const only = this.ui.filter.value;
    const rows = [];
    for (const e of this.entries) {
      if (only && e.key !== only) continue;
      const stayAt = new Map(e.stays.map((s) => [Date.parse(s.start), s]));
      for (const p of e.points) rows.push({ e, p, stay: stayAt.get(p.t) });
    }
    rows.sort((a, b) => a.p.t - b.p.t || a.e.slot - b.e.slot);
    const shown = rows.slice(0, TABLE_ROWS);
    this.ui.table.replaceChildren(...shown.map(({ e, p, stay }) => h('tr', { 'data-t': String(p.t), 'data-subject': e.key },
      h('td', null, swatch(e), ' ', `${e.kind} ${e.subject}`),
      h('td', null, timeEl(p.ts)),
      h('td', null, p.device || '—'),
      h('td', { class: 'col-area' }, p.area || '—'),
      h('td', null, stay ? `${Math.round(stay.minutes)} min 停留` : ''))));
    this.ui.tableNote.textContent = rows.length > TABLE_ROWS
      ? `The first ${TABLE_ROWS} of ${rows.length} sightings; each subject's CSV export has all of its own. 仅显示前${TABLE_ROWS}条。`
      : rows.length ? '' : 'No sightings to list. 无记录。';
  }
}
