// The e-bike desk: register bikes, look them up by tag, report them stolen and mark them recovered.

import { ApiError, api, fieldName, h, humanise, plainError, plainFieldMessage, timeEl } from './common.js';

// The registry names some fields after its own columns; the forms name them after the API body.
const ALIASES = { id_number: 'owner_id_number' };

const results = document.getElementById('bike-results');

// --- forms and their errors --------------------------------------------------------------------

function formValues(form) {
  const values = {};
  for (const [key, raw] of new FormData(form)) {
    const value = String(raw).trim();
    if (value !== '') values[key] = value;
  }
  return values;
}

function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) {
    el.hidden = true;
    el.textContent = '';
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('[data-form-error], [data-form-success]')) el.hidden = true;
}

/** Put each error the API names next to its field; anything else goes to the form's own message. */
function showErrors(form, err) {
  const byField = new Map();
  const items = err.details && err.details.length ? err.details : [{ field: err.field, message: err.message }];
  for (const item of items) {
    let name = fieldName(item.field);
    if (name && name in ALIASES) name = ALIASES[name];
    const input = name ? form.elements.namedItem(name) : null;
    if (input && input.id && !byField.has(input)) byField.set(input, item.message);
  }
  for (const [input, message] of byField) {
    const slot = document.getElementById(input.id + '-error');
    input.setAttribute('aria-invalid', 'true');
    if (slot) {
      slot.textContent = plainFieldMessage(message);
      slot.hidden = false;
    }
  }
  if (!byField.size) {
    const slot = form.querySelector('[data-form-error]');
    slot.textContent = plainError(err);
    slot.hidden = false;
  }
  const first = byField.size ? byField.keys().next().value : null;
  if (first) first.focus();
}

/** Submit a form through `send(values)`; shows field errors, or calls `done(answer, values)`. */
function bindForm(form, send, done) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const values = formValues(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await done(await send(values), values);
    } catch (err) {
      showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });
}

function success(form, text) {
  const slot = form.querySelector('[data-form-success]');
  if (!slot) return;
  slot.textContent = text;
  slot.hidden = false;
}

function fieldEl(prefix, name, label, { type = 'text', required = true, value = '', hint = '', multiline = false } = {}) {
  const id = prefix + '-' + name;
  const described = id + '-error' + (hint ? ' ' + id + '-hint' : '');
  const attrs = { id, name, required, 'aria-describedby': described };
  const input = multiline ? h('textarea', { ...attrs, rows: 2 }) : h('input', { ...attrs, type, value });
  return h('div', { class: 'field' },
    h('label', { for: id }, label, required ? null : h('span', { class: 'muted' }, ' (optional)')), input,
    hint ? h('span', { class: 'hint', id: id + '-hint' }, hint) : null,
    h('span', { class: 'field-error', id: id + '-error', hidden: true }));
}

// --- bike cards ----------------------------------------------------------------------------------

async function activeEntryOf(bike) {
  const entries = await api('GET', '/api/v1/watchlist?status=active&list_kind=stolen_bike&limit=1000');
  return entries.find((e) => e.ebike_id === bike.id) || null;
}

function stolenForm(bike) {
  const prefix = 'stolen-' + bike.id;
  const form = h('form', { class: 'form sub-form', id: prefix, novalidate: true, 'aria-label': 'Report bike ' + bike.tag_id + ' stolen' },
    h('h4', null, 'Report stolen'),
    fieldEl(prefix, 'reported_by', 'Reported by'),
    fieldEl(prefix, 'basis', 'Basis (report number, statement)', { multiline: true }),
    fieldEl(prefix, 'owner', 'Officer answerable', { required: false, hint: 'You, if left empty' }),
    fieldEl(prefix, 'owner_station_id', 'Station answerable', { required: false, hint: "The owner's station or your own, if left empty" }),
    h('p', { class: 'error', role: 'alert', hidden: true, dataset: { formError: '' } }),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'danger' }, 'Report stolen')));
  bindForm(form,
    (values) => api('POST', '/api/v1/bikes/' + bike.id + '/stolen', values),
    () => showBike(bike, 'Bike ' + bike.tag_id + ' is listed as stolen: any base station reading it raises an alert.'));
  return form;
}

