// Reference collections: the tracks the user keeps to compare against, by collection.
import { api, query } from './api.js';
import { clock, el, num, toast } from './format.js';
import { keyText } from './library.js';

export async function renderReferences(root) {
  const collections = el('ul', { class: 'collections', id: 'collections' });
  const list = el('ul', { class: 'references', id: 'references' });
  const heading = el('h2', { id: 'collection-title' }, '');
  let current = null;

  async function showCollection(name) {
    current = name;
    heading.textContent = name;
    for (const button of collections.querySelectorAll('button')) button.setAttribute('aria-pressed', String(button.dataset.name === name));
    const refs = await api(`/v1/references${query({ collection_name: name, limit: 200 })}`);
    list.replaceChildren(...refs.data.map((ref) => {
      const fav = el('button', { type: 'button', class: 'icon', 'aria-pressed': String(ref.is_favorite), 'aria-label': `Favourite ${ref.track.title}` }, ref.is_favorite ? '★' : '☆');
      fav.addEventListener('click', async () => {
        await api(`/v1/references/${ref.id}`, { method: 'PATCH', body: { is_favorite: !ref.is_favorite } });
        showCollection(current);
      });
      const remove = el('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${ref.track.title} from ${name}` }, 'Remove');
      remove.addEventListener('click', async () => {
        await api(`/v1/references/${ref.id}`, { method: 'DELETE' });
        toast('Removed from the collection');
        load();
      });
      return el('li', { class: 'reference' }, fav,
        el('a', { href: `#/tracks/${ref.track_id}` }, ref.track.title),
        el('span', { class: 'muted' }, ` ${ref.track.artist || ''} · ${clock(ref.track.duration_seconds)} · ${num(ref.track.bpm, 1)} BPM · ${keyText(ref.track.key)} · ${num(ref.track.loudness_lufs, 1)} LUFS`),
        ref.notes ? el('p', { class: 'notes' }, ref.notes) : null,
        ref.tags.length ? el('p', { class: 'tags' }, ref.tags.map((t) => el('span', { class: 'tag' }, t))) : null,
        remove);
    }));
  }

  async function load() {
    const data = await api('/v1/references/collections');
    if (!data.data.length) {
      collections.replaceChildren(el('li', { class: 'empty' }, 'No collections yet: add a track to one from its page.'));
      list.replaceChildren();
      heading.textContent = '';
      return;
    }
    collections.replaceChildren(...data.data.map((c) => {
      const button = el('button', { type: 'button', dataset: { name: c.name } }, `${c.name} (${c.count})`);
      button.addEventListener('click', () => showCollection(c.name));
      return el('li', {}, button);
    }));
    const names = data.data.map((c) => c.name);
    await showCollection(names.includes(current) ? current : names[0]);
  }

  root.append(el('div', { class: 'page-head' }, el('h1', {}, 'References')),
    el('div', { class: 'references-layout' }, el('nav', { 'aria-label': 'Collections' }, collections), el('section', {}, heading, list)));
  await load();
  return null;
}
