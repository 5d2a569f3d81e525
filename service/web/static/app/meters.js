// Meters from the analysis: loudness over time, the loudness summary, tonal balance, stereo, key and tempo.
import { api, query } from './api.js';
import { camelot, el, num, pct } from './format.js';
import { setupCanvas } from './waveform.js';

const BAND_LABELS = { sub: 'Sub', low: 'Low', low_mid: 'Low-mid', high_mid: 'High-mid', presence: 'Presence', air: 'Air' };
const LUFS_FLOOR = -40;

function dl(rows) {
  return el('dl', { class: 'figures' }, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

/** A horizontal bar from 0 to `fraction` of its track; its width is set through the CSSOM (no inline style). */
function bar(fraction, label, { centre = false } = {}) {
  const fill = el('span', { class: 'bar-fill' });
  const f = Math.max(-1, Math.min(1, fraction));
  if (centre) {
    fill.style.left = `${50 + Math.min(0, f) * 50}%`;
    fill.style.width = `${Math.abs(f) * 50}%`;
  } else {
    fill.style.width = `${Math.max(0, f) * 100}%`;
  }
  return el('span', { class: `bar${centre ? ' centred' : ''}`, role: 'img', 'aria-label': label }, fill);
}

function values(series) {
  // minmax answers [points, dims, 2]: use the middle of each pair; mean answers [points, dims].
  const v = series.values;
  if (series.shape.length === 3) {
    const out = [];
    for (let i = 0; i < v.length; i += 2) out.push((v[i] + v[i + 1]) / 2);
    return out;
  }
  return v;
}

async function loudnessChart(container, { trackId, results, duration, isAlive }) {
  const canvas = el('canvas', { class: 'chart', id: 'loudness-chart', role: 'img', 'aria-label': 'Short-term and momentary loudness over time, in LUFS' });
  const legend = el('p', { class: 'legend' },
    el('span', { class: 'key-momentary' }, '■ momentary'), ' ', el('span', { class: 'key-short' }, '■ short-term'), ' ',
    el('span', { class: 'key-integrated' }, '┄ integrated'));
  container.append(canvas, legend);
  const points = Math.max(50, Math.min(2000, canvas.clientWidth || 600));
  const fetchSeries = (name) => api(`/v1/tracks/${trackId}/features/${name}${query({ max_points: points, reduce: 'mean' })}`).catch(() => null);
  const [momentary, shortTerm] = await Promise.all([fetchSeries('momentary_loudness'), fetchSeries('short_term_loudness')]);
  if (!isAlive()) return;
  const draw = () => {
    const { ctx, w, h } = setupCanvas(canvas);
    ctx.fillStyle = '#12161d';
    ctx.fillRect(0, 0, w, h);
    const y = (lufs) => h - ((Math.max(LUFS_FLOOR, Math.min(0, lufs)) - LUFS_FLOOR) / -LUFS_FLOOR) * h;
    ctx.fillStyle = 'rgba(255,255,255,0.35)';
    ctx.font = '10px system-ui, sans-serif';
    for (const level of [-10, -20, -30]) {
      ctx.fillRect(0, Math.round(y(level)), w, 1);
      ctx.fillText(`${level}`, 2, y(level) - 2);
    }
    const line = (series, colour) => {
      if (!series) return;
      const vs = values(series);
      const step = 1 / series.frame_rate;
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      vs.forEach((v, i) => {
        const x = ((series.start + i * step + step / 2) / duration) * w;
        if (i === 0) ctx.moveTo(x, y(v)); else ctx.lineTo(x, y(v));
      });
      ctx.stroke();
    };
    line(momentary, 'rgba(79,195,247,0.6)');
    line(shortTerm, '#ffb74d');
    if (Number.isFinite(results.lufs_integrated)) {
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = '#e0e6ef';
      ctx.beginPath();
      ctx.moveTo(0, y(results.lufs_integrated));
      ctx.lineTo(w, y(results.lufs_integrated));
      ctx.stroke();
      ctx.setLineDash([]);
    }
  };
  draw();
  window.addEventListener('resize', () => { if (isAlive()) draw(); });
}

export function renderMeters(section, ctx) {
  const r = ctx.results;
  const loudness = el('div', { class: 'meter-block' }, el('h3', {}, 'Loudness'));
  section.append(loudness);
  loudness.append(dl([
    ['Integrated', num(r.lufs_integrated, 1, 'LUFS')],
    ['Loudness range', num(r.loudness_range_lu, 1, 'LU')],
    ['True peak', num(r.true_peak_dbtp, 1, 'dBTP')],
    ['PLR', num(r.plr_db, 1, 'dB')],
    ['Momentary max', num(r.momentary_max_lufs, 1, 'LUFS')],
    ['Short-term max', num(r.short_term_max_lufs, 1, 'LUFS')],
    ['Sample peak', num(r.sample_peak_dbfs, 1, 'dBFS')],
    ['Crest factor', num(r.crest_factor_db, 1, 'dB')],
  ]));
  loudnessChart(loudness, ctx);

  const bands = (r.tonal_balance && r.tonal_balance.bands) || [];
  section.append(el('div', { class: 'meter-block' }, el('h3', {}, 'Tonal balance'),
    el('table', { class: 'bands', 'aria-label': 'Tonal balance per band' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Band'), el('th', { scope: 'col' }, 'Relative'), el('th', { scope: 'col', class: 'num' }, 'dB'), el('th', { scope: 'col', class: 'num' }, 'Share'))),
      el('tbody', {}, ...bands.map((b) => el('tr', {},
        el('th', { scope: 'row' }, `${BAND_LABELS[b.name] || b.name}`, el('span', { class: 'muted small' }, ` ${b.low_hz}–${b.high_hz} Hz`)),
        el('td', {}, bar(1 + b.relative_db / 40, `${BAND_LABELS[b.name] || b.name}: ${num(b.relative_db, 1)} dB relative to the total`)),
        el('td', { class: 'num' }, num(b.relative_db, 1)),
        el('td', { class: 'num' }, `${num(b.share_pct, 0)} %`)))))));

  const stereo = r.stereo || {};
  section.append(el('div', { class: 'meter-block' }, el('h3', {}, 'Stereo'),
    dl([
      ['Width', num(stereo.width_mean, 2)],
      ['Correlation', num(stereo.correlation_mean, 2)],
      ['Out of phase', pct(stereo.negative_correlation_fraction)],
      ['Balance', num(stereo.balance_db, 1, 'dB')],
    ]),
    el('table', { class: 'bands', 'aria-label': 'Stereo width and correlation per band' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Band'), el('th', { scope: 'col' }, 'Width'), el('th', { scope: 'col' }, 'Correlation'))),
      el('tbody', {}, ...(stereo.bands || []).map((b) => el('tr', {},
        el('th', { scope: 'row' }, BAND_LABELS[b.name] || b.name),
        el('td', {}, bar(b.width, `${BAND_LABELS[b.name] || b.name} width ${num(b.width, 2)}`), el('span', { class: 'small' }, ` ${num(b.width, 2)}`)),
        el('td', {}, bar(b.correlation, `${BAND_LABELS[b.name] || b.name} correlation ${num(b.correlation, 2)}`, { centre: true }), el('span', { class: 'small' }, ` ${num(b.correlation, 2)}`))))))));

  const code = camelot(r.key);
  const runnerUp = camelot(r.key_runner_up);
  section.append(el('div', { class: 'meter-block' }, el('h3', {}, 'Key and tempo'),
    dl([
      ['Tempo', `${num(r.bpm, 1, 'BPM')} (confidence ${pct(r.bpm_confidence)})`],
      ['Alternative', r.bpm_alt ? `${num(r.bpm_alt, 1, 'BPM')} (confidence ${pct(r.bpm_alt_confidence)})` : '–'],
      ['Time signature', r.time_signature ? `${r.time_signature}/4 (confidence ${pct(r.meter_confidence)})` : '–'],
      ['Tempo stability', pct(r.tempo_stability)],
      ['Key', r.key ? `${r.key}${code ? ` · ${code}` : ''} (confidence ${pct(r.key_confidence)})` : '–'],
      ['Runner-up', r.key_runner_up ? `${r.key_runner_up}${runnerUp ? ` · ${runnerUp}` : ''}` : '–'],
      ['Tuning', num(r.tuning_cents, 1, 'cents')],
    ])));
}
