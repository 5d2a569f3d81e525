// The app's entry: who is signed in, the sign-in form, and the hash routes (#/, #/tracks/ID, #/references).
import { api, onUnauthorized, ApiError } from './api.js';
import { el } from './format.js';
import { renderLibrary } from './library.js';
import { renderTrack } from './track.js';
import { renderReferences } from './references.js';

const main = document.getElementById('main');
let me = null;
let teardown = null;

function setAccount(user) {
  me = user;
  document.getElementById('account').hidden = !user;
  document.getElementById('account-email').textContent = user ? user.email : '';
}

function clear() {
  if (teardown) {
    try { teardown(); } catch (err) { console.error(err); }
  }
  teardown = null;
  main.replaceChildren();
}

function showSignIn(message) {
  clear();
  setAccount(null);
  const error = el('p', { class: 'form-error', id: 'sign-in-error', role: 'alert' }, message || '');
  const input = el('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true,
    placeholder: 'rt_…', 'aria-describedby': 'sign-in-help sign-in-error',
  });
  const form = el('form', { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    el('h1', { id: 'sign-in-title' }, 'Sign in to reftrack'),
    el('p', { id: 'sign-in-help' },
      'Open the one-time link that ', el('code', {}, 'reftrack serve'),
      ' printed, or sign in with an API token (', el('code', {}, 'reftrack users create'), ' prints one).'),
    el('label', { for: 'token' }, 'API token'),
    input,
    el('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      const user = await api('/v1/auth/session', { method: 'POST', body: { token: input.value.trim() }, quiet401: true });
      setAccount(user);
      route();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? 'That token is not valid.' : err.message;
    }
  });
  main.append(form);
  input.focus();
}

async function route() {
  if (!me) return;
  clear();
  const hash = location.hash.replace(/^#/, '') || '/';
  const track = hash.match(/^\/tracks\/([0-9a-f-]{36})/);
  if (track) teardown = await renderTrack(main, track[1]);
  else if (hash.startsWith('/references')) teardown = await renderReferences(main);
  else teardown = await renderLibrary(main);
}

async function start() {
  window.addEventListener('hashchange', route);
  onUnauthorized(() => showSignIn('Your session has ended; sign in again.'));
  document.getElementById('sign-out').addEventListener('click', async () => {
    try {
      await api('/v1/auth/session', { method: 'DELETE', quiet401: true });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) console.error(err);
    }
    showSignIn('Signed out.');
  });
  try {
    setAccount(await api('/v1/users/me', { quiet401: true }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showSignIn();
    main.replaceChildren(el('p', { class: 'form-error', role: 'alert' }, `The service does not answer: ${err.message}`));
    return undefined;
  }
  return route();
}

start();