function ownerCodeForm(bike) {
  const prefix = 'owner-' + bike.id;
  const form = h('form', { class: 'form sub-form', id: prefix, novalidate: true, 'aria-label': 'Confirm the owner of ' + bike.tag_id },
    h('h4', null, 'Owner confirms'),
    fieldEl(prefix, 'code', "Code from the owner's text message"),
    h('p', { class: 'error', role: 'alert', hidden: true, dataset: { formError: '' } }),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Confirm owner')));
  bindForm(form,
    (values) => api('POST', '/api/v1/bikes/' + bike.id + '/owner', values),
    (fresh) => renderBikes([fresh], 'The owner confirmed: the bike is registered to them.'));
  return form;
}

function recoverForm(bike, entry) {
  const prefix = 'recover-' + entry.id;
  const status = h('select', { id: prefix + '-status', name: 'status', 'aria-describedby': prefix + '-status-error' },
    h('option', { value: 'recovered' }, 'Recovered'), h('option', { value: 'withdrawn' }, 'Report withdrawn'));
  const form = h('form', { class: 'form sub-form', id: prefix, novalidate: true, 'aria-label': 'Close the stolen report of ' + bike.tag_id },
    h('h4', null, 'Close the stolen report'),
    h('div', { class: 'field' }, h('label', { for: prefix + '-status' }, 'Outcome'), status,
      h('span', { class: 'field-error', id: prefix + '-status-error', hidden: true })),
    fieldEl(prefix, 'note', 'Note', { required: false, multiline: true }),
    h('p', { class: 'error', role: 'alert', hidden: true, dataset: { formError: '' } }),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Mark recovered')));
  status.addEventListener('change', () => {
    form.querySelector('button[type="submit"]').textContent = status.value === 'recovered' ? 'Mark recovered' : 'Withdraw report';
  });
  bindForm(form,
    (values) => api('POST', '/api/v1/watchlist/' + entry.id + '/close', values),
    (_, values) => showBike(bike, 'Stolen report closed (' + values.status + '): the tag no longer raises alerts.'));
  return form;
}

// Why the server withheld an owner although a case was named (BikeOut.owner_withheld).
const WITHHELD = {
  outside_case_area: 'not shown: the owner lives outside the case\'s area',
  outside_area: 'not shown: the owner lives outside the areas your account covers',
  home_area_unknown: 'not shown: the owner has no home area on record, so no case covers them',
};

// The owner named at registration is already registered: they confirm first (BikeOut.owner_pending).
const PENDING = {
  code_sent: 'waiting for the owner: a code was sent to their phone on record; enter it below',
  in_person: 'waiting for the owner: no phone on record, they confirm at a police station with their identity card',
};

/** The owner's rows: present after registration (masked) and on look-ups under a case. */
function ownerRows(owner, withheld, pending) {
  if (pending) return [['Owner', h('span', { class: 'muted owner-note' }, PENDING[pending] || pending)]];
  if (!owner) {
    const note = WITHHELD[withheld] || 'owner shown only under a case';
    return [['Owner', h('span', { class: 'muted owner-note' }, note)]];
  }
  const masked = owner.masked ? h('span', { class: 'muted' }, ' (masked)') : null;
  return [
    ['Owner', owner.name],
    ['Identity number', [h('span', { class: 'mono' }, owner.id_number), masked]],
    ['Phone', owner.phone ? [h('span', { class: 'mono' }, owner.phone), masked] : '—'],
  ];
}

function bikeCard(bike, entry, message) {
  const rows = [
    ['Tag', h('span', { class: 'mono' }, bike.tag_id)], ['Frame number', bike.frame_number],
    ['Model', bike.model], ['Colour', bike.colour], ...ownerRows(bike.owner, bike.owner_withheld, bike.owner_pending),
    ['Registered', timeEl(bike.registered_at, { full: true })],
  ];
  if (entry) {
    rows.push(['Reported stolen', timeEl(entry.reported_at, { full: true })], ['Reported by', entry.reported_by],
      ['Basis', entry.basis], ['Officer answerable', entry.owner], ['Listing expires', timeEl(entry.expires_at, { full: true })]);
  }
  let action = null;
  if (bike.owner_pending === 'code_sent') action = ownerCodeForm(bike);
  else if (bike.status === 'registered') action = stolenForm(bike);
  else if (bike.status === 'stolen' && entry) action = recoverForm(bike, entry);
  return h('article', { class: 'bike-card', id: 'bike-' + bike.id, dataset: { status: bike.status } },
    h('header', null, h('h3', null, bike.model + ' · ' + bike.colour),
      h('span', { class: 'badge bike-status', dataset: { status: bike.status } }, humanise(bike.status))),
    message ? h('p', { class: 'success', role: 'status' }, message) : null,
    h('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    action);
}

async function renderBikes(bikes, message) {
  const cards = [];
  for (const bike of bikes) {
    const entry = bike.status === 'stolen' ? await activeEntryOf(bike) : null;
    cards.push(bikeCard(bike, entry, message));
  }
  results.replaceChildren(...cards);
}

/** Read a bike again after a change; an owner already on screen stays there (no new look-up). */
async function showBike(bike, message) {
  try {
    const fresh = await api('GET', '/api/v1/bikes/' + bike.id);
    await renderBikes([{ ...fresh, owner: fresh.owner || bike.owner }], message);
  } catch (err) {
    results.replaceChildren(h('p', { class: 'error', role: 'alert' }, plainError(err)));
  }
  loadStolen();
}

// --- the stolen list -------------------------------------------------------------------------------

async function loadStolen() {
  const body = document.querySelector('#stolen-table tbody');
  const error = document.getElementById('stolen-error');
  try {
    const entries = await api('GET', '/api/v1/watchlist?status=active&list_kind=stolen_bike&limit=100');
    body.replaceChildren(...entries.map((e) => h('tr', null,
      h('td', null, h('button', { type: 'button', class: 'link mono', onclick: () => lookup(e.subject) }, e.subject)),
      h('td', null, timeEl(e.reported_at, { full: true })), h('td', null, e.reported_by), h('td', null, e.basis),
      h('td', null, e.owner), h('td', null, timeEl(e.expires_at, { full: true })))));
    document.getElementById('stolen-empty').hidden = entries.length > 0;
    error.hidden = true;
  } catch (err) {
    error.textContent = plainError(err);
    error.hidden = false;
  }
}

// --- start ---------------------------------------------------------------------------------------

const lookupForm = document.getElementById('lookup-form');

async function lookup(tag) {
  lookupForm.elements.namedItem('tag').value = tag;
  lookupForm.requestSubmit();
}

// The owner is shown only when a case and purpose are given; the server says what is missing.
bindForm(lookupForm,
  async (values) => {
    if (!values.tag) throw new ApiError(422, { error: { message: 'Enter a tag id.', field: 'tag' } });
    const query = new URLSearchParams({ tag: values.tag });
    for (const key of ['case_id', 'purpose']) if (values[key]) query.set(key, values[key]);
    return api('GET', '/api/v1/bikes?' + query);
  },
  async (bikes, values) => {
    if (!bikes.length) {
      results.replaceChildren(h('p', { class: 'muted', role: 'status' }, 'No registered bike carries tag ' + values.tag.toUpperCase() + '.'));
      return;
    }
    await renderBikes(bikes);
  });

const registerForm = document.getElementById('register-form');
bindForm(registerForm,
  (values) => api('POST', '/api/v1/bikes', values),
  async (bike) => {
    registerForm.reset();
    success(registerForm, 'Registered: bike #' + bike.id + ', tag ' + bike.tag_id + '.');
    await renderBikes([bike], 'Registered just now.');
  });

loadStolen();
