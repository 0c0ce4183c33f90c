// The shipments list (危化品运输): shipments from or to the officer's areas, newest first, each with its
// status, UN number and hazard class, product, quantity, consignor → consignee, plate, windows and
// open warnings; filtered by status (kept in the address, so a reload or a link keeps it).
import { api, h, plainError, timeEl } from './common.js';
import { STATUS_LABEL } from './shipmentmap.js';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('ship-list'), empty: $('shipments-empty'), error: $('shipments-error'), status: $('shipments-status'),
  filter: $('status-filter'),
};
const OPEN = ['new', 'acknowledged', 'dispatched'];

// Open warnings counted from the alert list of the officer's areas (one read per status, not one per
// shipment); an officer who may not read alerts sees no counts rather than no list.
async function openWarnings() {
  const counts = new Map();
  try {
    const pages = await Promise.all(OPEN.map((status) => api('GET', '/api/v1/alerts?status=' + status + '&limit=500')));
    for (const alert of pages.flatMap((p) => p.items)) {
      if (alert.subject_kind === 'hazmat_shipment') counts.set(alert.subject, (counts.get(alert.subject) || 0) + 1);
    }
  } catch (_) {
    return null;
  }
  return counts;
}

async function names() {
  const [products, sites] = await Promise.all([
    api('GET', '/api/v1/hazmat/products').catch(() => []),
    api('GET', '/api/v1/hazmat/sites').catch(() => []),
  ]);
  return {
    product: new Map(products.map((p) => [p.un_number, p.name])),
    site: new Map(sites.map((s) => [s.id, s.name])),
  };
}

const window_ = (from, until) => [timeEl(from), ' – ', timeEl(until)];

function item(s, warnings, known) {
  const site = (id) => known.site.get(id) || 'site 站点 #' + id;
  return h('li', { class: 'ship-item status-' + s.status, dataset: { shipment: s.id, status: s.status } },
    h('div', { class: 'wearer-item-head' },
      h('a', { href: '/shipments/' + s.id, class: 'wearer-link' }, 'UN' + s.un_number + ' ' + (known.product.get(s.un_number) || '')),
      h('span', { class: 'badge hazard' }, 'Class 类 ' + s.hazard_class),
      h('span', { class: 'badge ship-status status-' + s.status }, STATUS_LABEL[s.status] || s.status),
      warnings ? h('span', { class: 'badge warn-count' }, warnings + ' warning' + (warnings === 1 ? '' : 's') + ' 预警') : null),
    h('div', { class: 'wearer-item-meta' },
      h('span', null, s.quantity + ' ' + s.unit),
      h('span', { class: 'ends' }, site(s.consignor_site_id), ' → ', site(s.consignee_site_id)),
      h('span', null, 'Plate 车牌 ', h('strong', null, s.plate)),
      h('span', null, 'Departs 出发 ', ...window_(s.depart_from, s.depart_until)),
      h('span', null, 'Arrives 到达 ', ...window_(s.arrive_from, s.arrive_until))));
}

async function load() {
  const status = ui.filter.value;
  ui.status.hidden = false;
  ui.status.textContent = 'Loading… 加载中';
  let shipments;
  let warnings;
  let known;
  try {
    [shipments, warnings, known] = await Promise.all([
      api('GET', '/api/v1/hazmat/shipments' + (status ? '?status=' + encodeURIComponent(status) : '')),
      openWarnings(),
      names(),
    ]);
  } catch (err) {
    ui.status.hidden = true;
    ui.error.textContent = plainError(err);
    ui.error.hidden = false;
    return;
  }
  ui.list.replaceChildren(...shipments.map((s) => item(s, warnings ? warnings.get(String(s.id)) || 0 : 0, known)));
  ui.empty.hidden = shipments.length > 0;
  const warned = warnings ? shipments.filter((s) => warnings.has(String(s.id))).length : 0;
  ui.status.textContent = shipments.length + (shipments.length === 1 ? ' shipment' : ' shipments')
    + (warned ? ' · ' + warned + ' with warnings 有预警' : '');
  ui.error.hidden = true;
  ui.list.dataset.loaded = status || 'all';
}

const wanted = new URLSearchParams(window.location.search).get('status');
if (wanted && [...ui.filter.options].some((o) => o.value === wanted)) ui.filter.value = wanted;
ui.filter.addEventListener('change', () => {
  const url = new URL(window.location.href);
  if (ui.filter.value) url.searchParams.set('status', ui.filter.value);
  else url.searchParams.delete('status');
  window.history.replaceState(null, '', url);
  load();
});
document.getElementById('ship-filter').addEventListener('submit', (event) => event.preventDefault());
load();
