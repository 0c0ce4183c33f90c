// My shop (shop owners, phone-sized): armed state, arm and disarm, business hours, staff.
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
    h('p', { class: 'muted hint' }, shop.doors.length + ' door controller' + (shop.doors.length === 1 ? '' : 's') + ' fitted.'),
    staffSection(shop));
}

// --- staff: their identity cards open the shop's door (they do not arm or disarm) ---------------

// The day the owner picked, as a date in China Standard Time (the shop's clock), not the phone's.
const CHINA_DAY = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });

function staffItem(shop, member, refresh, note) {
  const remove = h('button', { type: 'button', class: 'danger small', 'aria-label': 'Remove ' + member.name }, 'Remove');
  remove.addEventListener('click', async () => {
    remove.disabled = true;
    try {
      await api('POST', `/api/v1/shops/${shop.id}/staff/${member.id}/remove`);
      await refresh(`Removed ${member.name}: their card no longer opens the shop door.`, 'success');
    } catch (err) {
      remove.disabled = false;
      note(plainError(err), 'error');
    }
  });
  const until = member.until
    ? h('span', { class: 'muted staff-until' }, 'until ', h('time', { datetime: member.until, title: member.until }, CHINA_DAY.format(new Date(member.until))))
    : null;
  return h('li', { class: 'staff-item', dataset: { staffId: String(member.id) } },
    h('div', { class: 'staff-who' }, h('strong', null, member.name), h('span', { class: 'muted staff-number' }, member.id_number), until),
    remove);
}

function staffForm(shop, refresh, note) {
  const id = (name) => `staff-${shop.id}-${name}`;
  const field = (name, label, attrs) => h('div', { class: 'field' },
    h('label', { for: id(name) }, label), h('input', { id: id(name), name, ...attrs }));
  const form = h('form', { class: 'form staff-form', novalidate: true },
    field('id_number', 'Identity number', { type: 'text', inputmode: 'text', maxlength: '18', autocomplete: 'off', spellcheck: 'false', required: true }),
    field('name', 'Name', { type: 'text', maxlength: '64', autocomplete: 'off', required: true }),
    field('until', 'Until (optional)', { type: 'date' }),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Add staff member 添加店员')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const day = form.elements.until.value;
    const body = {
      card: { id_number: form.elements.id_number.value.trim(), name: form.elements.name.value.trim() },
      // The card works through the day chosen, China Standard Time (the shop's own clock).
      until: day ? `${day}T23:59:59+08:00` : null,
      via: 'typed',
    };
    try {
      const added = await api('POST', `/api/v1/shops/${shop.id}/staff`, body);
      form.reset();
      await refresh(`Added ${added.name}: their card opens the shop door within seconds.`, 'success');
    } catch (err) {
      note(plainError(err), 'error');
    }
  });
  return form;
}

function staffSection(shop) {
  const list = h('ul', { class: 'staff-list', 'aria-label': 'Staff list' });
  const message = h('p', { role: 'status', hidden: true });
  const note = (text, cls) => { message.textContent = text; message.className = cls; message.hidden = !text; };
  const refresh = async (text, cls) => {
    try {
      const staff = await api('GET', `/api/v1/shops/${shop.id}/staff`);
      list.replaceChildren(...(staff.length
        ? staff.map((m) => staffItem(shop, m, refresh, note))
        : [h('li', { class: 'muted staff-empty' }, 'No staff yet.')]));
      note(text || '', cls || '');
    } catch (err) {
      note(plainError(err), 'error');
    }
  };
  refresh();
  return h('section', { class: 'staff', id: `staff-${shop.id}`, 'aria-labelledby': `staff-heading-${shop.id}` },
    h('h3', { id: `staff-heading-${shop.id}` }, 'Staff 店员'),
    h('p', { class: 'muted hint' }, 'Staff open the shop door with their identity card. While the shop is armed a staff card still raises the alarm, and the alarm names the staff member.'),
    list, message, staffForm(shop, refresh, note));
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
