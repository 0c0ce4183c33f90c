// My account: which units accessed my data (for citizens linked to a registry record).
import { api, h, plainError, timeEl } from './common.js';

async function loadAccessLog() {
  const status = document.getElementById('access-status');
  const table = document.getElementById('access-table');
  const rows = document.getElementById('access-rows');
  try {
    const items = await api('GET', '/api/v1/me/access-log');
    rows.replaceChildren(...items.map((a) => h('tr', null,
      h('td', null, timeEl(a.at, { full: true })), h('td', null, a.unit), h('td', null, a.what))));
    table.hidden = items.length === 0;
    status.textContent = items.length === 0 ? 'No unit has accessed your data.' : items.length + ' accesses.';
  } catch (err) {
    status.textContent = plainError(err);
  }
}

loadAccessLog();
