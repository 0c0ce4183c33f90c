// The officer's handset (警务通, a phone): sign on to a unit, then work its orders: accept, set off,
// arrive, report back (a report is needed to finish); add a note; report an incident from the street.
import { api, h, plainError, timeEl } from './common.js';

const $ = (id) => document.getElementById(id);
const root = $('handset');
const TICK_MS = 4000;
const NEXT = {
  issued: [['accepted', 'Accept 接单']],
  accepted: [['en_route', 'Set off 出发'], ['on_scene', 'Arrived 到达']],
  en_route: [['on_scene', 'Arrived 到达']],
  on_scene: [['reported', 'Report back 反馈']],
};
const STATUS = {
  issued: 'Issued 新指令', accepted: 'Accepted 已接收', en_route: 'En route 途中', on_scene: 'On scene 到场',
  reported: 'Reported 已反馈', available: 'Available 空闲', assigned: 'Assigned 已派', returning: 'Returning 返回',
  off_duty: 'Off duty 下班',
};
const state = { unit: null };

function sayError(text) {
  const box = $('handset-error');
  box.textContent = text;
  box.hidden = !text;
}

async function update(order, status, form) {
  const note = form.querySelector('[name=note]').value.trim();
  const report = form.querySelector('[name=report]').value.trim();
  try {
    await api('POST', '/api/v1/orders/' + order.id, { status: status || order.status, note, report });
    sayError('');
    await refresh();
  } catch (err) { sayError(plainError(err)); }
}

function orderCard(order) {
  const form = h('form', { class: 'order-actions', onsubmit: (e) => { e.preventDefault(); update(order, null, form); } },
    h('label', { for: 'note-' + order.id }, 'Note 备注'),
    h('input', { id: 'note-' + order.id, name: 'note', maxlength: 2000, autocomplete: 'off' }),
    h('label', { for: 'report-' + order.id, hidden: order.status !== 'on_scene' }, 'Report back 反馈内容'),
    h('textarea', { id: 'report-' + order.id, name: 'report', rows: 2, maxlength: 4000, hidden: order.status !== 'on_scene' }),
    h('div', { class: 'buttons' },
      ...(NEXT[order.status] || []).map(([status, label]) => h('button', {
        type: 'button', class: 'primary', dataset: { next: status },
        onclick: () => update(order, status, form),
      }, label)),
      h('button', { type: 'submit' }, 'Save note 保存备注')));
  return h('li', { class: 'handset-order', dataset: { order: order.id, status: order.status } },
    h('div', { class: 'order-head' }, h('span', { class: 'badge status-' + order.status }, STATUS[order.status] || order.status),
      ' #' + order.incident_id),
    h('p', { class: 'task' }, order.task),
    h('p', { class: 'muted' }, 'Deadline 时限 ', timeEl(order.deadline_at), order.late ? ' · LATE 超时' : '',
      order.eta_s !== null ? ' · ETA ' + Math.round(order.eta_s / 6) / 10 + ' min' : ''),
    form);
}

async function showSignOn() {
  const units = await api('GET', '/api/v1/units');
  $('unit-line').textContent = 'Not signed on. Pick your unit. 未上岗，请选择警组。';
  $('sign-off').hidden = true;
  $('sign-on-list').replaceChildren(...units.filter((u) => u.kind !== 'drone').map((u) => h('li', null,
    h('button', { type: 'button', dataset: { unit: u.id }, onclick: () => signOn(u.id) },
      'Sign on 上岗 ', h('strong', null, u.id), ' · ' + u.kind + ' · ' + (STATUS[u.status] || u.status)))));
}

async function signOn(unitId) {
  try {
    await api('POST', '/api/v1/units/' + unitId + '/sign-on');
    await refresh();
  } catch (err) { sayError(plainError(err)); }
}

async function refresh() {
  const unit = await api('GET', '/api/v1/handset/unit');
  state.unit = unit;
  root.dataset.unit = unit ? unit.id : '';
  if (!unit) {
    $('my-orders').replaceChildren();
    $('my-orders-empty').hidden = false;
    await showSignOn();
    return;
  }
  $('sign-on-list').replaceChildren();
  $('sign-off').hidden = false;
  $('unit-line').replaceChildren(h('strong', null, unit.id), ' · ', STATUS[unit.status] || unit.status,
    unit.incident_id ? ' · #' + unit.incident_id : '');
  if (unit.lat !== null && !$('report-lat').value) {
    $('report-lat').value = unit.lat.toFixed(6);
    $('report-lon').value = unit.lon.toFixed(6);
  }
  // Keep what the officer is typing: redraw only when the orders changed.
  const orders = await api('GET', '/api/v1/units/' + unit.id + '/orders');
  const key = orders.map((o) => o.id + ':' + o.status).join(',');
  if (key !== root.dataset.orders) {
    $('my-orders').replaceChildren(...orders.map(orderCard));
    root.dataset.orders = key;
  }
  $('my-orders-empty').hidden = orders.length > 0;
}

$('sign-off').addEventListener('click', async () => {
  try {
    await api('POST', '/api/v1/units/' + state.unit.id + '/sign-off');
    await refresh();
  } catch (err) { sayError(plainError(err)); }
});

$('report-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('report-error');
  error.hidden = true;
  const body = {
    kind: $('report-kind').value, lat: Number($('report-lat').value), lon: Number($('report-lon').value),
    description: $('report-description').value.trim(), source: 'handset',
  };
  try {
    const incident = await api('POST', '/api/v1/incidents', body);
    error.textContent = 'Reported as incident 已上报警情 #' + incident.id;
    error.hidden = false;
    error.classList.add('ok');
    $('report-description').value = '';
  } catch (err) {
    error.classList.remove('ok');
    error.textContent = plainError(err);
    error.hidden = false;
  }
});

$('report-submit').disabled = false;

async function tick() {
  try {
    await refresh();
    root.dataset.ready = 'yes';
  } catch (err) { sayError(plainError(err)); }
}

tick();
setInterval(tick, TICK_MS);
