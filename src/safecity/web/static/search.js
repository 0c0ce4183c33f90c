// Search and links (搜索与关联): one box over the registries, its results grouped by kind with why
// each matched, and a chosen result's links drawn as rings around it (the first hop inside, the
// second outside), or the shortest connection between two entities drawn as a chain. Every
// question goes through the workbench API, which justifies it by the case and audits it.
import { api, fieldName, h, plainError, plainFieldMessage, timeEl } from './common.js';

const $ = (id) => document.getElementById(id);
const ui = {
  caseSelect: $('case'), purpose: $('purpose'), form: $('search-form'), q: $('q'), kind: $('kind'),
  error: $('search-error'), notice: $('search-notice'), results: $('results'), empty: $('results-empty'),
  count: $('results-count'), linksForm: $('links-form'), hops: $('hops'), to: $('connect-to'),
  linksOf: $('links-of'), linksEmpty: $('links-empty'), graph: $('graph'), graphBox: $('graph-box'), table: $('links-table'), rows: $('link-rows'),
};
const KIND_NAMES = {
  person: 'People 人员', flat: 'Flats 房屋', compound: 'Compounds 小区', shop: 'Shops 商铺', ebike: 'E-bikes 电动车',
  plate: 'Plates 车牌', phone: 'Phones 手机', device: 'Devices 设备', case: 'Cases 案件', alert: 'Alerts 预警',
  incident: 'Incidents 警情',
};
// Kinds drawn in distinct colours (Okabe-Ito, colour-blind safe), with a letter as well as a colour.
const KIND_COLOURS = {
  person: '#0072B2', flat: '#009E73', compound: '#009E73', shop: '#009E73', ebike: '#D55E00', plate: '#CC79A7',
  phone: '#E69F00', card: '#56B4E9', device: '#555555', case: '#000000', alert: '#B00020', incident: '#B00020',
};
const SVG = 'http://www.w3.org/2000/svg';
let current = null; // the node whose links are drawn

function say(text, isError = false) {
  ui.error.hidden = true;
  ui.notice.hidden = true;
  const target = isError ? ui.error : ui.notice;
  target.textContent = text;
  target.hidden = false;
}

function showError(err) {
  for (const el of document.querySelectorAll('.field-error')) el.hidden = true;
  const field = err && err.field;
  const id = { case_id: 'case', purpose: 'purpose', q: 'q' }[field];
  if (id && $(id + '-error')) {
    $(id + '-error').textContent = plainFieldMessage(err.message);
    $(id + '-error').hidden = false;
  }
  say((field ? fieldName(field) + ': ' : '') + plainError(err), true);
}

const justification = () => ({ case_id: ui.caseSelect.value || null, purpose: ui.purpose.value.trim() || null });

async function loadCases() {
  try {
    const cases = await api('GET', '/api/v1/cases?status=open');
    ui.caseSelect.replaceChildren(
      h('option', { value: '' }, cases.length ? 'Choose a case 选择案件' : 'No open case: open one on the workbench 无进行中案件'),
      ...cases.map((c) => h('option', { value: c.id }, `${c.id} ${c.title}`)),
    );
    const wanted = new URLSearchParams(location.search).get('case');
    if (wanted && cases.some((c) => c.id === wanted)) ui.caseSelect.value = wanted;
    else if (cases.length === 1) ui.caseSelect.value = cases[0].id;
  } catch (err) {
    showError(err);
  }
}

async function runSearch(event) {
  event.preventDefault();
  const body = { ...justification(), q: ui.q.value.trim(), kinds: ui.kind.value ? [ui.kind.value] : null };
  try {
    const answer = await api('POST', '/api/v1/workbench/search', body);
    for (const el of document.querySelectorAll('.field-error')) el.hidden = true;
    ui.error.hidden = true;
    showResults(answer);
  } catch (err) {
    showError(err);
  }
}

function showResults(answer) {
  const total = Object.values(answer.totals).reduce((a, b) => a + b, 0);
  ui.count.textContent = `(${total}${answer.more ? '+' : ''})`;
  ui.empty.hidden = total > 0;
  ui.empty.textContent = 'Nothing found in the case\'s areas 案件辖区内未找到';
  ui.results.replaceChildren();
  if (answer.more) {
    ui.results.append(h('p', { class: 'hint', role: 'note' },
      'More matched than were checked: add a word or a character to narrow it. 匹配过多，请补充条件。'));
  }
  for (const [kind, hits] of Object.entries(answer.groups)) {
    const shown = answer.totals[kind] > hits.length ? ` (${hits.length} of ${answer.totals[kind]})` : ` (${hits.length})`;
    ui.results.append(
      h('section', { class: 'result-group', dataset: { kind } },
        h('h3', null, (KIND_NAMES[kind] || kind) + shown),
        h('ul', { class: 'hit-list' }, hits.map(hitItem))),
    );
  }
  say(`Saved in the case as question ${answer.query_id}. 已存入案件。`);
}

function hitItem(hit) {
  const fields = Object.entries(hit.fields).filter(([name, value]) => value && !hit.title.includes(value));
  return h('li', { class: 'hit', dataset: { node: hit.node } },
    h('div', { class: 'hit-head' },
      h('span', { class: `kind-dot kind-${hit.kind}`, 'aria-hidden': 'true' }),
      h('strong', null, hit.title),
      h('button', { type: 'button', class: 'small', onclick: () => openLinks(hit.node, hit.title) }, 'Links 关联'),
      h('button', { type: 'button', class: 'small', title: 'Use as the end of a connection',
        onclick: () => { ui.to.value = hit.node; ui.to.focus(); } }, 'Connect to 设为终点')),
    fields.length ? h('p', { class: 'hit-fields muted' }, fields.map(([n, v]) => `${n}: ${v}`).join(' · ')) : null,
    h('ul', { class: 'why' }, hit.why.map((w) => h('li', null, w))),
  );
}

