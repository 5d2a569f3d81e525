// Waveforms drawn on canvas from the stored audiowaveform data, asked for at the size of the view:
// `pixels=` says how many points the view draws, and the server picks the zoom level that gives at least that many.
import { api, query, ApiError } from './api.js';
import { sectionColour } from './format.js';

/** Peaks of one window: per point the min and max over all channels, scaled to [-1, 1]. */
export class Peaks {
  constructor(json, startS) {
    const { channels, bits, samples_per_pixel: spp, sample_rate: sr, length, data } = json;
    const scale = bits === 8 ? 128 : 32768;
    this.spp = spp;
    this.sr = sr;
    this.offset = Math.floor(((startS || 0) * sr) / spp);
    this.min = new Float32Array(length);
    this.max = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      let lo = 1;
      let hi = -1;
      for (let c = 0; c < channels; c++) {
        const k = (i * channels + c) * 2;
        lo = Math.min(lo, data[k] / scale);
        hi = Math.max(hi, data[k + 1] / scale);
      }
      this.min[i] = lo;
      this.max[i] = hi;
    }
    this.startS = (this.offset * spp) / sr;
    this.endS = ((this.offset + length) * spp) / sr;
  }

  covers(t0, t1) {
    return this.startS <= t0 + 1e-6 && this.endS >= t1 - 1e-6;
  }
}

/** Fetches waveform windows for a track, sized to what a view draws. */
export class WaveformSource {
  constructor(trackId, { levels, sampleRate, duration }) {
    this.trackId = trackId;
    this.levels = [...(levels || [256, 512, 1024, 2048, 4096])].sort((a, b) => a - b);
    this.sampleRate = sampleRate || 44100;
    this.duration = duration;
    this.pixelsSupported = true;
    this.stats = { requests: 0, values: 0 };
  }

  /** The stored level a view of `seconds` across `pixels` needs: the largest not above its samples per pixel. */
  levelFor(seconds, pixels) {
    const wanted = (seconds * this.sampleRate) / Math.max(1, pixels);
    let level = this.levels[0];
    for (const l of this.levels) if (l <= wanted) level = l;
    return level;
  }

  async fetch(startS, endS, pixels, signal) {
    const window = { start: +startS.toFixed(3), end: +endS.toFixed(3), bits: 8 };
    const whole = startS <= 0 && endS >= this.duration;
    if (whole) { delete window.start; delete window.end; }
    const base = `/v1/tracks/${this.trackId}/waveform`;
    let json;
    if (this.pixelsSupported) {
      try {
        json = await api(`${base}${query({ pixels: Math.max(1, Math.round(pixels)), ...window })}`, { signal });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 422 && /pixels/.test(`${err.field} ${err.detail}`))) throw err;
        this.pixelsSupported = false;
      }
    }
    if (!json) {
      json = await api(`${base}${query({ zoom: this.levelFor(endS - startS, pixels), ...window })}`, { signal });
    }
    this.stats.requests += 1;
    this.stats.values += json.data.length;
    return new Peaks(json, whole ? 0 : startS);
  }
}

export function setupCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, canvas.clientWidth);
  const h = Math.max(1, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

/** Draw `peaks` between t0 and t1 across the box (x, y, w, h). */
export function drawPeaks(ctx, peaks, t0, t1, { x = 0, y = 0, w, h, colour }) {
  const mid = y + h / 2;
  const amp = h / 2 - 1;
  const perPx = (t1 - t0) / w;
  const rate = peaks.sr / peaks.spp;
  ctx.fillStyle = colour;
  const n = peaks.min.length;
  for (let px = 0; px < w; px++) {
    const ta = t0 + px * perPx;
    let ia = Math.floor(ta * rate) - peaks.offset;
    let ib = Math.floor((ta + perPx) * rate) - peaks.offset;
    if (ib <= ia) ib = ia + 1;
    if (ia < 0) ia = 0;
    if (ib > n) ib = n;
    if (ia >= ib) continue;
    let lo = 1;
    let hi = -1;
    for (let i = ia; i < ib; i++) {
      if (peaks.min[i] < lo) lo = peaks.min[i];
      if (peaks.max[i] > hi) hi = peaks.max[i];
    }
    const top = mid - hi * amp;
    const bottom = mid - lo * amp;
    ctx.fillRect(x + px, top, 1, Math.max(1, bottom - top));
  }
}

/** Sections as coloured bands with their labels. */
export function drawSections(ctx, sections, t0, t1, w, h, { labels = true } = {}) {
  const sx = (t) => ((t - t0) / (t1 - t0)) * w;
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  for (const s of sections) {
    const a = sx(s.time_seconds);
    const b = sx(s.time_seconds + (s.duration_seconds || 0));
    if (b < 0 || a > w) continue;
    const colour = sectionColour(s.label);
    ctx.globalAlpha = 0.13;
    ctx.fillStyle = colour;
    ctx.fillRect(a, 0, b - a, h);
    ctx.globalAlpha = 0.9;
    ctx.fillRect(a, 0, b - a, 3);
    ctx.fillRect(a, 0, 1, h);
    if (labels) {
      const role = s.payload && s.payload.role ? ` ${s.payload.role}` : '';
      ctx.fillStyle = colour;
      ctx.fillText(`${s.label || ''}${role}`, Math.max(a, 0) + 4, 5);
    }
  }
  ctx.globalAlpha = 1;
}
