// The track page: overview and detail waveforms, playback, grid, sections, annotations, loops, prompts, meters.
import { api, query } from './api.js';
import { clock, el, num, toast } from './format.js';
import { bpmText, keyText, statusBadge } from './library.js';
import { renderMeters } from './meters.js';
import { WaveformSource, drawPeaks, drawSections, setupCanvas } from './waveform.js';

const ANNOTATION_TYPES = ['note', 'marker', 'issue', 'praise'];
const TYPE_COLOURS = { note: '#90caf9', marker: '#fff176', issue: '#ef5350', praise: '#66bb6a' };
const LOOP_COLOUR = '#4fc3f7';
const MIN_VIEW_S = 1;
const DRAG_PX = 4;
const POLL_MS = 2000;

export async function renderTrack(root, trackId) {
  let alive = true;
  const cleanups = [];
  const on = (target, type, fn, opts) => { target.addEventListener(type, fn, opts); cleanups.push(() => target.removeEventListener(type, fn, opts)); };

  let track;
  try {
    track = await api(`/v1/tracks/${trackId}`);
  } catch (err) {
    root.append(el('p', { class: 'form-error', role: 'alert' }, err.status === 404 ? 'No such track.' : err.message), el('a', { href: '#/' }, '← Library'));
    return null;
  }

  // While the analysis runs there is nothing to draw: say so and look again.
  if (!track.analysis || track.analysis.status !== 'succeeded') {
    const waiting = el('section', { class: 'card' }, el('h1', {}, track.title), el('p', {}, 'Analysis: ', statusBadge(track.analysis)),
      track.analysis && track.analysis.status === 'failed' ? el('p', { class: 'form-error' }, track.analysis.error || 'The analysis failed.') : el('p', {}, 'The waveform appears when the analysis is done.'),
      el('a', { href: '#/' }, '← Library'));
    root.append(waiting);
    let timer = null;
    if (!track.analysis || track.analysis.status !== 'failed') {
      timer = setTimeout(async function again() {
        if (!alive) return;
        const fresh = await api(`/v1/tracks/${trackId}`).catch(() => null);
        if (!alive) return;
        if (fresh && fresh.analysis && fresh.analysis.status === 'succeeded') window.dispatchEvent(new HashChangeEvent('hashchange'));
        else timer = setTimeout(again, POLL_MS);
      }, POLL_MS);
    }
    return () => { alive = false; clearTimeout(timer); };
  }

  const results = track.analysis.results || {};
  const duration = track.duration_seconds || results.duration_s;
  const source = new WaveformSource(trackId, {
    levels: results.waveform && results.waveform.samples_per_pixel, sampleRate: track.sample_rate, duration,
  });

  // ---------- state
  const st = {
    view: { t0: 0, t1: duration }, overview: null, detail: null, detailFetch: null,
    beats: [], bars: [], sections: [], annotations: [], regions: [],
    selected: null, loop: null, looping: false, tool: 'seek', snap: 'beat', drag: null, prompts: [], activePrompt: null,
  };

  // ---------- layout
  const audio = el('audio', { id: 'player', preload: 'metadata', src: `/v1/tracks/${trackId}/audio` });
  const playBtn = el('button', { type: 'button', id: 'play', class: 'primary', 'aria-label': 'Play (space)' }, '▶ Play');
  const time = el('span', { id: 'time', class: 'time', 'aria-live': 'off' }, `0:00.0 / ${clock(duration)}`);
  const loopBtn = el('button', { type: 'button', id: 'loop-toggle', 'aria-pressed': 'false', 'aria-label': 'Loop (L)' }, '⟳ Loop');
  const zoomOut = el('button', { type: 'button', id: 'zoom-out', 'aria-label': 'Zoom out (-)' }, '−');
  const zoomIn = el('button', { type: 'button', id: 'zoom-in', 'aria-label': 'Zoom in (+)' }, '+');
  const toolSelect = el('select', { id: 'tool' },
    el('option', { value: 'seek' }, 'Click seeks'), el('option', { value: 'annotate' }, 'Click/drag annotates'), el('option', { value: 'loop' }, 'Drag makes a loop'));
  const snapSelect = el('select', { id: 'snap' },
    el('option', { value: '' }, 'No snap'), el('option', { value: 'beat', selected: true }, 'Snap to beat'), el('option', { value: 'bar' }, 'Snap to bar'));
  const overview = el('canvas', { id: 'overview', class: 'overview', role: 'img', 'aria-label': 'Waveform overview of the whole track; click to seek' });
  const detail = el('canvas', { id: 'detail', class: 'detail', role: 'img', tabindex: '0', 'aria-label': 'Detail waveform; click to seek or to select a marker or loop, drag to pan, annotate or loop' });
  const annotationList = el('ul', { class: 'items', id: 'annotations' });
  const regionList = el('ul', { class: 'items', id: 'regions' });
  const editor = el('div', { id: 'editor', class: 'editor' });
  const promptList = el('ol', { class: 'prompts', id: 'prompts' });
  const presetSelect = el('select', { id: 'preset' }, el('option', { value: '' }, 'Default prompts'));
  const meters = el('section', { class: 'card meters', id: 'meters', 'aria-labelledby': 'meters-title' }, el('h2', { id: 'meters-title' }, 'Meters'));
  const refForm = referenceForm(trackId);

  root.append(
    el('div', { class: 'track-head' },
      el('a', { href: '#/', class: 'back' }, '← Library'),
      el('h1', { id: 'track-title' }, track.title),
      el('p', { class: 'meta' }, track.artist || 'Unknown artist', ' · ', clock(duration), ' · ', bpmText(track), ' BPM · ',
        keyText(track.key), ' · ', num(track.loudness_lufs, 1, 'LUFS'), ' · ', statusBadge(track.analysis))),
    el('div', { class: 'transport', role: 'toolbar', 'aria-label': 'Playback' },
      playBtn, time, loopBtn,
      el('span', { class: 'group' }, zoomOut, zoomIn),
      el('label', { for: 'tool', class: 'visually-hidden' }, 'Mouse tool'), toolSelect,
      el('label', { for: 'snap', class: 'visually-hidden' }, 'Snap'), snapSelect),
    el('div', { class: 'waves' }, overview, detail),
    el('p', { class: 'hint keys' }, 'Keys: space play/pause · L loop · M marker · ←/→ beat · Shift+←/→ bar · +/− zoom'),
    audio,
    el('div', { class: 'track-grid' },
      el('div', { class: 'col' },
        el('section', { class: 'card', 'aria-labelledby': 'ann-title' }, el('h2', { id: 'ann-title' }, 'Annotations'), annotationList),
        el('section', { class: 'card', 'aria-labelledby': 'reg-title' },
          el('h2', { id: 'reg-title' }, 'Loops and regions'),
          el('button', { type: 'button', id: 'from-sections' }, 'Regions from sections'),
          regionList),
        editor,
        meters),
      el('div', { class: 'col' },
        el('section', { class: 'card', 'aria-labelledby': 'prompts-title' },
          el('h2', { id: 'prompts-title' }, 'Listening prompts'),
          el('label', { for: 'preset', class: 'visually-hidden' }, 'Preset'), presetSelect, promptList),
        refForm)));

  // ---------- data
  const [events, annotations, regions, presets] = await Promise.all([
    api(`/v1/tracks/${trackId}/events?type=beat,downbeat,section`),
    api(`/v1/tracks/${trackId}/annotations`),
    api(`/v1/tracks/${trackId}/regions`),
    api('/v1/listening-prompts/presets').catch(() => ({ data: [] })),
  ]);
  for (const e of events.data) {
    if (e.type === 'beat') st.beats.push(e.time_seconds);
    else if (e.type === 'downbeat') st.bars.push(e.time_seconds);
    else if (e.type === 'section') st.sections.push(e);
  }
  st.beats.sort((a, b) => a - b);
  st.bars.sort((a, b) => a - b);
  st.annotations = annotations.data;
  st.regions = regions.data;
  for (const p of presets.data) presetSelect.append(el('option', { value: p.id, selected: p.is_default }, p.name));

  // ---------- drawing
  const sx = (t, w) => ((t - st.view.t0) / (st.view.t1 - st.view.t0)) * w;
  const tx = (x, w) => st.view.t0 + (x / w) * (st.view.t1 - st.view.t0);

  function drawOverview() {
    const { ctx, w, h } = setupCanvas(overview);
    ctx.fillStyle = '#12161d';
    ctx.fillRect(0, 0, w, h);
    drawSections(ctx, st.sections, 0, duration, w, h, { labels: false });
    if (st.overview) drawPeaks(ctx, st.overview, 0, duration, { w, h, colour: '#7f8ea3' });
    const ox = (t) => (t / duration) * w;
    for (const r of st.regions) {
      ctx.fillStyle = r.color || LOOP_COLOUR;
      ctx.globalAlpha = 0.25;
      ctx.fillRect(ox(r.start_time_seconds), h - 6, Math.max(1, ox(r.end_time_seconds) - ox(r.start_time_seconds)), 6);
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = '#e0e6ef';
    ctx.lineWidth = 1;
    ctx.strokeRect(ox(st.view.t0) + 0.5, 0.5, Math.max(2, ox(st.view.t1) - ox(st.view.t0)) - 1, h - 1);
    ctx.fillStyle = '#ff5252';
    ctx.fillRect(ox(audio.currentTime), 0, 2, h);
  }

  function drawDetail() {
    const { ctx, w, h } = setupCanvas(detail);
    const { t0, t1 } = st.view;
    ctx.fillStyle = '#0d1117';
    ctx.fillRect(0, 0, w, h);
    drawSections(ctx, st.sections, t0, t1, w, h);
    // Regions (loops) under the waveform.
    for (const r of st.regions) {
      const a = sx(r.start_time_seconds, w);
      const b = sx(r.end_time_seconds, w);
      if (b < 0 || a > w) continue;
      const active = st.loop && st.loop.id === r.id;
      ctx.fillStyle = r.color || LOOP_COLOUR;
      ctx.globalAlpha = active ? 0.3 : 0.14;
      ctx.fillRect(a, 18, b - a, h - 18);
      ctx.globalAlpha = 1;
      ctx.fillRect(a, h - 14, b - a, 14);
      ctx.fillStyle = '#0d1117';
      ctx.font = '11px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      ctx.fillText(`${r.is_favorite ? '★ ' : ''}${r.name}`, Math.max(a, 0) + 3, h - 7);
    }
    if (st.loop && !st.loop.id) {
      ctx.fillStyle = LOOP_COLOUR;
      ctx.globalAlpha = 0.25;
      ctx.fillRect(sx(st.loop.start, w), 18, sx(st.loop.end, w) - sx(st.loop.start, w), h - 18);
      ctx.globalAlpha = 1;
    }
    // Grid: bars strong, beats faint (when they are far enough apart to read).
    const beatPx = st.beats.length > 1 ? (w * (duration / st.beats.length)) / (t1 - t0) : 0;
    if (beatPx > 6) {
      ctx.fillStyle = 'rgba(255,255,255,0.12)';
      for (const b of st.beats) { const x = sx(b, w); if (x >= 0 && x <= w) ctx.fillRect(Math.round(x), 18, 1, h - 32); }
    }
    ctx.fillStyle = 'rgba(255,255,255,0.35)';
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    const barPx = beatPx * 4;
    st.bars.forEach((b, i) => {
      const x = sx(b, w);
      if (x < 0 || x > w) return;
      ctx.fillRect(Math.round(x), 14, 1, h - 28);
      if (barPx > 28 || i % Math.ceil(28 / Math.max(barPx, 1)) === 0) ctx.fillText(String(i + 1), Math.round(x) + 2, 16);
    });
    // Waveform.
    const peaks = st.detail && st.detail.covers(t0, t1) ? st.detail : st.overview;
    if (peaks) drawPeaks(ctx, peaks, t0, t1, { y: 18, w, h: h - 32, colour: '#4fc3f7' });
    // Annotations: spans as bands, points as flagged lines.
    for (const a of st.annotations) {
      const colour = a.color || TYPE_COLOURS[a.annotation_type] || '#fff';
      const x = sx(a.start_time_seconds, w);
      const selected = st.selected && st.selected.kind === 'annotation' && st.selected.id === a.id;
      ctx.fillStyle = colour;
      if (a.end_time_seconds !== null && a.end_time_seconds !== undefined) {
        const x2 = sx(a.end_time_seconds, w);
        if (x2 < 0 || x > w) continue;
        ctx.globalAlpha = selected ? 0.35 : 0.2;
        ctx.fillRect(x, 18, x2 - x, h - 32);
        ctx.globalAlpha = 1;
        ctx.fillRect(x, 18, x2 - x, 3);
      } else {
        if (x < -2 || x > w + 2) continue;
        ctx.fillRect(Math.round(x) - (selected ? 1 : 0), 18, selected ? 3 : 2, h - 32);
        ctx.beginPath();
        ctx.moveTo(x, 18); ctx.lineTo(x + 8, 22); ctx.lineTo(x, 26); ctx.fill();
      }
      if (a.title) {
        // Span titles on the first line, point titles on the second, so a point inside a span stays readable.
        const isSpan = a.end_time_seconds !== null && a.end_time_seconds !== undefined;
        ctx.font = '11px system-ui, sans-serif';
        ctx.textBaseline = 'top';
        ctx.fillText(a.title, Math.max(x, 0) + (isSpan ? 4 : 10), isSpan ? 22 : 34);
      }
    }
    // Drag selection.
    if (st.drag && st.drag.moved) {
      const a = sx(Math.min(st.drag.t0, st.drag.t1), w);
      const b = sx(Math.max(st.drag.t0, st.drag.t1), w);
      ctx.fillStyle = st.tool === 'loop' ? LOOP_COLOUR : '#fff176';
      ctx.globalAlpha = 0.3;
      ctx.fillRect(a, 0, b - a, h);
      ctx.globalAlpha = 1;
    }
    // Playhead.
    ctx.fillStyle = '#ff5252';
    ctx.fillRect(Math.round(sx(audio.currentTime, w)) - 1, 0, 2, h);
  }

  function draw() {
    drawOverview();
    drawDetail();
  }

  // The detail window is fetched with a view's width of margin each side, so scrolling a little needs nothing new.
  async function ensureDetail() {
    const { t0, t1 } = st.view;
    const w = detail.clientWidth || 800;
    const span = t1 - t0;
    // Samples per pixel the view needs; none finer than the finest stored level exists.
    const target = Math.max((span * source.sampleRate) / w, source.levels[0]);
    if (st.overview && st.overview.spp <= target) { st.detail = null; return; }
    if (st.detail && st.detail.covers(t0, t1) && st.detail.spp <= target && st.detail.spp * 4 > target) return;
    const a = Math.max(0, t0 - span);
    const b = Math.min(duration, t1 + span);
    const key = `${a.toFixed(2)}-${b.toFixed(2)}-${w}`;
    if (st.detailFetch && st.detailFetch.key === key) return;
    if (st.detailFetch) st.detailFetch.controller.abort();
    const controller = new AbortController();
    st.detailFetch = { key, controller };
    try {
      const peaks = await source.fetch(a, b, (w * (b - a)) / span, controller.signal);
      if (!alive) return;
      st.detail = peaks;
      draw();
    } catch (err) {
      if (err.name !== 'AbortError') console.error(err);
    } finally {
      if (st.detailFetch && st.detailFetch.key === key) st.detailFetch = null;
    }
  }

  function setView(t0, t1) {
    let span = Math.max(MIN_VIEW_S, Math.min(duration, t1 - t0));
    let a = Math.max(0, Math.min(t0, duration - span));
    st.view = { t0: a, t1: a + span };
    detail.dataset.view = `${st.view.t0.toFixed(3)} ${st.view.t1.toFixed(3)}`;
    draw();
    ensureDetail();
  }

  function zoom(factor, centre = audio.currentTime) {
    const span = (st.view.t1 - st.view.t0) * factor;
    const c = Math.min(Math.max(centre, st.view.t0), st.view.t1);
    const rel = (c - st.view.t0) / (st.view.t1 - st.view.t0);
    setView(c - rel * span, c - rel * span + span);
  }

  // ---------- playback
  let raf = null;
  function tick() {
    raf = null;
    if (!alive) return;
    if (st.looping && st.loop && audio.currentTime >= st.loop.end) audio.currentTime = st.loop.start;
    const t = audio.currentTime;
    time.textContent = `${clock(t, { fraction: true })} / ${clock(duration)}`;
    const span = st.view.t1 - st.view.t0;
    if (!audio.paused && (t > st.view.t1 || t < st.view.t0)) setView(t - span * 0.05, t - span * 0.05 + span);
    else draw();
    if (!audio.paused) raf = requestAnimationFrame(tick);
  }
  const redraw = () => { if (!raf) raf = requestAnimationFrame(tick); };
  function seek(t) {
    audio.currentTime = Math.max(0, Math.min(duration, t));
    const span = st.view.t1 - st.view.t0;
    if (t < st.view.t0 || t > st.view.t1) setView(t - span / 2, t + span / 2);
    redraw();
  }
  async function togglePlay() {
    if (audio.paused) {
      try { await audio.play(); } catch (err) { toast(`Cannot play: ${err.message}`, { error: true }); }
    } else audio.pause();
  }
  on(audio, 'play', () => { playBtn.textContent = '❚❚ Pause'; playBtn.setAttribute('aria-label', 'Pause (space)'); redraw(); });
  on(audio, 'pause', () => { playBtn.textContent = '▶ Play'; playBtn.setAttribute('aria-label', 'Play (space)'); redraw(); });
  on(audio, 'seeked', redraw);
  on(audio, 'timeupdate', () => { if (audio.paused) redraw(); });
  on(audio, 'ended', () => { if (st.looping && st.loop) { audio.currentTime = st.loop.start; audio.play(); } });
  on(playBtn, 'click', togglePlay);

  function setLoop(loop, looping = true) {
    st.loop = loop;
    st.looping = Boolean(loop) && looping;
    loopBtn.setAttribute('aria-pressed', String(st.looping));
    loopBtn.classList.toggle('on', st.looping);
    renderRegions();
    redraw();
  }
  function currentBar() {
    const t = audio.currentTime;
    let start = 0;
    let end = duration;
    for (let i = 0; i < st.bars.length; i++) {
      if (st.bars[i] <= t) { start = st.bars[i]; end = st.bars[i + 1] !== undefined ? st.bars[i + 1] : duration; }
    }
    return { start, end, id: null };
  }
  function toggleLoop() {
    if (st.looping) setLoop(st.loop, false);
    else setLoop(st.loop || currentBar(), true);
  }
  on(loopBtn, 'click', toggleLoop);
  on(zoomIn, 'click', () => zoom(0.5));
  on(zoomOut, 'click', () => zoom(2));
  on(toolSelect, 'change', () => { st.tool = toolSelect.value; });
  on(snapSelect, 'change', () => { st.snap = snapSelect.value; });

  const snapQuery = () => (st.snap ? query({ snap: st.snap }) : '');
  function nearest(list, t, dir) {
    if (dir > 0) return list.find((b) => b > t + 0.01);
    for (let i = list.length - 1; i >= 0; i--) if (list[i] < t - 0.01) return list[i];
    return undefined;
  }

  // ---------- annotations
  async function createAnnotation(start, end, type = 'note') {
    const body = { start_time_seconds: +start.toFixed(3), annotation_type: type, title: type === 'marker' ? `Marker ${st.annotations.length + 1}` : 'Note' };
    if (end !== null && end !== undefined) body.end_time_seconds = +end.toFixed(3);
    try {
      const created = await api(`/v1/tracks/${trackId}/annotations${snapQuery()}`, { method: 'POST', body });
      st.annotations.push(created);
      st.annotations.sort((a, b) => a.start_time_seconds - b.start_time_seconds);
      renderAnnotations();
      select({ kind: 'annotation', id: created.id });
      toast(end !== null && end !== undefined ? 'Span annotation added' : 'Annotation added');
    } catch (err) {
      toast(err.detail || String(err), { error: true });
    }
  }

  function renderAnnotations() {
    if (!st.annotations.length) {
      annotationList.replaceChildren(el('li', { class: 'empty' }, 'None yet: press M, or choose “Click/drag annotates” and click the waveform.'));
      return;
    }
    annotationList.replaceChildren(...st.annotations.map((a) => {
      const when = a.end_time_seconds !== null && a.end_time_seconds !== undefined
        ? `${clock(a.start_time_seconds, { fraction: true })}–${clock(a.end_time_seconds, { fraction: true })}` : clock(a.start_time_seconds, { fraction: true });
      const swatch = el('span', { class: 'swatch' });
      swatch.style.background = a.color || TYPE_COLOURS[a.annotation_type];
      const item = el('li', { class: `item${st.selected && st.selected.id === a.id ? ' selected' : ''}`, dataset: { id: a.id } },
        swatch,
        el('button', { type: 'button', class: 'item-main', 'aria-label': `Edit annotation ${a.title || a.annotation_type} at ${when}` },
          el('span', { class: 'when' }, when), ' ', el('strong', {}, a.title || a.annotation_type), ' ',
          el('span', { class: 'muted' }, a.annotation_type), ...a.tags.map((t) => el('span', { class: 'tag' }, t))));
      item.querySelector('.item-main').addEventListener('click', () => { select({ kind: 'annotation', id: a.id }); seek(a.start_time_seconds); });
      return item;
    }));
  }

  // ---------- regions
  async function createRegion(start, end) {
    const body = { name: `Loop ${st.regions.length + 1}`, start_time_seconds: +start.toFixed(3), end_time_seconds: +end.toFixed(3), region_type: 'loop' };
    try {
      const created = await api(`/v1/tracks/${trackId}/regions${snapQuery()}`, { method: 'POST', body });
      st.regions.push(created);
      setLoop({ start: created.start_time_seconds, end: created.end_time_seconds, id: created.id }, true);
      select({ kind: 'region', id: created.id });
      toast('Loop added');
    } catch (err) {
      toast(err.detail || String(err), { error: true });
    }
  }

  async function reorder(ids) {
    try {
      const listed = await api(`/v1/tracks/${trackId}/regions/reorder`, { method: 'POST', body: { ids } });
      st.regions = listed.data;
      renderRegions();
    } catch (err) {
      toast(err.detail || String(err), { error: true });
    }
  }

  async function patchRegion(r, body) {
    try {
      const updated = await api(`/v1/tracks/${trackId}/regions/${r.id}`, { method: 'PATCH', body });
      st.regions = st.regions.map((x) => (x.id === r.id ? updated : x));
      if (st.loop && st.loop.id === r.id) st.loop = { start: updated.start_time_seconds, end: updated.end_time_seconds, id: r.id };
      renderRegions();
      redraw();
      return updated;
    } catch (err) {
      toast(err.detail || String(err), { error: true });
      return null;
    }
  }

  function renderRegions() {
    if (!st.regions.length) {
      regionList.replaceChildren(el('li', { class: 'empty' }, 'None yet: choose “Drag makes a loop” and drag across the waveform.'));
      return;
    }
    const ids = st.regions.map((r) => r.id);
    regionList.replaceChildren(...st.regions.map((r, i) => {
      const looping = Boolean(st.looping && st.loop && st.loop.id === r.id);
      const play = el('button', { type: 'button', class: 'icon', 'aria-pressed': String(looping), 'aria-label': `Play ${r.name} looped` }, looping ? '⟳' : '▶');
      play.addEventListener('click', () => {
        if (looping && !audio.paused) { audio.pause(); return; }
        setLoop({ start: r.start_time_seconds, end: r.end_time_seconds, id: r.id }, true);
        seek(r.start_time_seconds);
        if (audio.paused) togglePlay();
      });
      const fav = el('button', { type: 'button', class: 'icon', 'aria-pressed': String(r.is_favorite), 'aria-label': `Favourite ${r.name}` }, r.is_favorite ? '★' : '☆');
      fav.addEventListener('click', () => patchRegion(r, { is_favorite: !r.is_favorite }));
      const up = el('button', { type: 'button', class: 'icon', disabled: i === 0, 'aria-label': `Move ${r.name} up` }, '↑');
      up.addEventListener('click', () => { const o = [...ids]; [o[i - 1], o[i]] = [o[i], o[i - 1]]; reorder(o); });
      const down = el('button', { type: 'button', class: 'icon', disabled: i === ids.length - 1, 'aria-label': `Move ${r.name} down` }, '↓');
      down.addEventListener('click', () => { const o = [...ids]; [o[i + 1], o[i]] = [o[i], o[i + 1]]; reorder(o); });
      const swatch = el('span', { class: 'swatch' });
      swatch.style.background = r.color || LOOP_COLOUR;
      const main = el('button', { type: 'button', class: 'item-main', 'aria-label': `Edit region ${r.name}` },
        el('span', { class: 'when' }, `${clock(r.start_time_seconds, { fraction: true })}–${clock(r.end_time_seconds, { fraction: true })}`), ' ',
        el('strong', {}, r.name), ' ', el('span', { class: 'muted' }, r.region_type));
      main.addEventListener('click', () => select({ kind: 'region', id: r.id }));
      return el('li', { class: `item${st.selected && st.selected.id === r.id ? ' selected' : ''}`, dataset: { id: r.id } }, play, fav, swatch, main, up, down);
    }));
  }

  on(root.querySelector('#from-sections'), 'click', async () => {
    try {
      const created = await api(`/v1/tracks/${trackId}/regions/from-sections`, { method: 'POST' });
      const listed = await api(`/v1/tracks/${trackId}/regions`);
      st.regions = listed.data;
      renderRegions();
      redraw();
      toast(created.count ? `${created.count} region${created.count === 1 ? '' : 's'} from sections` : 'Every section already has a region');
    } catch (err) {
      toast(err.detail || String(err), { error: true });
    }
  });

  // ---------- the editor of the selected annotation or region
  function select(sel) {
    st.selected = sel;
    renderAnnotations();
    renderRegions();
    renderEditor();
    redraw();
  }

  function renderEditor() {
    editor.replaceChildren();
    const sel = st.selected;
    if (!sel) return;
    const isAnn = sel.kind === 'annotation';
    const item = (isAnn ? st.annotations : st.regions).find((x) => x.id === sel.id);
    if (!item) return;
    const field = (id, label, node) => el('div', { class: 'field' }, el('label', { for: id }, label), node);
    const start = el('input', { id: 'edit-start', type: 'number', step: '0.001', min: 0, max: duration, value: item.start_time_seconds });
    const end = el('input', { id: 'edit-end', type: 'number', step: '0.001', min: 0, max: duration, value: item.end_time_seconds ?? '' });
    const colour = el('input', { id: 'edit-colour', type: 'color', value: normaliseColour(item.color || (isAnn ? TYPE_COLOURS[item.annotation_type] : LOOP_COLOUR)) });
    const fields = [];
    let title;
    let type;
    let tags;
    let content;
    if (isAnn) {
      title = el('input', { id: 'edit-title', value: item.title || '', maxlength: 500 });
      type = el('select', { id: 'edit-type' }, ...ANNOTATION_TYPES.map((t) => el('option', { value: t, selected: item.annotation_type === t }, t)));
      tags = el('input', { id: 'edit-tags', value: item.tags.join(', '), placeholder: 'comma, separated' });
      content = el('textarea', { id: 'edit-content', rows: 3, maxlength: 10000 }, item.content || '');
      fields.push(field('edit-title', 'Title', title), field('edit-type', 'Type', type), field('edit-tags', 'Tags', tags), field('edit-content', 'Note', content));
    } else {
      title = el('input', { id: 'edit-title', value: item.name, maxlength: 200, required: true });
      type = el('select', { id: 'edit-type' }, ...['loop', 'section', 'compare'].map((t) => el('option', { value: t, selected: item.region_type === t }, t)));
      fields.push(field('edit-title', 'Name', title), field('edit-type', 'Type', type));
    }
    fields.push(field('edit-start', 'Start (s)', start), field('edit-end', isAnn ? 'End (s, empty for a point)' : 'End (s)', end), field('edit-colour', 'Colour', colour));
    const error = el('p', { class: 'form-error', role: 'alert' });
    const save = el('button', { type: 'submit', class: 'primary' }, 'Save');
    const del = el('button', { type: 'button', class: 'danger' }, 'Delete');
    const close = el('button', { type: 'button' }, 'Close');
    const form = el('form', { class: 'card edit-form', 'aria-label': isAnn ? 'Edit annotation' : 'Edit region' },
      el('h2', {}, isAnn ? 'Annotation' : 'Region'), ...fields, error, el('div', { class: 'buttons' }, save, del, close));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      const body = { start_time_seconds: Number(start.value), color: colour.value };
      if (isAnn) {
        Object.assign(body, {
          title: title.value || null, annotation_type: type.value, content: content.value || null,
          tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
          end_time_seconds: end.value === '' ? null : Number(end.value),
        });
      } else Object.assign(body, { name: title.value, region_type: type.value, end_time_seconds: Number(end.value) });
      try {
        const path = `/v1/tracks/${trackId}/${isAnn ? 'annotations' : 'regions'}/${item.id}`;
        const updated = await api(path, { method: 'PATCH', body });
        if (isAnn) st.annotations = st.annotations.map((x) => (x.id === item.id ? updated : x));
        else {
          st.regions = st.regions.map((x) => (x.id === item.id ? updated : x));
          if (st.loop && st.loop.id === item.id) st.loop = { start: updated.start_time_seconds, end: updated.end_time_seconds, id: item.id };
        }
        toast('Saved');
        select(sel);
      } catch (err) {
        error.textContent = err.detail || String(err);
      }
    });
    del.addEventListener('click', async () => {
      try {
        await api(`/v1/tracks/${trackId}/${isAnn ? 'annotations' : 'regions'}/${item.id}`, { method: 'DELETE' });
        if (isAnn) st.annotations = st.annotations.filter((x) => x.id !== item.id);
        else {
          st.regions = st.regions.filter((x) => x.id !== item.id);
          if (st.loop && st.loop.id === item.id) setLoop(null, false);
        }
        toast('Deleted');
        select(null);
      } catch (err) {
        error.textContent = err.detail || String(err);
      }
    });
    close.addEventListener('click', () => select(null));
    editor.append(form);
  }

  // ---------- mouse on the waveforms
  const xOf = (e, canvas) => e.clientX - canvas.getBoundingClientRect().left;
  on(detail, 'pointerdown', (e) => {
    if (e.button !== 0) return;
    detail.setPointerCapture(e.pointerId);
    const t = tx(xOf(e, detail), detail.clientWidth);
    st.drag = { x0: xOf(e, detail), t0: t, t1: t, moved: false, view: { ...st.view } };
  });
  on(detail, 'pointermove', (e) => {
    if (!st.drag) return;
    const x = xOf(e, detail);
    if (Math.abs(x - st.drag.x0) > DRAG_PX) st.drag.moved = true;
    if (!st.drag.moved) return;
    if (st.tool === 'seek') {
      // Drag pans the view.
      const dt = ((x - st.drag.x0) / detail.clientWidth) * (st.drag.view.t1 - st.drag.view.t0);
      setView(st.drag.view.t0 - dt, st.drag.view.t1 - dt);
    } else {
      st.drag.t1 = Math.max(0, Math.min(duration, tx(x, detail.clientWidth)));
      redraw();
    }
  });
  on(detail, 'pointerup', (e) => {
    const drag = st.drag;
    st.drag = null;
    if (!drag) return;
    const t = Math.max(0, Math.min(duration, tx(xOf(e, detail), detail.clientWidth)));
    const a = Math.min(drag.t0, drag.t1);
    const b = Math.max(drag.t0, drag.t1);
    if (!drag.moved) {
      const hit = st.tool === 'seek' ? hitTest(xOf(e, detail), e.clientY - detail.getBoundingClientRect().top) : null;
      if (hit) select(hit);
      else if (st.tool === 'annotate') createAnnotation(t, null, 'note');
      else seek(t);
    } else if (st.tool === 'annotate') createAnnotation(a, b, 'note');
    else if (st.tool === 'loop') createRegion(a, b);
    redraw();
  });
  // A click on a point annotation's line or flag, or on a region's name strip, selects it for editing.
  function hitTest(x, y) {
    const w = detail.clientWidth;
    const h = detail.clientHeight;
    for (const a of st.annotations) {
      const isPoint = a.end_time_seconds === null || a.end_time_seconds === undefined;
      if (isPoint && Math.abs(sx(a.start_time_seconds, w) - x) <= 5) return { kind: 'annotation', id: a.id };
    }
    if (y >= h - 14) {
      for (const r of st.regions) {
        if (x >= sx(r.start_time_seconds, w) && x <= sx(r.end_time_seconds, w)) return { kind: 'region', id: r.id };
      }
    }
    if (y <= 24) {
      for (const a of st.annotations) {
        if (a.end_time_seconds && x >= sx(a.start_time_seconds, w) && x <= sx(a.end_time_seconds, w)) return { kind: 'annotation', id: a.id };
      }
    }
    return null;
  }
  on(detail, 'pointercancel', () => { st.drag = null; redraw(); });
  on(detail, 'wheel', (e) => {
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      zoom(e.deltaY > 0 ? 1.25 : 0.8, tx(xOf(e, detail), detail.clientWidth));
    } else if (Math.abs(e.deltaX) > Math.abs(e.deltaY) || e.shiftKey) {
      e.preventDefault();
      const d = (e.shiftKey ? e.deltaY : e.deltaX) / detail.clientWidth * (st.view.t1 - st.view.t0);
      setView(st.view.t0 + d, st.view.t1 + d);
    }
  }, { passive: false });
  let overviewDrag = false;
  const overviewSeek = (e) => {
    const t = (xOf(e, overview) / overview.clientWidth) * duration;
    const span = st.view.t1 - st.view.t0;
    audio.currentTime = Math.max(0, Math.min(duration, t));
    setView(t - span / 2, t + span / 2);
  };
  on(overview, 'pointerdown', (e) => { overviewDrag = true; overview.setPointerCapture(e.pointerId); overviewSeek(e); });
  on(overview, 'pointermove', (e) => { if (overviewDrag) overviewSeek(e); });
  on(overview, 'pointerup', () => { overviewDrag = false; });

  // ---------- keyboard
  on(document, 'keydown', (e) => {
    const target = e.target;
    if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (k === ' ' || k === 'Spacebar') {
      if (target && target.tagName === 'BUTTON') return; // the button's own activation
      e.preventDefault();
      togglePlay();
    } else if (k === 'l' || k === 'L') toggleLoop();
    else if (k === 'm' || k === 'M') createAnnotation(audio.currentTime, null, 'marker');
    else if (k === 'ArrowRight' || k === 'ArrowLeft') {
      e.preventDefault();
      const dir = k === 'ArrowRight' ? 1 : -1;
      const list = e.shiftKey ? st.bars : st.beats;
      const t = nearest(list, audio.currentTime, dir);
      if (t !== undefined) seek(t);
      else seek(dir > 0 ? duration : 0);
    } else if (k === '+' || k === '=') zoom(0.5);
    else if (k === '-' || k === '_') zoom(2);
  });

  // ---------- prompts
  async function loadPrompts() {
    try {
      const listed = await api(`/v1/tracks/${trackId}/prompts${query({ preset: presetSelect.value })}`);
      st.prompts = listed.data;
    } catch (err) {
      promptList.replaceChildren(el('li', { class: 'form-error' }, err.detail || String(err)));
      return;
    }
    promptList.replaceChildren(...st.prompts.map((p, i) => {
      const where = p.loop ? `${clock(p.loop.start)}–${clock(p.loop.end)}` : clock(p.at_seconds);
      const button = el('button', { type: 'button', class: 'prompt', dataset: { at: p.at_seconds }, 'aria-label': `${p.name}: listen at ${where}` },
        el('span', { class: 'prompt-head' }, el('strong', {}, p.name), el('span', { class: 'muted' }, ` ${p.category} · ${where}`)),
        el('span', { class: 'prompt-text' }, p.text));
      button.addEventListener('click', () => {
        st.activePrompt = i;
        for (const b of promptList.querySelectorAll('.prompt')) b.classList.toggle('active', b === button);
        if (p.loop) setLoop({ start: p.loop.start, end: p.loop.end, id: null }, true);
        seek(p.at_seconds);
        if (audio.paused) togglePlay();
      });
      return el('li', {}, button);
    }));
    if (!st.prompts.length) promptList.replaceChildren(el('li', { class: 'empty' }, 'No prompts for this preset.'));
  }
  on(presetSelect, 'change', loadPrompts);

  // ---------- start
  const resize = () => { draw(); ensureDetail(); };
  on(window, 'resize', resize);
  renderAnnotations();
  renderRegions();
  const initialSpan = Math.min(duration, 30);
  st.view = { t0: 0, t1: initialSpan };
  detail.dataset.view = `0.000 ${initialSpan.toFixed(3)}`;
  const overviewPixels = overview.clientWidth || 800;
  try {
    st.overview = await source.fetch(0, duration, overviewPixels);
  } catch (err) {
    toast(`Waveform: ${err.detail || err.message}`, { error: true });
  }
  if (!alive) return null;
  draw();
  await ensureDetail();
  draw();
  window.reftrackFirstPaint = { at: performance.now(), ...source.stats };
  document.body.dataset.waveform = 'drawn';
  loadPrompts();
  renderMeters(meters, { trackId, results, duration, isAlive: () => alive });

  return () => {
    alive = false;
    audio.pause();
    audio.removeAttribute('src');
    audio.load();
    if (raf) cancelAnimationFrame(raf);
    delete document.body.dataset.waveform;
    cleanups.forEach((fn) => fn());
  };
}

function normaliseColour(c) {
  if (/^#[0-9a-f]{6}$/i.test(c)) return c;
  if (/^#[0-9a-f]{3}$/i.test(c)) return `#${c[1]}${c[1]}${c[2]}${c[2]}${c[3]}${c[3]}`;
  return '#4fc3f7';
}

function referenceForm(trackId) {
  const name = el('input', { id: 'ref-collection', value: 'default', required: true, maxlength: 200 });
  const msg = el('p', { class: 'hint', role: 'status' });
  const form = el('form', { class: 'card', 'aria-labelledby': 'ref-title' },
    el('h2', { id: 'ref-title' }, 'Reference collections'),
    el('label', { for: 'ref-collection' }, 'Add to collection'), name, el('button', { type: 'submit' }, 'Add'), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/v1/references', { method: 'POST', body: { track_id: trackId, collection_name: name.value.trim() } });
      msg.textContent = `Added to “${name.value.trim()}”.`;
    } catch (err) {
      msg.textContent = err.status === 409 ? `Already in “${name.value.trim()}”.` : err.detail || String(err);
    }
  });
  return form;
}

