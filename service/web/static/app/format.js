// Formatting and music helpers shared by the pages.

const MAJOR = { C: '8B', G: '9B', D: '10B', A: '11B', E: '12B', B: '1B', 'F#': '2B', 'C#': '3B', 'G#': '4B', 'D#': '5B', 'A#': '6B', F: '7B' };
const MINOR = { A: '8A', E: '9A', B: '10A', 'F#': '11A', 'C#': '12A', 'G#': '1A', 'D#': '2A', 'A#': '3A', F: '4A', C: '5A', G: '6A', D: '7A' };
const FLATS = { Db: 'C#', Eb: 'D#', Gb: 'F#', Ab: 'G#', Bb: 'A#' };

/** The Camelot code of a key such as "A minor" or "Bb major"; null when it is not one. */
export function camelot(key) {
  if (!key) return null;
  const [tonicRaw, mode] = key.trim().split(/\s+/);
  const tonic = FLATS[tonicRaw] || tonicRaw;
  if (mode === 'major') return MAJOR[tonic] || null;
  if (mode === 'minor') return MINOR[tonic] || null;
  return null;
}

/** Every key as [name, camelot], in Camelot order: 1A, 1B, 2A, ... */
export function allKeys() {
  const out = [];
  for (const [tonic, code] of Object.entries(MAJOR)) out.push([`${tonic} major`, code]);
  for (const [tonic, code] of Object.entries(MINOR)) out.push([`${tonic} minor`, code]);
  const n = (c) => parseInt(c, 10) * 2 + (c.endsWith('B') ? 1 : 0);
  return out.sort((a, b) => n(a[1]) - n(b[1]));
}

export function clock(seconds, { fraction = false } = {}) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const neg = seconds < 0;
  let s = Math.abs(seconds);
  const m = Math.floor(s / 60);
  s -= m * 60;
  const whole = Math.floor(s);
  let out = `${m}:${String(whole).padStart(2, '0')}`;
  if (fraction) out += `.${String(Math.floor((s - whole) * 10))}`;
  return (neg ? '-' : '') + out;
}

export function num(value, digits = 1, unit = '') {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

export function pct(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return `${Math.round(value * 100)} %`;
}

/** Create an element: el('a', {href: '#', class: 'x', onclick: fn}, child, 'text', ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

let toastTimer = null;
export function toast(message, { error = false } = {}) {
  const box = document.getElementById('toast');
  box.textContent = message;
  box.classList.toggle('error', error);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, error ? 6000 : 2500);
}

/** A distinct, stable colour for a section label (A, B, C, ...). */
const SECTION_COLOURS = ['#4fc3f7', '#ffb74d', '#81c784', '#e57373', '#ba68c8', '#fff176', '#4db6ac', '#f06292'];
export function sectionColour(label) {
  let h = 0;
  for (const ch of String(label || '')) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  const code = String(label || 'A').charCodeAt(0) - 65;
  return SECTION_COLOURS[(code >= 0 && code < 26 ? code : h) % SECTION_COLOURS.length];
}
