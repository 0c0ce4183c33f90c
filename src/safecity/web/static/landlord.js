// The landlord app: own flats with occupancy, tenants and check-out, and registering a tenant from
// what an identity-card reader app returns (the JSON of places/schemas.py IdCardIn) or typed in.
import { api, fieldName, h, plainError, plainFieldMessage, timeEl } from './common.js';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('flat-list'), empty: $('flats-empty'), error: $('flats-error'), notice: $('flats-notice'),
  form: $('tenant-form'), flat: $('tenant-flat'), reader: $('reader-json'), readerError: $('reader-error'),
  file: $('reader-file'), fill: $('reader-fill'), photoNote: $('photo-note'),
  quietDays: $('quiet-days'), quietList: $('quiet-list'), quietEmpty: $('quiet-empty'), quietError: $('quiet-error'),
};
const CARD_FIELDS = ['id_number', 'name', 'sex', 'ethnicity', 'birth_date', 'address', 'issuing_authority',
  'valid_from', 'valid_until'];
const state = { flats: [], open: new Set(), photo: null, fromReader: false };

function flatLabel(flat) {
  return flat.number + ' · ' + flat.compound_name + ' ' + flat.building_name;
}

// --- flats and tenants ---------------------------------------------------------------------------

function occupancy(flat) {
  const label = flat.tenants + ' / ' + flat.capacity;
  return h('div', { class: 'occupancy' },
    h('meter', { min: 0, max: Math.max(flat.capacity, flat.tenants), low: flat.capacity, high: flat.capacity,
      optimum: 0, value: flat.tenants, 'aria-label': 'Tenants ' + label }),
    h('span', { class: 'occupancy-text' }, label + ' tenants'),
    flat.over_capacity ? h('span', { class: 'badge over' }, 'over capacity') : null);
}

function flatItem(flat) {
  const open = state.open.has(flat.id);
  return h('li', { class: 'flat-item', dataset: { flat: flat.id, over: flat.over_capacity ? 'yes' : 'no' } },
    h('div', { class: 'flat-head' },
      h('h2', { class: 'flat-number' }, flat.number),
      h('span', { class: 'muted flat-where' }, flat.compound_name + ' ' + flat.building_name)),
    occupancy(flat),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', 'aria-expanded': open ? 'true' : 'false',
        onclick: () => toggleTenants(flat.id) }, open ? 'Hide tenants' : 'Tenants'),
      h('button', { type: 'button', onclick: () => registerInto(flat.id) }, 'Register here')),
    h('div', { class: 'tenants', id: 'tenants-' + flat.id, hidden: !open }));
}

async function loadFlats() {
  try {
    state.flats = await api('GET', '/api/v1/my/flats');
    ui.error.hidden = true;
  } catch (err) {
    ui.error.textContent = plainError(err);
    ui.error.hidden = false;
    return;
  }
  ui.list.replaceChildren(...state.flats.map(flatItem));
  ui.empty.hidden = state.flats.length > 0;
  const chosen = ui.flat.value;
  ui.flat.replaceChildren(...state.flats.map((f) => h('option', { value: f.id }, flatLabel(f))));
  if (chosen) ui.flat.value = chosen;
  await Promise.all([...state.open].map(loadTenants));
  await loadQuiet();
}

// Tenants whose card has opened none of their compound's doors for the chosen number of days.
async function loadQuiet() {
  try {
    const quiet = await api('GET', '/api/v1/my/quiet-tenants?days=' + encodeURIComponent(ui.quietDays.value));
    ui.quietError.hidden = true;
    ui.quietList.replaceChildren(...quiet.map((q) => h('li', { class: 'quiet-item', dataset: { tenancy: q.tenancy_id } },
      h('div', null, h('strong', null, q.name), ' ', h('span', { class: 'mono muted' }, q.id_number)),
      h('div', { class: 'muted' }, 'Flat ' + q.flat_number + ' · ',
        q.last_swipe_at ? ['last at the door ', timeEl(q.last_swipe_at, { full: true })] : 'never at the door',
        ' · ' + q.quiet_days + ' days'))));
    ui.quietEmpty.hidden = quiet.length > 0;
  } catch (err) {
    ui.quietError.textContent = plainError(err);
    ui.quietError.hidden = false;
  }
}

async function loadTenants(flatId) {
  const box = $('tenants-' + flatId);
  if (!box) return;
  try {
    const tenants = await api('GET', '/api/v1/flats/' + flatId + '/tenants');
    box.replaceChildren(tenants.length
      ? h('ul', { class: 'tenant-list', 'aria-label': 'Tenants' }, ...tenants.map((t) => tenantItem(flatId, t)))
      : h('p', { class: 'muted' }, 'No one lives here now.'));
  } catch (err) {
    box.replaceChildren(h('p', { class: 'error', role: 'alert' }, plainError(err)));
  }
}

