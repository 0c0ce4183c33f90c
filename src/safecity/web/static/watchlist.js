// The watch list desk (布控): list a wanted person by identity number; see and close the station's entries.
import { api, fieldName, h, plainError, plainFieldMessage, timeEl } from './common.js';

const $ = (id) => document.getElementById(id);
const ui = { face: $('face-form'), vehicle: $('vehicle-form'), form: $('wanted-form'), list: $('entry-list'), empty: $('entries-empty'), error: $('entries-error'), notice: $('entries-notice') };
const KINDS = {
  wanted_person: 'Wanted person 布控人员',
  stolen_bike: 'Stolen e-bike 被盗电动车',
  wanted_vehicle: 'Wanted vehicle 布控车辆',
  stolen_vehicle: 'Stolen vehicle 被盗车辆',
  forged_plate: 'Forged plate 假套牌',
  suspicious_vehicle: 'Suspicious vehicle 可疑车辆',
  fugitive: 'Fugitive 在逃人员',
  missing_person: 'Missing person 走失人员',
};
const VEHICLE_OUTCOMES = [['recovered', 'Found 已查获'], ['withdrawn', 'Withdrawn 撤销']];
// How an entry ends: the person was found (or the bike), or the listing is withdrawn.
const OUTCOMES = {
  wanted_person: [['recovered', 'Found 已到案'], ['withdrawn', 'Withdrawn 撤销']],
  stolen_bike: [['recovered', 'Recovered 已找回'], ['withdrawn', 'Withdrawn 撤销']],
  wanted_vehicle: VEHICLE_OUTCOMES,
  stolen_vehicle: VEHICLE_OUTCOMES,
  forged_plate: VEHICLE_OUTCOMES,
  suspicious_vehicle: VEHICLE_OUTCOMES,
  fugitive: [['recovered', 'Caught 已抓获'], ['withdrawn', 'Withdrawn 撤销']],
  missing_person: [['recovered', 'Found 已找到'], ['withdrawn', 'Withdrawn 撤销']],
};

// --- the form ------------------------------------------------------------------------------------

function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, [data-form-error], [data-form-success]')) el.hidden = true;
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
  if (first) {
    first.focus();
    return;
  }
  const slot = form.querySelector('[data-form-error]');
  slot.textContent = plainError(err);
  slot.hidden = false;
}

ui.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = ui.form;
  clearErrors(form);
  const values = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v).trim()]));
  const body = { id_number: values.id_number.toUpperCase(), basis: values.basis };
  if (values.valid_days) body.valid_days = Number(values.valid_days);
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const entry = await api('POST', '/api/v1/watchlist/persons', body);
    form.elements.namedItem('id_number').value = '';  // the number stays on screen no longer than needed
    form.elements.namedItem('basis').value = '';
    const slot = form.querySelector('[data-form-success]');
    slot.textContent = 'Listed as entry #' + entry.id + ' 布控成功: any door the card opens or tries now raises a warning.';
    slot.hidden = false;
    await load();
  } catch (err) {
    showErrors(form, err);
  } finally {
    button.disabled = false;
  }
});

ui.vehicle.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = ui.vehicle;
  clearErrors(form);
  const values = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v).trim()]));
  const body = { plate: values.plate.toUpperCase(), list_kind: values.list_kind, basis: values.basis };
  if (values.valid_days) body.valid_days = Number(values.valid_days);
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const entry = await api('POST', '/api/v1/watchlist/plates', body);
    form.elements.namedItem('plate').value = '';
    form.elements.namedItem('basis').value = '';
    const slot = form.querySelector('[data-form-success]');
    slot.textContent = 'Listed ' + entry.subject + ' as entry #' + entry.id + ' 布控成功: checkpoint cameras now watch for it.';
    slot.hidden = false;
    await load();
  } catch (err) {
    showErrors(form, err);
  } finally {
    button.disabled = false;
  }
});

