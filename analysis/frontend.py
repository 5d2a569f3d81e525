"""The shared front end: one short-time Fourier transform pass over the stereo signal, in bounded blocks.

Conventions: the signal is brought to :data:`FRAME_SR` (44.1 kHz) and transformed per channel with a Hann window of
:data:`N_FFT` samples every :data:`HOP_LENGTH` samples (centred frames, zero padding at the ends): 23.2 ms hops and
10.8 Hz bins, the same frame grid as a 2048-point STFT at 22.05 kHz with a 512-sample hop. From each block of
frames it keeps

- whatever the caller's *mono reducers* make of each block of the mid signal's ``(L + R) / 2`` power on bins
  0..1024, scaled by 1/4: exactly the 2048-point power spectrogram of the mono mix at 22.05 kHz (same bin
  frequencies, same window duration) without a resampling pass. Rhythm, timbre and level features reduce it to
  mel bands and per-frame descriptors block by block, so the full linear spectrogram (635 MB for an hour) is
  never held;
- per-frame energies of the mid, side ``(L - R) / 2``, left and right signals and of the L·R cross-spectrum in
  the producer bands of :mod:`analysis.tonal_balance`, up to 20 kHz, which tonal balance and stereo image read.

The complex spectra never exist for the whole track at once, so memory grows with the number of frames times
what the reducers keep, not with the number of samples times the FFT size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft

from analysis._resample import resample_dc_free
from analysis._threads import fft_threads
from analysis._typing import Float32Array
from analysis._windows import hann
from analysis.tonal_balance import BAND_NAMES, band_bins

__all__ = ["FRAME_SR", "HOP_LENGTH", "MONO_BINS", "N_FFT", "BandEnergies", "Frontend", "MonoReducer", "frontend"]

FRAME_SR = 44100
N_FFT = 4096
HOP_LENGTH = 1024
MONO_BINS = N_FFT // 4 + 1
_BLOCK_FRAMES = 512

MonoReducer = Callable[[Float32Array], Float32Array]
"""Maps a block of the mono power spectrogram, shape ``(MONO_BINS, count)``, to ``(count,)`` or ``(k, count)``."""


@dataclass(frozen=True, slots=True)
class BandEnergies:
    """Per-frame energies in each producer band (:data:`analysis.tonal_balance.BAND_NAMES`), arrays ``(n_frames, 6)``.

    Energies are mean squares of the band-limited signals (Parseval over the band's STFT bins; a full-scale sine
    reads 0.5). ``cross`` is the real part of the L·R* cross-spectrum, scaled alike. ``valid`` marks the bands
    that lie wholly below the source's Nyquist frequency.
    """

    mid: Float32Array
    side: Float32Array
    left: Float32Array
    right: Float32Array
    cross: Float32Array
    valid: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Frontend:
    """What the STFT pass produced.

    Attributes
    ----------
    mono : dict of str to np.ndarray
        For each mono reducer, its outputs side by side: shape ``(n_frames,)`` or ``(k, n_frames)``.
    bands : BandEnergies
        Band energies of mid, side, left, right and cross-spectrum.
    hop_s : float
        Seconds between frames.
    source_sr : int
        Sampling rate of the input, which bounds the bands that carry information.
    stereo : bool
        Whether the input had two or more channels.
    """

    mono: dict[str, Float32Array]
    bands: BandEnergies
    hop_s: float
    source_sr: int
    stereo: bool

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.bands.mid.shape[0])


def frontend(y: Float32Array, *, sr: int, mono: Mapping[str, MonoReducer] | None = None) -> Frontend:
    """Run the shared STFT pass.

    Parameters
    ----------
    y : np.ndarray, shape (channels, n_samples)
        Float audio. Channel 0 is left and the last channel is right; a mono input is its own mid.
    sr : int
        Sampling rate of ``y`` in Hz.
    mono : mapping of str to callable, optional
        Reducers of the mono power spectrogram (1025 bins on the 22.05 kHz / 2048-point grid, frames last),
        called once per block of up to 512 frames; ``{"power": lambda s: s}`` keeps the whole spectrogram.

    Returns
    -------
    Frontend
        Reduced mono spectra and band energies on a frame grid of ``1 + n // HOP_LENGTH`` frames, where ``n`` is
        the length at 44.1 kHz.
    """
    reducers = dict(mono or {})
    stereo = y.shape[0] >= 2
    length = y.shape[1] if sr == FRAME_SR else round(y.shape[1] * FRAME_SR / sr)
    n_frames = 1 + length // HOP_LENGTH
    left = _Channel(y[0], sr=sr, length=length)
    right = _Channel(y[-1], sr=sr, length=length) if stereo else left
    window = hann(N_FFT).astype(np.float32)
    # Band sums are linear in the power, so one matrix product per block gives them all; mid and side follow
    # from |L|^2, |R|^2 and Re(L R*) without ever forming their spectra.
    # Parseval for a one-sided spectrum of a Hann-windowed frame: mean square = 2 * sum(bins) / (N^2 * <w^2>).
    scale = 2.0 / (N_FFT**2 * float(np.mean(window.astype(np.float64) ** 2)))
    band_matrix = np.zeros((N_FFT // 2 + 1, len(BAND_NAMES)), dtype=np.float32)
    for j, span in enumerate(band_bins(sr=FRAME_SR, n_fft=N_FFT)):
        if span is not None:
            band_matrix[span[0] : span[1], j] = scale

    outputs: dict[str, Float32Array] = {}
    left_b = np.empty((n_frames, len(BAND_NAMES)), dtype=np.float32)
    right_b = np.empty_like(left_b)
    cross_b = np.empty_like(left_b)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, n_frames - start)
        rows = slice(start, start + count)
        spec_l = _block_spectrum(left, start, count, window)
        power_l = spec_l.real**2 + spec_l.imag**2
        left_b[rows] = power_l @ band_matrix
        spectrum = None
        if stereo:
            spec_r = _block_spectrum(right, start, count, window)
            power_r = spec_r.real**2 + spec_r.imag**2
            cross = spec_l.real * spec_r.real + spec_l.imag * spec_r.imag
            right_b[rows] = power_r @ band_matrix
            cross_b[rows] = cross @ band_matrix
            if reducers:
                # |(L + R) / 2|^2 / 4: the mid power, scaled to the 2048-point grid at 22.05 kHz. Rounding can
                # leave -1e-12 where L = -R; power is never negative.
                low = slice(0, MONO_BINS)
                mid = (power_l[:, low] + power_r[:, low] + 2.0 * cross[:, low]) * np.float32(1 / 16)
                spectrum = np.maximum(mid, np.float32(0.0))
        else:
            right_b[rows] = left_b[rows]
            cross_b[rows] = left_b[rows]
            if reducers:
                spectrum = power_l[:, :MONO_BINS] * np.float32(0.25)
        if spectrum is not None:
            # Frames last like librosa, contiguous so that the reducers' matrix products run at full speed.
            frames_last = np.ascontiguousarray(spectrum.T)
            for name, reduce in reducers.items():
                _store(outputs, name, reduce(frames_last), rows, n_frames)
    two = np.float32(2.0)
    mid_b: Float32Array = (left_b + right_b + two * cross_b) * np.float32(0.25)
    side_b: Float32Array = np.maximum((left_b + right_b - two * cross_b) * np.float32(0.25), np.float32(0.0))
    return Frontend(
        mono=outputs,
        bands=BandEnergies(
            mid=mid_b,
            side=side_b,
            left=left_b,
            right=right_b,
            cross=cross_b,
            valid=np.array([span is not None for span in band_bins(sr=FRAME_SR, n_fft=N_FFT, source_sr=sr)]),
        ),
        hop_s=HOP_LENGTH / FRAME_SR,
        source_sr=sr,
        stereo=stereo,
    )


def _store(outputs: dict[str, Float32Array], name: str, value: Float32Array, rows: slice, n_frames: int) -> None:
    """Write one block's reduction into its full-length output, allocated on the first block."""
    if name not in outputs:
        outputs[name] = np.empty((*value.shape[:-1], n_frames), dtype=np.float32)
    outputs[name][..., rows] = value


