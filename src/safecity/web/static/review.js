// The face review desk (人脸核验): pending face hits, oldest first, polled every POLL_MS; each shows
// the camera's face (others mosaicked by the server) beside the enrolled photos, and the decision.
import { api, h, plainError, timeEl } from './common.js';

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const ui = { list: $('reviews'), empty: $('reviews-empty'), error: $('review-error'), live: $('live'), precision: $('precision') };
const LISTS = { fugitive: 'Fugitive 在逃人员', missing_person: 'Missing person 走失人员' };
const STATUS = { pending: 'Waiting 待核验', confirmed: 'Confirmed 已确认', rejected: 'Rejected 已否定', expired: 'Expired 已过期' };
const MATCH_LINE = 0.6;  // dlib's same-person distance
let show = 'pending';
let shownIds = '';

function say(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

function likeness(distance) {
  if (distance == null) return 'matched by the camera itself 前端设备比对';
  const words = distance < 0.4 ? 'very alike 高度相似' : distance < 0.5 ? 'alike 相似' : 'somewhat alike 较相似';
  return `distance ${distance.toFixed(2)} (same person under ${MATCH_LINE}) · ${words}`;
}

function compare(item) {
  const camera = item.has_image
    ? h('img', { src: `/api/v1/faces/reviews/${item.id}/image`, alt: 'Camera image, the face judged 抓拍人脸', loading: 'lazy' })
    : h('div', { class: 'rv-noimage' }, 'The camera sent its match without an image. 设备未上传图像。');
  const enrolled = item.photos
    ? h('img', { src: `/api/v1/faces/reviews/${item.id}/photos/0`, alt: `Enrolled photo 1 of ${item.photos} 布控照片`, loading: 'lazy' })
    : h('div', { class: 'rv-noimage' }, 'No enrolled photo. 无布控照片。');
  const thumbs = h('div', { class: 'rv-thumbs' });
  for (let n = 0; n < item.photos && item.photos > 1; n += 1) {
    thumbs.append(h('button', {
      type: 'button', 'aria-label': `Enrolled photo ${n + 1}`,
      onclick: () => { enrolled.src = `/api/v1/faces/reviews/${item.id}/photos/${n}`; enrolled.alt = `Enrolled photo ${n + 1} of ${item.photos}`; },
    }, String(n + 1)));
  }
  return h('div', { class: 'rv-compare' },
    h('figure', {}, camera, h('figcaption', {}, 'Camera 抓拍 · ', item.device, ' · ', timeEl(item.ts, { full: true }))),
    h('figure', {}, enrolled, h('figcaption', {}, 'Enrolled 布控照片'), thumbs));
}

function decisionForm(item) {
  const reason = h('textarea', { rows: 2, maxlength: 2000, 'aria-label': 'Reason 理由 (required to reject)', placeholder: 'Why: same scar, different jaw... 判断理由（否定时必填）' });
  const decide = (decision) => async (event) => {
    for (const b of buttons) b.disabled = true;
    try {
      await api('POST', `/api/v1/faces/reviews/${item.id}/decision`, { decision, reason: reason.value.trim() });
      await load();
    } catch (err) {
      say(plainError(err));
      for (const b of buttons) b.disabled = false;
      event.target.focus();
    }
  };
  const buttons = [
    h('button', { type: 'button', class: 'danger', onclick: decide('confirmed') }, 'Same person: alert 确认同一人'),
    h('button', { type: 'button', onclick: decide('rejected') }, 'Not the same person 不是同一人'),
  ];
  return h('div', { class: 'rv-actions' }, reason, ...buttons);
}

function card(item) {
  const done = item.status !== 'pending'
    ? h('p', { class: 'rv-done' }, `${STATUS[item.status] || item.status}`, item.decided_by ? ` · ${item.decided_by} ` : ' ', timeEl(item.decided_at), item.reason ? ` · ${item.reason}` : '')
    : decisionForm(item);
  return h('li', { class: `rv-item ${item.list_kind}`, dataset: { id: item.id } },
    h('div', { class: 'rv-head' }, h('strong', {}, item.label), h('span', { class: 'muted' }, LISTS[item.list_kind] || item.list_kind)),
    compare(item),
    h('dl', { class: 'rv-meta' },
      h('dt', {}, 'Likeness 相似度'), h('dd', {}, likeness(item.distance)),
      h('dt', {}, 'Where 地点'), h('dd', {}, item.device, item.area ? ` · ${item.area}` : ''),
      h('dt', {}, 'Waiting since 进入队列'), h('dd', {}, timeEl(item.created_at, { full: true }))),
    done);
}

async function load() {
  try {
    const items = await api('GET', `/api/v1/faces/reviews?status=${show}&limit=100`);
    const ids = items.map((i) => `${i.id}:${i.status}`).join(',');
    if (ids !== shownIds) {  // redraw only on change: a reviewer typing a reason keeps the text
      shownIds = ids;
      ui.list.replaceChildren(...items.map(card));
      ui.empty.hidden = items.length > 0;
      ui.empty.textContent = show === 'pending' ? 'Nothing waits for review. 暂无待核验比中。' : 'None. 无。';
    }
    ui.live.textContent = 'live 实时';
    ui.live.className = 'live on';
    say('');
  } catch (err) {
    ui.live.textContent = 'offline 连接中断';
    ui.live.className = 'live off';
    say(plainError(err));
  }
}

async function loadPrecision() {
  try {
    const report = await api('GET', '/api/v1/faces/precision');
    const table = (title, rows) => h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, title), h('th', {}, 'Confirmed 确认'), h('th', {}, 'Rejected 否定'), h('th', {}, 'Expired 过期'), h('th', {}, 'Waiting 待核'), h('th', {}, 'Precision 确认率'))),
      h('tbody', {}, ...rows.map((r) => h('tr', {}, h('td', {}, LISTS[r.group] || r.group), h('td', {}, r.confirmed), h('td', {}, r.rejected), h('td', {}, r.expired), h('td', {}, r.pending),
        h('td', {}, r.precision == null ? '—' : `${Math.round(r.precision * 100)}%`)))));
    ui.precision.replaceChildren(table('List 名单', report.list || []), table('Distance 距离', report.distance || []));
  } catch (err) {
    ui.precision.replaceChildren(h('p', { class: 'error' }, plainError(err)));
  }
}

for (const radio of document.querySelectorAll('input[name="show"]')) {
  radio.addEventListener('change', () => { show = radio.value; shownIds = ''; load(); });
}
load();
loadPrecision();
setInterval(load, POLL_MS);
setInterval(loadPrecision, 30_000);
