// The library: the user's tracks with filters, sort and cursor paging; drag-and-drop upload; server imports.
import { api, upload, query, ApiError } from './api.js';
import { allKeys, camelot, clock, debounce, el, num, toast } from './format.js';

const POLL_MS = 2000;
const PAGE_SIZE = 25;
const UPLOAD_CONCURRENCY = 2;
const IMPORTS_KEY = 'reftrack.imports';

const SORTS = [
  ['created_at', 'Added'], ['title', 'Title'], ['bpm', 'BPM'], ['duration', 'Duration'], ['loudness', 'Loudness'],
];

// Filters and the cursor stack survive navigating to a track and back.
const state = {
  filters: { q: '', bpm_min: '', bpm_max: '', key: '', compatible: false, status: '', sort: 'created_at', order: 'desc' },
  cursors: [null],
};

export async function renderLibrary(root) {
  let timer = null;
  let alive = true;
  let inFlight = null;

  const countLabel = el('span', { class: 'count', id: 'track-count', 'aria-live': 'polite' });
  const tbody = el('tbody', { id: 'track-rows' });
  const prev = el('button', { type: 'button', id: 'page-prev' }, '← Previous');
  const next = el('button', { type: 'button', id: 'page-next' }, 'Next →');
  const pageLabel = el('span', { class: 'page-label' });
  const tableError = el('p', { class: 'form-error', role: 'alert' });

  async function load() {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    const f = state.filters;
    const params = {
      q: f.q.trim(), bpm_min: f.bpm_min, bpm_max: f.bpm_max, key: f.key, compatible: f.key && f.compatible,
      status: f.status, sort: f.sort, order: f.order, limit: PAGE_SIZE, cursor: state.cursors[state.cursors.length - 1],
    };
    try {
      const page = await api(`/v1/tracks${query(params)}`, { signal: controller.signal });
      if (!alive) return;
      tableError.textContent = '';
      renderRows(page);
      schedule(page.data.some((t) => t.analysis && ['queued', 'running'].includes(t.analysis.status)));
    } catch (err) {
      if (err.name === 'AbortError' || !alive) return;
      tableError.textContent = err instanceof ApiError ? `${err.detail}` : String(err);
    }
  }

  function schedule(pending) {
    clearTimeout(timer);
    timer = pending || uploading > 0 ? setTimeout(load, POLL_MS) : null;
  }

  function renderRows(page) {
    countLabel.textContent = `${page.count} track${page.count === 1 ? '' : 's'}`;
    const n = state.cursors.length;
    pageLabel.textContent = `page ${n}`;
    prev.disabled = n === 1;
    next.disabled = !page.next_cursor;
    next.dataset.cursor = page.next_cursor || '';
    if (!page.data.length) {
      tbody.replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'empty' },
        page.count === 0 && n === 1 && isUnfiltered() ? 'No tracks yet: drop audio files above to add some.' : 'No track matches these filters.')));
      return;
    }
    tbody.replaceChildren(...page.data.map(trackRow));
  }

  prev.addEventListener('click', () => {
    if (state.cursors.length > 1) state.cursors.pop();
    load();
  });
  next.addEventListener('click', () => {
    if (next.dataset.cursor) state.cursors.push(next.dataset.cursor);
    load();
  });

  // Filters
  const f = state.filters;
  const refilter = () => { state.cursors = [null]; load(); };
  const debounced = debounce(refilter, 300);
  const input = (id, label, attrs, key) => {
    const node = el('input', { id, name: key, value: f[key], ...attrs });
    node.addEventListener('input', () => { f[key] = node.value; debounced(); });
    return el('div', { class: 'field' }, el('label', { for: id }, label), node);
  };
  const keySelect = el('select', { id: 'filter-key', name: 'key' },
    el('option', { value: '' }, 'Any key'),
    ...allKeys().map(([name, code]) => el('option', { value: name, selected: f.key === name }, `${code} · ${name}`)));
  keySelect.addEventListener('change', () => { f.key = keySelect.value; refilter(); });
  const compatible = el('input', { id: 'filter-compatible', type: 'checkbox', checked: f.compatible });
  compatible.addEventListener('change', () => { f.compatible = compatible.checked; refilter(); });
  const statusSelect = el('select', { id: 'filter-status', name: 'status' },
    ...[['', 'Any status'], ['succeeded', 'Analysed'], ['queued', 'Queued'], ['running', 'Analysing'], ['failed', 'Failed']]
      .map(([v, t]) => el('option', { value: v, selected: f.status === v }, t)));
  statusSelect.addEventListener('change', () => { f.status = statusSelect.value; refilter(); });
  const sortSelect = el('select', { id: 'sort', name: 'sort' },
    ...SORTS.map(([v, t]) => el('option', { value: v, selected: f.sort === v }, t)));
  sortSelect.addEventListener('change', () => { f.sort = sortSelect.value; refilter(); });
  const orderSelect = el('select', { id: 'order', name: 'order' },
    el('option', { value: 'desc', selected: f.order === 'desc' }, 'Descending'),
    el('option', { value: 'asc', selected: f.order === 'asc' }, 'Ascending'));
  orderSelect.addEventListener('change', () => { f.order = orderSelect.value; refilter(); });

  const filters = el('form', { class: 'filters', role: 'search', 'aria-label': 'Filter tracks', onsubmit: (e) => { e.preventDefault(); refilter(); } },
    input('filter-q', 'Search', { type: 'search', placeholder: 'title, artist, album' }, 'q'),
    input('filter-bpm-min', 'BPM from', { type: 'number', min: 0, max: 1000, step: 'any', inputmode: 'decimal' }, 'bpm_min'),
    input('filter-bpm-max', 'BPM to', { type: 'number', min: 0, max: 1000, step: 'any', inputmode: 'decimal' }, 'bpm_max'),
    el('div', { class: 'field' }, el('label', { for: 'filter-key' }, 'Key'), keySelect),
    el('div', { class: 'field checkbox' }, compatible, el('label', { for: 'filter-compatible' }, 'and compatible keys')),
    el('div', { class: 'field' }, el('label', { for: 'filter-status' }, 'Status'), statusSelect),
    el('div', { class: 'field' }, el('label', { for: 'sort' }, 'Sort by'), sortSelect),
    el('div', { class: 'field' }, el('label', { for: 'order' }, 'Order'), orderSelect));

  // Upload
  let uploading = 0;
  const queue = [];
  const uploadList = el('ul', { class: 'uploads', id: 'uploads', 'aria-live': 'polite' });
  const fileInput = el('input', { type: 'file', id: 'file-input', multiple: true, accept: 'audio/*,.wav,.aif,.aiff,.flac,.mp3,.ogg,.opus,.m4a', class: 'visually-hidden' });
  const drop = el('section', { class: 'dropzone', id: 'dropzone', 'aria-label': 'Upload audio files' },
    el('p', {}, el('strong', {}, 'Drop audio files here'), ' or ',
      el('label', { for: 'file-input', class: 'link-button' }, 'choose files'), ' (WAV, AIFF, FLAC, MP3, Ogg, M4A).'),
    fileInput, uploadList);
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add('over'); });
  }
  drop.addEventListener('dragleave', (e) => { if (!drop.contains(e.relatedTarget)) drop.classList.remove('over'); });
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    enqueue([...(e.dataTransfer ? e.dataTransfer.files : [])]);
  });
  fileInput.addEventListener('change', () => { enqueue([...fileInput.files]); fileInput.value = ''; });

  function enqueue(files) {
    for (const file of files) {
      const bar = el('progress', { max: 1, value: 0, 'aria-label': `Upload progress of ${file.name}` });
      const status = el('span', { class: 'upload-status' }, 'waiting');
      const item = el('li', { class: 'upload', dataset: { name: file.name } }, el('span', { class: 'upload-name' }, file.name), bar, status);
      uploadList.append(item);
      queue.push({ file, bar, status, item });
    }
    pump();
  }

  function pump() {
    while (uploading < UPLOAD_CONCURRENCY && queue.length) {
      const job = queue.shift();
      uploading += 1;
      job.status.textContent = 'uploading';
      upload('/v1/tracks', { file: job.file }, { onProgress: (p) => { job.bar.value = p; } })
        .then(({ status, body }) => {
          job.bar.value = 1;
          job.item.classList.add('done');
          job.status.replaceChildren(
            status === 200 ? 'already in the library: ' : 'uploaded, analysing: ',
            el('a', { href: `#/tracks/${body.id}` }, body.title));
        })
        .catch((err) => {
          job.item.classList.add('failed');
          job.status.textContent = `${err.status ? `${err.status} ` : ''}${err.detail}`;
          job.status.setAttribute('role', 'alert');
        })
        .finally(() => {
          uploading -= 1;
          if (alive) {
            load();
            pump();
          }
        });
    }
  }

  function isUnfiltered() {
    return !f.q && !f.bpm_min && !f.bpm_max && !f.key && !f.status;
  }

  root.append(
    el('div', { class: 'page-head' }, el('h1', {}, 'Library'), countLabel),
    drop,
    filters,
    tableError,
    el('div', { class: 'table-wrap' },
      el('table', { class: 'tracks', 'aria-label': 'Tracks' },
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, 'Title'), el('th', { scope: 'col' }, 'Artist'), el('th', { scope: 'col', class: 'num' }, 'Duration'),
          el('th', { scope: 'col', class: 'num' }, 'BPM'), el('th', { scope: 'col' }, 'Key'), el('th', { scope: 'col', class: 'num' }, 'LUFS'),
          el('th', { scope: 'col' }, 'Status'))),
        tbody)),
    el('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageLabel, next),
    importsSection(() => alive),
  );
  await load();
  return () => { alive = false; clearTimeout(timer); if (inFlight) inFlight.abort(); };
}