function tenantItem(flatId, tenant) {
  const button = h('button', { type: 'button', class: 'check-out' }, 'Check out');
  button.addEventListener('click', async () => {
    // Two taps: a phone is easy to brush, and a check-out closes the doors to the tenant at once.
    if (button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = 'Confirm check-out';
      button.classList.add('danger');
      return;
    }
    button.disabled = true;
    try {
      await api('POST', '/api/v1/tenancies/' + tenant.tenancy_id + '/check-out', {});
      say(tenant.name + ' is checked out; their card no longer opens the doors.');
      await loadFlats();
    } catch (err) {
      button.disabled = false;
      say(plainError(err), true);
    }
  });
  return h('li', { class: 'tenant-item', dataset: { tenancy: tenant.tenancy_id } },
    h('div', null, h('strong', null, tenant.name), ' ', h('span', { class: 'mono muted' }, tenant.id_number)),
    h('div', { class: 'muted' }, 'since ', timeEl(tenant.starts_at)),
    button);
}

async function toggleTenants(flatId) {
  if (state.open.has(flatId)) state.open.delete(flatId);
  else state.open.add(flatId);
  ui.list.replaceChildren(...state.flats.map(flatItem));
  if (state.open.has(flatId)) await loadTenants(flatId);
}

function registerInto(flatId) {
  ui.flat.value = String(flatId);
  $('register-card').scrollIntoView({ behavior: 'smooth', block: 'start' });
  $('tenant-id_number').focus({ preventScroll: true });
}

function say(text, isError = false) {
  const target = isError ? ui.error : ui.notice;
  (isError ? ui.notice : ui.error).hidden = true;
  target.textContent = text;
  target.hidden = false;
  target.scrollIntoView({ block: 'nearest' });
}

// --- the card reader -----------------------------------------------------------------------------

/** "19900307" (as a chip gives it) or "1990-03-07" -> "1990-03-07"; "长期" -> "". */
function isoDate(value) {
  const text = String(value || '').trim();
  if (/^\d{8}$/.test(text)) return text.slice(0, 4) + '-' + text.slice(4, 6) + '-' + text.slice(6);
  if (text === '长期' || text.toLowerCase() === 'long-term') return '';
  return text;
}

function fillFromReader(text) {
  ui.readerError.hidden = true;
  let data;
  try {
    data = JSON.parse(text);
  } catch (_) {
    return readerProblem('This is not the JSON a card reader gives: check that all of it was pasted.');
  }
  const card = data && typeof data === 'object' && data.card && typeof data.card === 'object' ? data.card : data;
  if (!card || typeof card !== 'object' || !card.id_number) {
    return readerProblem('The reader output has no id_number: is it the output of an identity-card reader?');
  }
  for (const name of CARD_FIELDS) {
    const input = ui.form.elements[name];
    const value = card[name] === undefined || card[name] === null ? '' : String(card[name]);
    input.value = name.endsWith('_date') || name.startsWith('valid_') ? isoDate(value) : value.trim();
  }
  if (card.phone && !ui.form.elements.phone.value) ui.form.elements.phone.value = String(card.phone);
  state.photo = typeof card.photo === 'string' && card.photo ? card.photo : null;
  ui.photoNote.hidden = !state.photo;
  state.fromReader = true;
  clearErrors();
  return true;
}

function readerProblem(message) {
  ui.readerError.textContent = message;
  ui.readerError.hidden = false;
  ui.reader.setAttribute('aria-invalid', 'true');
  return false;
}

ui.quietDays.addEventListener('change', loadQuiet);
ui.fill.addEventListener('click', () => fillFromReader(ui.reader.value));
ui.file.addEventListener('change', async () => {
  const [file] = ui.file.files;
  if (!file) return;
  ui.reader.value = await file.text();
  fillFromReader(ui.reader.value);
  ui.file.value = '';
});

// --- registering ---------------------------------------------------------------------------------

function clearErrors() {
  for (const el of ui.form.querySelectorAll('.field-error')) el.hidden = true;
  for (const el of ui.form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  ui.form.querySelector('[data-form-error]').hidden = true;
}

function showError(err) {
  const name = (fieldName(err.field) || '').replace(/^card\./, '');
  const target = name === 'flat_id' ? 'flat' : name;
  const input = target && ui.form.elements[target];
  if (input && input.id) {
    const box = $(input.id + '-error');
    box.textContent = plainFieldMessage(err.message);
    box.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  const box = ui.form.querySelector('[data-form-error]');
  box.textContent = plainError(err);
  box.hidden = false;
}

function cardOf(form) {
  const card = {};
  for (const name of CARD_FIELDS) {
    const value = form.elements[name].value.trim();
    if (value) card[name] = name === 'id_number' ? value.toUpperCase() : value;
  }
  if (state.photo) card.photo = state.photo;
  return card;
}

ui.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors();
  if (!ui.flat.value) return showError({ field: 'flat', message: 'Choose the flat.' });
  const body = { card: cardOf(ui.form), via: state.fromReader ? 'id_card_reader' : 'typed' };
  const phone = ui.form.elements.phone.value.trim();
  if (phone) body.phone = phone;
  const button = ui.form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const answer = await api('POST', '/api/v1/flats/' + ui.flat.value + '/tenants', body);
    const flatId = Number(ui.flat.value);
    ui.form.reset();
    ui.reader.value = '';
    state.photo = null;
    state.fromReader = false;
    ui.photoNote.hidden = true;
    state.open.add(flatId);
    await loadFlats();
    ui.flat.value = String(flatId);
    const notices = answer.notices.length ? ' Note: ' + answer.notices.join('; ') + '.' : '';
    say(answer.tenant.name + ' is registered; their card opens the doors now.' + notices);
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
});

loadFlats();