class _Channel:
    """One channel at 44.1 kHz, DC-free, read forwards in overlapping segments.

    A 44.1 kHz channel is read in place, its mean subtracted segment by segment. Any other rate is resampled as a
    stream (:func:`analysis._resample.resample_dc_free`), so an hour at 48 kHz never exists twice: only the
    samples between the current segment's start and the resampler's last block are held. An offset is inaudible,
    and its step at the ends of the zero-padded signal would read as a broadband click, hence its removal.
    """

    def __init__(self, channel: Float32Array, *, sr: int, length: int) -> None:
        self.length = length
        if sr == FRAME_SR:
            self._offset = np.float32(channel.mean(dtype=np.float64))
            self._blocks: Iterator[Float32Array] = iter((channel,))
        else:
            self._offset = np.float32(0.0)
            self._blocks = resample_dc_free(channel, sr=sr, target_sr=FRAME_SR)
        self._buffer: Float32Array = np.zeros(0, dtype=np.float32)
        self._start = 0

    def read_into(self, out: Float32Array, first: int) -> None:
        """Write samples ``first .. first + out.size`` into ``out`` (zeros outside the signal).

        ``first`` must not decrease from one call to the next: earlier samples are released.
        """
        last = min(first + out.size, self.length)
        while self._start + self._buffer.size < last:
            block = next(self._blocks, None)
            if block is None:
                break
            keep = self._buffer[max(0, first - self._start) :]
            self._start += self._buffer.size - keep.size
            self._buffer = block if keep.size == 0 else np.concatenate((keep, block))
        lo = max(first, self._start, 0)
        hi = min(last, self._start + self._buffer.size)
        out.fill(0.0)
        if hi > lo:
            np.subtract(
                self._buffer[lo - self._start : hi - self._start], self._offset, out=out[lo - first : hi - first]
            )


def _block_spectrum(y: _Channel, start: int, count: int, window: Float32Array) -> npt.NDArray[np.complex64]:
    """Complex spectra of frames ``start .. start + count`` (centred, zero-padded), shape ``(count, N_FFT/2+1)``."""
    half = N_FFT // 2
    first = start * HOP_LENGTH - half
    last = (start + count - 1) * HOP_LENGTH + half
    segment = np.empty(last - first, dtype=np.float32)
    y.read_into(segment, first)
    frames = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)[::HOP_LENGTH][:count]
    spectra: npt.NDArray[np.complex64] = scipy.fft.rfft(frames * window, axis=-1, workers=fft_threads())
    return spectra
