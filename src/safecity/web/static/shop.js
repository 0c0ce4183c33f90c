// My shop (shop owners, phone-sized): armed state, arm and disarm, business hours.
import { api, h, plainError, timeEl } from './common.js';

const DAYS = [['mon', 'Mon'], ['tue', 'Tue'], ['wed', 'Wed'], ['thu', 'Thu'], ['fri', 'Fri'], ['sat', 'Sat'], ['sun', 'Sun']];

function stateLine(shop) {
  const parts = [];
  if (shop.open_now === true) parts.push('open now (business hours)');
  else if (shop.open_now === false) parts.push('closed now (business hours)');
  if (shop.armed_changed_at) {
    const by = shop.armed_changed_by === 'schedule' ? 'by the schedule' : 'by ' + shop.armed_changed_by;
    parts.push((shop.armed ? 'armed ' : 'disarmed ') + by + ' at ');
  }
  const line = h('p', { class: 'muted shop-state' }, parts.join(' · '));
  if (shop.armed_changed_at) line.append(timeEl(shop.armed_changed_at, { full: true }));
  return line;
}

function hoursForm(shop, message) {
  const hours = shop.business_hours || {};
  const rows = DAYS.map(([key, label]) => {
    const span = hours[key];
    return h('tr', null,
      h('th', { scope: 'row' }, h('label', { for: `open-${shop.id}-${key}` }, label)),
      h('td', null, h('input', { type: 'checkbox', id: `open-${shop.id}-${key}`, name: key, checked: Boolean(span), 'aria-label': label + ' open' })),
      h('td', null, h('input', { type: 'time', name: key + '-from', value: span ? span[0] : '09:00', 'aria-label': label + ' opens at' })),
      h('td', null, h('input', { type: 'time', name: key + '-to', value: span ? (span[1] === '24:00' ? '00:00' : span[1]) : '21:00', 'aria-label': label + ' closes at' })));
  });
  const form = h('form', { class: 'form hours-form', novalidate: true },
    h('table', { class: 'hours' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Day'), h('th', { scope: 'col' }, 'Open'),
        h('th', { scope: 'col' }, 'From'), h('th', { scope: 'col' }, 'To'))),
      h('tbody', null, rows)),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'auto_arm', checked: shop.auto_arm }),
      'Arm at closing time and disarm at opening time'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Save hours')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const business = {};
    for (const [key] of DAYS) {
      if (form.elements[key].checked) business[key] = [form.elements[key + '-from'].value, form.elements[key + '-to'].value];
    }
    const body = { business_hours: Object.keys(business).length ? business : null, auto_arm: form.elements.auto_arm.checked };
    try {
      const saved = await api('PUT', `/api/v1/shops/${shop.id}/schedule`, body);
      replaceCard(saved, 'Hours saved.', 'success');
    } catch (err) {
      message.textContent = plainError(err);
      message.className = 'error';
      message.hidden = false;
    }
  });
  return form;
}

function card(shop, note, noteClass) {
  const message = h('p', { role: 'status', class: noteClass || '', hidden: !note }, note || '');
  const toggle = h('button', { type: 'button', class: shop.armed ? 'primary big' : 'danger big' },
    shop.armed ? 'Disarm' : 'Arm now');
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      const answer = await api('POST', `/api/v1/shops/${shop.id}/${shop.armed ? 'disarm' : 'arm'}`);
      replaceCard(answer.shop, answer.shop.armed ? 'Armed: doors opening now alert the patrol.' : 'Disarmed.', 'success');
    } catch (err) {
      toggle.disabled = false;
      message.textContent = plainError(err);
      message.className = 'error';
      message.hidden = false;
    }
  });
  return h('section', { class: 'card shop-card', id: 'shop-' + shop.id, dataset: { armed: String(shop.armed) } },
    h('header', null, h('h2', null, shop.name),
      h('span', { class: 'badge shop-badge', dataset: { armed: String(shop.armed) } }, shop.armed ? 'Armed' : 'Disarmed')),
    stateLine(shop),
    h('div', { class: 'buttons shop-actions' }, toggle),
    message,
    h('h3', null, 'Business hours'),
    h('p', { class: 'muted hint' }, 'Local time. A closing time before the opening time is after midnight.'),
    hoursForm(shop, message),
    h('p', { class: 'muted hint' }, shop.doors.length + ' door controller' + (shop.doors.length === 1 ? '' : 's') + ' fitted.'));
}

function replaceCard(shop, note, noteClass) {
  document.getElementById('shop-' + shop.id).replaceWith(card(shop, note, noteClass));
}

async function load() {
  const status = document.getElementById('shop-status');
  try {
    const shops = await api('GET', '/api/v1/my/shops');
    document.getElementById('shops').replaceChildren(...shops.map((s) => card(s)));
    status.textContent = shops.length ? '' : 'No shop is registered to your account yet: the community officer registers it.';
    status.hidden = shops.length > 0;
  } catch (err) {
    status.textContent = plainError(err);
  }
}

load();
