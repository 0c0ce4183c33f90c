// Device health: online, usage and swipe rates of door controllers per place, as tables and bars.
import { api, h, plainError, timeEl } from './common.js';

const RATES = [['online_rate', 'Online', 'heard from lately'], ['usage_rate', 'Usage', 'doors swiped that day'], ['swipe_rate', 'Swipe', 'openings by a card']];
const WHY = { offline: 'offline', unused: 'no swipe that day', unswiped: 'opened without a card', out_of_step: 'whitelist out of step' };

function percent(rate) {
  return rate === null || rate === undefined ? '–' : (rate * 100).toFixed(1) + ' %';
}

function bar(rate, target) {
  const fill = h('span', { class: 'fill' + (rate !== null && rate < target ? ' below' : '') });
  fill.style.width = rate === null ? '0' : Math.round(rate * 1000) / 10 + '%';  // CSSOM: allowed by the CSP
  return h('div', { class: 'bar', role: 'img', 'aria-label': percent(rate) }, fill, h('span', { class: 'line' }));
}

function rateCells(row, target) {
  return RATES.flatMap(([key]) => [
    h('td', { class: 'num' + (row[key] !== null && row[key] < target ? ' below' : '') }, percent(row[key])),
    h('td', null, bar(row[key], target)),
  ]);
}

function summary(out) {
  return RATES.map(([key, label, what]) => {
    const rate = out.total[key];
    return h('div', { class: 'figure' },
      h('div', { class: 'what' }, label + ' rate'),
      h('div', { class: 'value' + (rate !== null && rate < out.target ? ' below' : '') }, percent(rate)),
      h('div', { class: 'what' }, key === 'online_rate' ? 'heard from in the last ' + out.online_minutes + ' minutes' : what),
      bar(rate, out.target));
  });
}

// Each load numbers its request: an answer that comes back after a newer request was made (the
// page's first load, slow, after the officer already asked for compounds) is dropped.
let latest = 0;

async function load() {
  const asked = ++latest;
  const form = document.getElementById('health-form');
  const status = document.getElementById('health-status');
  const params = new URLSearchParams({ level: form.elements.level.value });
  if (form.elements.day.value) params.set('day', form.elements.day.value);
  status.textContent = 'Loading…';
  try {
    const out = await api('GET', '/api/v1/health/devices?' + params);
    if (asked !== latest) return;
    if (!form.elements.day.value) form.elements.day.value = out.day;
    document.getElementById('health-summary').replaceChildren(...summary(out));
    document.getElementById('health-rows').replaceChildren(...out.rows.map((row) => h('tr', null,
      h('th', { scope: 'row' }, row.name, h('span', { class: 'muted' }, ' ' + row.key)),
      h('td', { class: 'num' }, row.doors), ...rateCells(row, out.target))));
    document.getElementById('health-table').hidden = out.rows.length === 0;
    document.getElementById('dragging-rows').replaceChildren(...out.dragging.map((d) => h('tr', null,
      h('td', null, d.device), h('td', null, d.name), h('td', null, WHY[d.reason] || d.reason),
      h('td', { class: 'num' }, d.openings + ' (' + d.by_swipe + ')'),
      h('td', null, d.last_seen ? timeEl(d.last_seen) : '–'))));
    document.getElementById('dragging-table').hidden = out.dragging.length === 0;
    document.getElementById('dragging-count').textContent = out.dragging_total
      ? out.dragging_total + ' doors pull at least one figure down' + (out.dragging.length < out.dragging_total ? ' (first ' + out.dragging.length + ' shown).' : '.')
      : 'No door pulls a figure down.';
    status.textContent = out.total.doors + ' door controllers; online within ' + out.online_minutes + ' minutes, usage and swipes on ' + out.day + '.';
  } catch (err) {
    if (asked === latest) status.textContent = plainError(err);
  }
}

document.getElementById('health-form').addEventListener('submit', (event) => {
  event.preventDefault();
  load();
});
load();