async function openLinks(node, label) {
  current = { node, label };
  await drawLinks('/api/v1/workbench/links', { ...justification(), node, hops: Number(ui.hops.value) }, `of ${label}`);
}

async function connect(event) {
  event.preventDefault();
  if (!current) {
    say('Open a result\'s links first: the connection starts there. 请先打开一个结果的关联。', true);
    return;
  }
  const to = ui.to.value.trim();
  if (!to) {
    say('Connect to: name an entity as kind:key, or press Connect to on a result. 请填写终点。', true);
    ui.to.focus();
    return;
  }
  await drawLinks('/api/v1/workbench/connection', { ...justification(), a: current.node, b: to },
    `${current.label} → ${to}`);
}

async function drawLinks(url, body, title) {
  try {
    const answer = await api('POST', url, body);
    ui.error.hidden = true;
    ui.linksOf.textContent = title;
    if (answer.path !== null && answer.path !== undefined && answer.path.length === 0 && answer.nodes.length < 2) {
      say('No connection within 6 links inside the case\'s areas. 六层以内无关联。');
    } else {
      say(`${answer.nodes.length} entities, ${answer.edges.length} links${answer.truncated ? ' (more not drawn: open one of them)' : ''}. Saved as question ${answer.query_id}.`);
    }
    render(answer);
  } catch (err) {
    showError(err);
  }
}

function render(answer) {
  ui.linksEmpty.hidden = answer.nodes.length > 0;
  ui.graphBox.hidden = answer.nodes.length === 0;
  ui.table.hidden = answer.edges.length === 0;
  const labels = Object.fromEntries(answer.nodes.map((n) => [n.id, n.label]));
  ui.rows.replaceChildren(...(answer.path && answer.path.length ? answer.path : answer.edges).map((e) =>
    h('tr', null, h('td', null, labels[e.a] || e.a), h('td', null, e.relation), h('td', null, labels[e.b] || e.b),
      h('td', null, e.source), h('td', null, e.since ? timeEl(e.since) : '—'))));
  drawGraph(answer);
}

function drawGraph(answer) {
  // Rings by hops from where the question began: a layout that does not move between two looks.
  const width = 640;
  const height = 420;
  const cx = width / 2;
  const cy = height / 2;
  const byHop = new Map();
  for (const n of answer.nodes) {
    if (!byHop.has(n.hops)) byHop.set(n.hops, []);
    byHop.get(n.hops).push(n);
  }
  const maxHop = Math.max(1, ...byHop.keys());
  const radius = (hop) => (hop === 0 ? 0 : (Math.min(cx, cy) - 40) * (hop / maxHop));
  const at = new Map();
  if (answer.path && answer.path.length) {
    // A connection: the chain from left to right.
    const chain = [answer.path[0].a];
    for (const e of answer.path) chain.push(chain[chain.length - 1] === e.a ? e.b : e.a);
    chain.forEach((id, i) => at.set(id, [60 + (i * (width - 120)) / Math.max(1, chain.length - 1), cy + (i % 2 ? -40 : 40)]));
  } else {
    for (const [hop, nodes] of byHop) {
      nodes.forEach((n, i) => {
        const angle = (2 * Math.PI * i) / nodes.length + hop * 0.4;
        at.set(n.id, [cx + radius(hop) * Math.cos(angle), cy + radius(hop) * Math.sin(angle)]);
      });
    }
  }
  const svg = ui.graph;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  for (const e of answer.edges) {
    const a = at.get(e.a);
    const b = at.get(e.b);
    if (!a || !b) continue;
    const line = el('line', { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: e.source.startsWith('lake') ? 'edge edge-lake' : 'edge' });
    line.append(el('title', {}, `${e.relation} · ${e.source}${e.since ? ' · ' + e.since.slice(0, 10) : ''}`));
    svg.append(line);
  }
  for (const n of answer.nodes) {
    const p = at.get(n.id);
    if (!p) continue;
    const g = el('g', { class: 'node', 'data-node': n.id, tabindex: 0, role: 'button' });
    g.append(el('circle', { cx: p[0], cy: p[1], r: n.hops === 0 ? 12 : 9, fill: KIND_COLOURS[n.kind] || '#555' }));
    g.append(el('text', { x: p[0], y: p[1] + 4, class: 'node-letter' }, n.kind.slice(0, 1).toUpperCase()));
    const label = n.label.length > 16 ? n.label.slice(0, 15) + '…' : n.label;
    g.append(el('text', { x: p[0], y: p[1] + (p[1] > cy ? 24 : -16), class: 'node-label' }, label));
    g.append(el('title', {}, `${n.label} (${n.id}), ${n.degree} links`));
    g.addEventListener('click', () => openLinks(n.id, n.label));
    g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') openLinks(n.id, n.label); });
    svg.append(g);
  }
}

ui.form.addEventListener('submit', runSearch);
ui.linksForm.addEventListener('submit', connect);
ui.hops.addEventListener('change', () => { if (current) openLinks(current.node, current.label); });
loadCases();