export function statusBadge(analysis) {
  const status = analysis ? analysis.status : 'none';
  const text = { succeeded: 'analysed', queued: 'queued', running: 'analysing', failed: 'failed', none: 'not analysed' }[status];
  return el('span', { class: `badge status-${status}`, title: analysis && analysis.error ? analysis.error : null }, text);
}

export function bpmText(track) {
  if (track.bpm === null || track.bpm === undefined) return '–';
  const results = track.analysis && track.analysis.results;
  const alt = results && results.bpm_alt;
  return alt ? `${num(track.bpm, 1)} (alt ${num(alt, 1)})` : num(track.bpm, 1);
}

export function keyText(key) {
  if (!key) return '–';
  const code = camelot(key);
  return code ? `${key} · ${code}` : key;
}

function trackRow(track) {
  return el('tr', { dataset: { trackId: track.id } },
    el('td', {}, el('a', { href: `#/tracks/${track.id}`, class: 'track-title' }, track.title)),
    el('td', {}, track.artist || '–'),
    el('td', { class: 'num' }, clock(track.duration_seconds)),
    el('td', { class: 'num bpm' }, bpmText(track)),
    el('td', { class: 'key' }, keyText(track.key)),
    el('td', { class: 'num' }, num(track.loudness_lufs, 1)),
    el('td', { class: 'status' }, statusBadge(track.analysis)));
}