if (ui.face) {
  ui.face.addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = ui.face;
    clearErrors(form);
    const body = new FormData();
    for (const name of ['list_kind', 'label', 'basis', 'valid_days']) body.append(name, String(form.elements.namedItem(name).value).trim());
    for (const file of form.elements.namedItem('photos').files) body.append('photos', file);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const enrolled = await api('POST', '/api/v1/faces/enrolments', body);
      form.reset();
      const slot = form.querySelector('[data-form-success]');
      slot.textContent = `Enrolled ${enrolled.reference} as entry #${enrolled.entry_id} from ${enrolled.photos} photo(s) 人脸布控成功: face cameras now compare with it.`;
      slot.hidden = false;
      await load();
    } catch (err) {
      // A photo is named photos[i]: its message goes under the file input.
      if (err.field && /photos\[\d+\]/.test(err.field)) err.field = 'photos';
      showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });
}

// --- the entries -----------------------------------------------------------------------------------

function say(text, isError = false) {
  (isError ? ui.notice : ui.error).hidden = true;
  const target = isError ? ui.error : ui.notice;
  target.textContent = text;
  target.hidden = false;
}

function closeForm(entry, toggle) {
  const id = 'close-' + entry.id;
  const outcome = h('select', { id: id + '-status', name: 'status' },
    ...(OUTCOMES[entry.list_kind] || OUTCOMES.wanted_person).map(([value, label]) => h('option', { value }, label)));
  const note = h('textarea', { id: id + '-note', name: 'note', rows: 2, maxlength: 2000 });
  const form = h('form', { class: 'form close-form', id, hidden: true, 'aria-label': 'Close entry #' + entry.id },
    h('div', { class: 'field' }, h('label', { for: id + '-status' }, 'Outcome 结果'), outcome),
    h('div', { class: 'field' }, h('label', { for: id + '-note' }, 'Note 备注', h('span', { class: 'muted' }, ' (optional)')), note),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Confirm 确认撤控'),
      h('button', { type: 'button', onclick: () => { form.hidden = true; toggle.hidden = false; } }, 'Cancel 取消')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await api('POST', '/api/v1/watchlist/' + entry.id + '/close', { status: outcome.value, note: note.value.trim() });
      say('Entry #' + entry.id + ' closed 已撤控: it no longer raises warnings.');
      await load();
    } catch (err) {
      button.disabled = false;
      say(plainError(err), true);
    }
  });
  return form;
}

function entryItem(entry) {
  const toggle = h('button', { type: 'button', class: 'close-toggle' }, 'Close 撤控');
  const form = closeForm(entry, toggle);
  toggle.addEventListener('click', () => {
    toggle.hidden = true;
    form.hidden = false;
    form.querySelector('select').focus();
  });
  const rows = [
    ['Basis 依据', entry.basis],
    ['Listed by 布控人', entry.reported_by],
    ['Listed 登记', timeEl(entry.reported_at, { full: true })],
    ['Expires 到期', timeEl(entry.expires_at, { full: true })],
  ];
  if (entry.list_kind === 'stolen_bike') rows.unshift(['Tag 标签', h('span', { class: 'mono' }, entry.subject)]);
  if (entry.subject_kind === 'plate') rows.unshift(['Plate 车牌', h('span', { class: 'mono', lang: 'zh' }, entry.subject)]);
  if (entry.subject_kind === 'face') rows.unshift(['Face 人脸', h('span', { class: 'mono' }, entry.subject)]);
  return h('li', { class: 'entry-item', dataset: { entry: entry.id, kind: entry.list_kind } },
    h('div', { class: 'entry-head' },
      h('span', { class: 'badge kind', dataset: { kind: entry.list_kind } }, KINDS[entry.list_kind] || entry.list_kind),
      h('span', { class: 'muted' }, '#' + entry.id + (entry.owner_station_id ? ' · ' + entry.owner_station_id : ' · city-wide 全市'))),
    h('dl', { class: 'entry-facts' }, rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    h('div', { class: 'buttons' }, toggle),
    form);
}

async function load() {
  let entries;
  try {
    entries = await api('GET', '/api/v1/watchlist?status=active&limit=200');
  } catch (err) {
    say(plainError(err), true);
    return;
  }
  ui.error.hidden = true;
  ui.list.replaceChildren(...entries.map(entryItem));
  ui.empty.hidden = entries.length > 0;
}

load();
