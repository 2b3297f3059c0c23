// Account dialog: sign up, log in, log out, vehicles (add, edit, delete). API refusals are
// shown inline in the form that caused them.
import { del, patch, post } from './api.js';
import { $, announce, clear, formError, formNote, h, openDialog } from './dom.js';
import { t } from './i18n.js';
import { changed, loadSession, session } from './session.js';
import { resolvedCount } from './support.js';

const CONNECTORS = ['ef', 'type_2', 'combo_ccs', 'chademo', 'autre'];
let mode = 'register';
// After a password change: the login form comes back with the address and the API's word.
let relogin = null;
// Keep "Mon profil" open across the re-render that follows a save.
let profileOpen = false;

function field(label, attrs) {
  return h('label.field', h('span', label), h('input', attrs));
}

export function openAccount(wanted) {
  if (wanted) mode = wanted;
  render();
  return openDialog($('#account-dialog'));
}

export function render() {
  const body = $('#account-body');
  if (session.user) return renderSignedIn(body);
  const register = mode === 'register';
  const form = h('form.stack', { id: register ? 'register-form' : 'login-form', novalidate: true },
    register && field(t('firstName'), { name: 'first_name', required: true, autocomplete: 'given-name', maxlength: 80 }),
    register && field(t('lastName'), { name: 'last_name', required: true, autocomplete: 'family-name', maxlength: 80 }),
    field(t('email'), { name: 'email', type: 'email', required: true, autocomplete: 'email', value: (!register && relogin?.email) || '' }),
    field(t('password'), { name: 'password', type: 'password', required: true, minlength: register ? 10 : null,
      autocomplete: register ? 'new-password' : 'current-password', 'aria-describedby': register ? 'pw-hint' : null }),
    register && h('p.note', { id: 'pw-hint' }, t('pwHint')),
    h('button.btn.primary', { type: 'submit' }, register ? t('register') : t('login')));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const btn = form.querySelector('[type=submit]');
    btn.disabled = true;
    try {
      await post(register ? '/api/auth/register' : '/api/auth/login', data);
      await loadSession();
      relogin = null;
      announce(t('hello', { name: session.user.first_name || session.user.email }));
      render();
    } catch (err) {
      formError(form, err);
    } finally {
      btn.disabled = false;
    }
  };
  clear(body, form,
    h('button.link-btn', { type: 'button', onclick: () => { mode = register ? 'login' : 'register'; render(); } },
      register ? t('haveAccount') : t('noAccount')));
  $('#account-title').textContent = register ? t('register') : t('login');
  if (!register && relogin) {
    formNote(form, relogin.detail);
    form.querySelector('[name=password]').focus();
  }
}

function renderSignedIn(body) {
  const u = session.user;
  $('#account-title').textContent = t('account');
  clear(body,
    h('p', h('strong', t('hello', { name: [u.first_name, u.last_name].filter(Boolean).join(' ') || u.email })), h('br'), h('span.note', u.email)),
    h('div.section',
      h('h3', t('vehicles')),
      session.vehicles.length
        ? h('ul.cards', { id: 'vehicle-list' }, session.vehicles.map((v) => h('li',
          h('div.title', v.name),
          h('div.note', [v.plate, v.connectors.map((c) => t(`c_${c}`)).join(', '), `${v.battery_kwh} kWh`].filter(Boolean).join(' · ')),
          h('div.row',
            h('button.btn', { type: 'button', onclick: () => editVehicle(v) }, t('vehicleEdit')),
            h('button.btn.danger', { type: 'button', onclick: () => removeVehicle(v) }, t('vehicleDelete'))))))
        : h('p.note', t('noVehicle')),
      h('p', h('button.btn.primary', { type: 'button', id: 'vehicle-add', onclick: () => editVehicle(null) }, t('vehicleAdd')))),
    h('details.section', { id: 'profile', open: profileOpen, ontoggle: (e) => { profileOpen = e.target.open; } },
      h('summary', t('profile')), profileForm(u), passwordForm(u)),
    h('div.section.actions',
      h('button.btn', { type: 'button', id: 'history-open', onclick: () => document.dispatchEvent(new CustomEvent('wattsup:history')) }, t('history')),
      h('button.btn', { type: 'button', id: 'myreports-open', onclick: () => document.dispatchEvent(new CustomEvent('wattsup:myreports')) },
        t('myReports'), resolvedCount() ? [' ', h('span.count', t(resolvedCount() > 1 ? 'resolvedCountN' : 'resolvedCount1', { n: resolvedCount() }))] : null),
      h('button.btn', { type: 'button', id: 'contact-open', onclick: () => document.dispatchEvent(new CustomEvent('wattsup:contact')) }, t('contact')),
      h('button.btn', { type: 'button', id: 'logout', onclick: logout }, t('logout'))));
}