function importsSection(isAlive) {
  const list = el('ul', { class: 'imports', id: 'imports' });
  const error = el('p', { class: 'form-error', role: 'alert' });
  const source = el('input', { id: 'import-source', required: true, placeholder: '/srv/music/… or s3://bucket/prefix' });
  let timer = null;

  function remembered() {
    try { return JSON.parse(sessionStorage.getItem(IMPORTS_KEY) || '[]'); } catch { return []; }
  }

  async function refresh() {
    clearTimeout(timer);
    let items = null;
    try {
      const listed = await api('/v1/imports?limit=10');
      items = listed.data;
    } catch (err) {
      // A service without the list endpoint: follow the imports started from this browser.
      if (!(err instanceof ApiError) || (err.status !== 405 && err.status !== 404)) return;
      items = (await Promise.all(remembered().map((id) => api(`/v1/imports/${id}`).catch(() => null)))).filter(Boolean);
    }
    if (!isAlive()) return;
    list.replaceChildren(...items.map(importItem));
    if (items.some((i) => !['succeeded', 'failed', 'completed', 'done'].includes(i.status))) timer = setTimeout(refresh, POLL_MS);
  }

  const form = el('form', { class: 'import-form', 'aria-label': 'Import from the server' },
    el('label', { for: 'import-source' }, 'Folder or S3 prefix'), source, el('button', { type: 'submit' }, 'Import'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const created = await api('/v1/imports', { method: 'POST', body: { source: source.value.trim() } });
      sessionStorage.setItem(IMPORTS_KEY, JSON.stringify([created.id, ...remembered()].slice(0, 10)));
      toast('Import started');
      refresh();
    } catch (err) {
      error.textContent = err.detail || String(err);
    }
  });
  refresh();
  return el('details', { class: 'card imports-card' },
    el('summary', {}, 'Import from the server'),
    el('p', { class: 'hint' }, 'Folders the administrator allowed (REFTRACK_IMPORT_ROOTS) or S3 prefixes (REFTRACK_IMPORT_S3_ROOTS).'),
    form, error, list);
}

function importItem(imp) {
  const files = imp.files || {};
  const parts = Object.entries(files).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k} ${v}`);
  return el('li', {}, el('code', {}, imp.source), ' — ', el('span', { class: 'badge' }, imp.status), parts.length ? ` (${parts.join(', ')})` : '');
}
