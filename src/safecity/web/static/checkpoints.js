// The checkpoint view (卡口): hits of watch-listed plates arrive live (polled every POLL_MS from the
// last id seen), each with its camera image (faces blurred by the server) and the stop's outcome.
import { api, h, plainError, timeEl } from './common.js';

const POLL_MS = 700;
const $ = (id) => document.getElementById(id);
const ui = { list: $('hits'), empty: $('hits-empty'), error: $('hits-error'), live: $('live') };
const LISTS = {
  wanted_vehicle: 'Wanted vehicle 布控车辆',
  stolen_vehicle: 'Stolen vehicle 被盗车辆',
  forged_plate: 'Forged plate 假套牌',
  suspicious_vehicle: 'Suspicious vehicle 可疑车辆',
};
const PRIORITY = { 1: 'Stop now 立即拦截', 2: 'Stop 拦截', 3: 'Check 关注', 4: 'Note 记录' };
const STATUS = {
  stopped: 'Stopped 已拦截', not_stopped: 'Not stopped 未拦截', misread: 'Misread 误识别',
};
const hits = new Map();
let lastId = 0;
let show = 'new';
let failing = false;
let polls = 0;
const REFRESH_EVERY = 15;  // polls: a full reload then picks up stops recorded at other desks

/** The read plate with the characters that differ from the listed one marked. */
function plateDiff(read, listed) {
  const el = h('span', { class: 'cp-plate', lang: 'zh' });
  [...read].forEach((c, i) => el.append(c !== [...listed][i] ? h('mark', {}, c) : c));
  return el;
}

function outcomeForm(hit) {
  const note = h('textarea', { rows: 2, maxlength: 2000, 'aria-label': 'What the stop found 处置情况', placeholder: 'What the stop found 处置情况' });
  const buttons = Object.entries(STATUS).map(([status, label]) => h('button', {
    type: 'button', class: status === 'stopped' ? 'primary' : '',
    onclick: async (event) => {
      for (const b of buttons) b.disabled = true;
      try {
        const done = await api('POST', `/api/v1/checkpoints/hits/${hit.id}/outcome`, { status, outcome: note.value.trim() });
        hits.set(done.id, done);
        render();
      } catch (err) {
        say(plainError(err));
        for (const b of buttons) b.disabled = false;
        event.target.focus();
      }
    },
  }, label));
  return h('div', { class: 'cp-actions' }, note, ...buttons);
}

function card(hit, fresh) {
  const image = hit.has_image
    ? h('img', { class: 'cp-image', src: `/api/v1/checkpoints/hits/${hit.id}/image`, alt: `Camera image of ${hit.plate_read} 抓拍图像`, loading: 'lazy' })
    : h('div', { class: 'cp-noimage' }, 'The camera read the plate itself: no image. 相机直接上报车牌，无图像。');
  image.addEventListener?.('error', () => {
    image.replaceWith(h('div', { class: 'cp-noimage' }, 'Image not ready or no longer kept. 图像暂不可用。'));
  });
  const handled = hit.status !== 'new'
    ? h('p', { class: 'cp-done' }, `${STATUS[hit.status] || hit.status} · ${hit.handled_by || ''} `, timeEl(hit.handled_at), hit.outcome ? ` · ${hit.outcome}` : '')
    : outcomeForm(hit);
  return h('li', { class: `cp-hit p${hit.priority}${fresh ? ' fresh' : ''}`, dataset: { id: hit.id } },
    image,
    h('div', {},
      h('div', { class: 'cp-plates' },
        h('span', {}, h('span', { class: 'cp-caption' }, 'Read 识别'), plateDiff(hit.plate_read, hit.listed_plate)),
        h('span', {}, h('span', { class: 'cp-caption' }, 'Listed 布控'), h('span', { class: 'cp-plate listed', lang: 'zh' }, hit.listed_plate))),
      h('dl', { class: 'cp-meta' },
        h('dt', {}, 'List 名单'), h('dd', {}, h('span', { class: 'cp-badge' + (hit.action === 'alert' ? ' alert' : '') }, LISTS[hit.list_kind] || hit.list_kind),
          ' ', PRIORITY[hit.priority] || ''),
        h('dt', {}, 'Camera 卡口'), h('dd', {}, hit.device, hit.area ? ` · ${hit.area}` : ''),
        h('dt', {}, 'Seen 时间'), h('dd', {}, timeEl(hit.ts, { full: true })),
        h('dt', {}, 'Match 比对'), h('dd', {}, hit.distance === 0 ? 'exact 完全一致' : `${hit.distance} edits from the listed plate 与布控车牌相差 ${hit.distance}`,
          hit.confidence != null ? ` · read confidence ${Math.round(hit.confidence * 100)}%` : '')),
      handled));
}

function render(freshIds = new Set()) {
  const shown = [...hits.values()].filter((x) => !show || x.status === show).sort((a, b) => b.id - a.id);
  const existing = new Map([...ui.list.children].map((li) => [Number(li.dataset.id), li]));
  const items = shown.map((hit) => {
    const old = existing.get(hit.id);
    // Keep a card being typed into; redraw one whose hit changed.
    if (old && old.dataset.status === hit.status) return old;
    const li = card(hit, freshIds.has(hit.id));
    li.dataset.status = hit.status;
    return li;
  });
  ui.list.replaceChildren(...items);
  ui.empty.hidden = shown.length > 0;
}

function say(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

async function poll() {
  try {
    polls += 1;
    const full = polls % REFRESH_EVERY === 0;
    const fresh = await api('GET', full ? '/api/v1/checkpoints/hits?limit=200' : `/api/v1/checkpoints/hits?after=${lastId}&limit=100`);
    const freshIds = new Set();
    for (const hit of fresh) {
      if (lastId > 0 && hit.id > lastId) freshIds.add(hit.id);
      hits.set(hit.id, hit);
      lastId = Math.max(lastId, hit.id);
    }
    if (fresh.length || failing || full) render(freshIds);
    if (failing) say('');
    failing = false;
    ui.live.textContent = 'live 实时';
    ui.live.className = 'live on';
  } catch (err) {
    failing = true;
    ui.live.textContent = 'offline 连接中断';
    ui.live.className = 'live off';
    say(plainError(err));
  }
  setTimeout(poll, POLL_MS);
}

async function start() {
  try {
    for (const hit of await api('GET', '/api/v1/checkpoints/hits?limit=200')) {
      hits.set(hit.id, hit);
      lastId = Math.max(lastId, hit.id);
    }
  } catch (err) {
    say(plainError(err));
  }
  render();
  setTimeout(poll, POLL_MS);
}

for (const radio of document.querySelectorAll('input[name="show"]')) {
  radio.addEventListener('change', () => { show = radio.value; render(); });
}
start();