function profileForm(u) {
  // novalidate: the API checks the names and its message is shown here, in the form.
  const form = h('form.stack', { id: 'profile-form', novalidate: true },
    field(t('firstName'), { name: 'first_name', required: true, maxlength: 80, value: u.first_name || '', autocomplete: 'given-name' }),
    field(t('lastName'), { name: 'last_name', required: true, maxlength: 80, value: u.last_name || '', autocomplete: 'family-name' }),
    field(t('email'), { name: 'email', type: 'email', value: u.email, readonly: true, 'aria-describedby': 'email-note' }),
    h('p.note', { id: 'email-note' }, t('emailFixed')),
    h('button.btn', { type: 'submit' }, t('save')));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const btn = form.querySelector('[type=submit]');
    btn.disabled = true;
    try {
      session.user = await patch('/api/me', {
        first_name: data.get('first_name').trim(),
        last_name: data.get('last_name').trim(),
      });
      changed();
      render();
      formNote($('#profile-form'), t('profileDone'));
    } catch (err) {
      formError(form, err);
    } finally {
      btn.disabled = false;
    }
  };
  return form;
}

function passwordForm(u) {
  const form = h('form.stack', { id: 'password-form', novalidate: true },
    h('h3', t('passwordChange')),
    field(t('oldPassword'), { name: 'old_password', type: 'password', required: true, autocomplete: 'current-password' }),
    field(t('newPassword'), { name: 'new_password', type: 'password', required: true, minlength: 10, autocomplete: 'new-password', 'aria-describedby': 'new-pw-hint' }),
    h('p.note', { id: 'new-pw-hint' }, t('pwHint')),
    h('button.btn', { type: 'submit' }, t('passwordChange')));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const btn = form.querySelector('[type=submit]');
    btn.disabled = true;
    try {
      const r = await post('/api/me/password', Object.fromEntries(new FormData(form)));
      // Every session ends with a password change, this one too: log in again, here.
      session.user = null;
      session.vehicles = [];
      relogin = { email: u.email, detail: r.detail };
      profileOpen = false;
      changed();
      mode = 'login';
      render();
      announce(r.detail);
    } catch (err) {
      formError(form, err);
    } finally {
      btn.disabled = false;
    }
  };
  return form;
}

async function logout() {
  try { await post('/api/auth/logout'); } catch { /* the cookies are cleared anyway below */ }
  session.user = null;
  session.vehicles = [];
  relogin = null;
  profileOpen = false;
  changed();
  mode = 'login';
  render();
}

async function removeVehicle(v) {
  try {
    await del(`/api/vehicles/${v.id}`);
    await loadSession();
    render();
  } catch (err) {
    announce(err.message, 'error');
  }
}

/** The vehicle form, in its own dialog; resolves when it closes. */
export function editVehicle(v) {
  const dialog = $('#vehicle-dialog');
  const form = $('#vehicle-form');
  $('#vehicle-title').textContent = v ? t('vehicleEdit') : t('vehicleAdd');
  const has = new Set(v ? v.connectors : ['type_2']);
  clear(form,
    field(t('vehicleName'), { name: 'name', required: true, maxlength: 80, value: v?.name || '' }),
    field(t('plate'), { name: 'plate', maxlength: 12, value: v?.plate || '', autocapitalize: 'characters', placeholder: 'AB-123-CD' }),
    h('fieldset', h('legend', t('connectors')), h('div.checks', CONNECTORS.map((c) =>
      h('label', h('input', { type: 'checkbox', name: 'connectors', value: c, checked: has.has(c) }), t(`c_${c}`))))),
    field(t('battery'), { name: 'battery_kwh', type: 'number', min: 1, max: 300, step: 'any', value: v?.battery_kwh ?? 60 }),
    field(t('maxAc'), { name: 'max_ac_kw', type: 'number', min: 0, max: 50, step: 'any', value: v?.max_ac_kw ?? 11 }),
    field(t('maxDc'), { name: 'max_dc_kw', type: 'number', min: 0, max: 500, step: 'any', value: v?.max_dc_kw ?? 0 }),
    h('div.row',
      h('button.btn.primary', { type: 'submit' }, t('save')),
      h('button.btn', { type: 'button', onclick: () => dialog.close() }, t('cancel'))));
  // "Choisissez au moins une prise." goes once a connector is ticked: no stale refusal.
  form.onchange = (e) => {
    if (e.target.name === 'connectors' && new FormData(form).getAll('connectors').length
      && form.querySelector('.form-error')?.textContent === t('pickConnector')) formError(form, null);
  };
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = {
      name: data.get('name').trim(),
      plate: data.get('plate').trim() || null,
      connectors: data.getAll('connectors'),
      battery_kwh: Number(data.get('battery_kwh')),
      max_ac_kw: Number(data.get('max_ac_kw')),
      max_dc_kw: Number(data.get('max_dc_kw')),
    };
    if (!body.connectors.length) return formError(form, new Error(t('pickConnector')));
    if (!body.plate && v) body.plate = '';
    try {
      if (v) await patch(`/api/vehicles/${v.id}`, body);
      else await post('/api/vehicles', body);
      await loadSession();
      dialog.close('saved');
      if ($('#account-dialog').open) render();
    } catch (err) {
      formError(form, err);
    }
  };
  return openDialog(dialog);
}
