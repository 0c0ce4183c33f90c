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

/** Send the form's one field to `path`; show a refusal next to the field it names. */
function bindLinkForm(form, path, done) {
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = form.querySelector('input');
    const error = form.querySelector('.field-error');
    error.hidden = true;
    try {
      done(await api('POST', path, { [input.name]: input.value.trim() }));
    } catch (err) {
      error.textContent = plainError(err);
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  });
}

const codeForm = document.getElementById('code-form');
bindLinkForm(document.getElementById('link-form'), '/api/v1/me/person', (answer) => {
  document.getElementById('link-message').textContent = answer.message;
  codeForm.hidden = false;
  document.getElementById('link-code').focus();
});
bindLinkForm(codeForm, '/api/v1/me/person/confirm', () => window.location.reload());

loadAccessLog();
