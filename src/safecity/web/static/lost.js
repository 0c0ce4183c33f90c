// The lost person's photo (走失人员照片比对): the photo searched under a case; candidates most alike
// first with their (masked) images, and on the city map in time order as the probable path, with the
// elderly locator's last fix beside when the person wears one.
import { api, fieldName, h, plainError, plainFieldMessage, timeEl } from './common.js';
import { CityMap } from './citymap.js';

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('lost-form'), caseSelect: $('case'), purpose: $('purpose'), photos: $('photos'), hours: $('hours'),
  wearer: $('wearer'), error: $('lost-error'), notice: $('lost-notice'), list: $('candidates'),
  empty: $('candidates-empty'), count: $('candidates-count'), lastFix: $('last-fix'),
};
const PATH = 'lost-path';
const cityMap = CityMap.create($('map'), $('map-message'));
const ready = cityMap ? Promise.all([cityMap.ready, cityMap.loadCity()]).then(() => {
  cityMap.map.addSource(PATH, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  cityMap.map.addLayer({ id: PATH, type: 'line', source: PATH, paint: { 'line-color': '#0072B2', 'line-width': 3, 'line-dasharray': [2, 1] } });
}) : Promise.resolve();
let markers = [];

function say(text, isError) {
  ui.error.hidden = ui.notice.hidden = true;
  const target = isError ? ui.error : ui.notice;
  target.textContent = text;
  target.hidden = !text;
}

function showError(err) {
  const field = fieldName(err.field);
  const slot = field ? $(`${field.replace(/\[\d+\]$/, '')}-error`) : null;
  if (slot) {
    slot.textContent = plainFieldMessage(err.message);
    slot.hidden = false;
  }
  say((field ? field + ': ' : '') + plainError(err), true);
}

async function loadCases() {
  try {
    const cases = await api('GET', '/api/v1/cases?status=open');
    ui.caseSelect.replaceChildren(
      h('option', { value: '' }, cases.length ? 'Choose a case 选择案件' : 'No open case: open one on the workbench 无进行中案件'),
      ...cases.map((c) => h('option', { value: c.id }, `${c.id} ${c.title}`)));
    const params = new URLSearchParams(location.search);
    const wanted = params.get('case');
    if (wanted && cases.some((c) => c.id === wanted)) ui.caseSelect.value = wanted;
    else if (cases.length === 1) ui.caseSelect.value = cases[0].id;
    if (params.get('wearer')) ui.wearer.value = params.get('wearer');
  } catch (err) {
    showError(err);
  }
}

function imageUrl(candidate) {
  const q = new URLSearchParams({ case_id: ui.caseSelect.value, purpose: ui.purpose.value.trim() });
  return `/api/v1/faces/sightings/${candidate.sighting_id}/image?${q}`;
}

function showCandidates(answer) {
  ui.count.textContent = `(${answer.candidates.length} of ${answer.searched} faces searched 共比对 ${answer.searched} 张人脸)`;
  ui.empty.hidden = answer.candidates.length > 0;
  ui.empty.textContent = 'No face of the case\'s areas came near the photo. 案件辖区内无相似人脸。';
  ui.list.replaceChildren(...answer.candidates.map((c, i) => h('li', { class: 'lost-candidate' },
    h('img', { src: imageUrl(c), alt: `Candidate ${i + 1} camera image 候选抓拍`, loading: 'lazy' }),
    h('div', {},
      h('span', { class: 'rank' }, String(i + 1)), h('strong', {}, c.device),
      h('dl', {},
        h('dt', {}, 'Seen 时间'), h('dd', {}, timeEl(c.ts, { full: true })),
        h('dt', {}, 'Area 辖区'), h('dd', {}, c.area || '—'),
        h('dt', {}, 'Likeness 相似度'), h('dd', {}, `distance ${c.distance.toFixed(2)} (same person under 0.6)`))))));
}

async function drawPath(answer) {
  await ready;
  if (!cityMap) return;
  for (const m of markers) m.remove();
  markers = [];
  cityMap.map.getSource(PATH).setData(answer.path);
  const byTime = [...answer.candidates].filter((c) => c.lat != null).sort((a, b) => a.ts.localeCompare(b.ts));
  byTime.forEach((c) => {
    const rank = answer.candidates.indexOf(c) + 1;
    const el = h('div', { class: 'lost-marker', title: `${rank}: ${c.device} ${c.ts}` }, String(rank));
    markers.push(new window.maplibregl.Marker({ element: el }).setLngLat([c.lon, c.lat]).addTo(cityMap.map));
  });
  const coords = byTime.map((c) => [c.lon, c.lat]);
  $('map').dataset.candidates = String(coords.length);
  if (coords.length) {
    const lons = coords.map((p) => p[0]);
    const lats = coords.map((p) => p[1]);
    cityMap.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 60, maxZoom: 15, animate: false });
  }
}

async function lastFix() {
  ui.lastFix.hidden = true;
  const wearer = ui.wearer.value.trim();
  if (!wearer) return;
  try {
    const track = await api('GET', `/api/v1/wearers/${encodeURIComponent(wearer)}/fixes`);
    const fix = track.fixes[track.fixes.length - 1];
    if (!fix) {
      ui.lastFix.replaceChildren(`Locator of wearer #${wearer}: no fix in the last day 定位器近一天无定位。`);
    } else {
      ui.lastFix.replaceChildren(`Locator's last fix 定位器最后位置: `, timeEl(fix.ts, { full: true }));
      await ready;
      if (cityMap) markers.push(new window.maplibregl.Marker({ element: h('div', { class: 'lost-marker fix', title: 'Locator 定位器' }, 'L') })
        .setLngLat([fix.lon, fix.lat]).addTo(cityMap.map));
    }
    ui.lastFix.hidden = false;
  } catch (err) {
    ui.lastFix.replaceChildren(`Locator of wearer #${wearer}: ${plainError(err)}`);
    ui.lastFix.hidden = false;
  }
}

ui.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  for (const el of document.querySelectorAll('.field-error')) el.hidden = true;
  const body = new FormData();
  for (const file of ui.photos.files) body.append('photos', file);
  body.append('case_id', ui.caseSelect.value);
  body.append('purpose', ui.purpose.value.trim());
  body.append('hours', ui.hours.value || '24');
  const button = ui.form.querySelector('button[type="submit"]');
  button.disabled = true;
  say('Comparing… 比对中', false);
  try {
    const answer = await api('POST', '/api/v1/faces/lost', body);
    say(`${answer.candidates.length} candidates 候选 · searched 比对 ${answer.searched}`, false);
    showCandidates(answer);
    await drawPath(answer);
    await lastFix();
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
});

loadCases();
