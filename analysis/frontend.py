"""The shared front end: one short-time Fourier transform pass over the stereo signal, in bounded blocks.

Conventions: the signal is brought to :data:`FRAME_SR` (44.1 kHz) and transformed per channel with a Hann window of
:data:`N_FFT` samples every :data:`HOP_LENGTH` samples (centred frames, zero padding at the ends): 23.2 ms hops and
10.8 Hz bins, the same frame grid as a 2048-point STFT at 22.05 kHz with a 512-sample hop. From each block of
frames it keeps

- the power of the mid signal ``(L + R) / 2`` on bins 0..1024, scaled by 1/4: exactly the 2048-point power
  spectrogram of the mono mix at 22.05 kHz (same bin frequencies, same window duration) without a resampling
  pass, which rhythm, timbre and level features share;
- per-frame energies of the mid, side ``(L - R) / 2``, left and right signals and of the L·R cross-spectrum in
  the producer bands of :mod:`analysis.tonal`, up to 20 kHz, which tonal balance and stereo image read.

The complex spectra never exist for the whole track at once, so memory grows with the number of frames, not
with the number of samples times the FFT size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft

from analysis._resample import resample_dc_free
from analysis._typing import Float32Array
from analysis._windows import hann
from analysis.tonal import BAND_NAMES, band_bins

__all__ = ["FRAME_SR", "HOP_LENGTH", "N_FFT", "BandEnergies", "Frontend", "frontend"]

FRAME_SR = 44100
N_FFT = 4096
HOP_LENGTH = 1024
MONO_BINS = N_FFT // 4 + 1
_BLOCK_FRAMES = 512
_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class BandEnergies:
    """Per-frame energies in each producer band (:data:`analysis.tonal.BAND_NAMES`), arrays ``(n_frames, 6)``.

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
    mono_power : np.ndarray, shape (1025, n_frames)
        Power spectrogram of the mono mix on the 22.05 kHz / 2048-point grid.
    bands : BandEnergies
        Band energies of mid, side, left, right and cross-spectrum.
    hop_s : float
        Seconds between frames.
    source_sr : int
        Sampling rate of the input, which bounds the bands that carry information.
    stereo : bool
        Whether the input had two or more channels.
    """

    mono_power: Float32Array
    bands: BandEnergies
    hop_s: float
    source_sr: int
    stereo: bool

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.mono_power.shape[1])


def frontend(x: Float32Array, *, sr: int) -> Frontend:
    """Run the shared STFT pass.

    Parameters
    ----------
    x : np.ndarray, shape (channels, n_samples)
        Float audio. Channel 0 is left and the last channel is right; a mono input is its own mid.
    sr : int
        Sampling rate of ``x`` in Hz.

    Returns
    -------
    Frontend
        Mono power spectrogram and band energies on a frame grid of ``1 + n // HOP_LENGTH`` frames, where
        ``n`` is the length at 44.1 kHz.
    """
    stereo = x.shape[0] >= 2
    left, left_offset = _at_frame_rate(x[0], sr)
    right, right_offset = _at_frame_rate(x[-1], sr) if stereo else (left, left_offset)
    n_frames = 1 + left.shape[0] // HOP_LENGTH
    window = hann(N_FFT).astype(np.float32)
    # Band sums are linear in the power, so one matrix product per block gives them all; mid and side follow
    # from |L|^2, |R|^2 and Re(L R*) without ever forming their spectra.
    # Parseval for a one-sided spectrum of a Hann-windowed frame: mean square = 2 * sum(bins) / (N^2 * <w^2>).
    scale = 2.0 / (N_FFT**2 * float(np.mean(window.astype(np.float64) ** 2)))
    band_matrix = np.zeros((N_FFT // 2 + 1, len(BAND_NAMES)), dtype=np.float32)
    for j, span in enumerate(band_bins(sr=FRAME_SR, n_fft=N_FFT)):
        if span is not None:
            band_matrix[span[0] : span[1], j] = scale

    # Frames-last like librosa; blocks are written transposed so no second full-size copy is ever made.
    mono_power = np.empty((MONO_BINS, n_frames), dtype=np.float32)
    left_b = np.empty((n_frames, len(BAND_NAMES)), dtype=np.float32)
    right_b = np.empty_like(left_b)
    cross_b = np.empty_like(left_b)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, n_frames - start)
        rows = slice(start, start + count)
        spec_l = _block_spectrum(left, start, count, window, left_offset)
        power_l = spec_l.real**2 + spec_l.imag**2
        left_b[rows] = power_l @ band_matrix
        if stereo:
            spec_r = _block_spectrum(right, start, count, window, right_offset)
            power_r = spec_r.real**2 + spec_r.imag**2
            cross = spec_l.real * spec_r.real + spec_l.imag * spec_r.imag
            right_b[rows] = power_r @ band_matrix
            cross_b[rows] = cross @ band_matrix
            # |(L + R) / 2|^2 / 4: the mid power, scaled to the 2048-point grid at 22.05 kHz.
            low = slice(0, MONO_BINS)
            mid = (power_l[:, low] + power_r[:, low] + 2.0 * cross[:, low]) * np.float32(1 / 16)
            # Rounding can leave -1e-12 where L = -R; power is never negative.
            mono_power[:, rows] = np.maximum(mid, np.float32(0.0)).T
        else:
            right_b[rows] = left_b[rows]
            cross_b[rows] = left_b[rows]
            mono_power[:, rows] = (power_l[:, :MONO_BINS] * np.float32(0.25)).T
    two = np.float32(2.0)
    mid_b: Float32Array = (left_b + right_b + two * cross_b) * np.float32(0.25)
    side_b: Float32Array = np.maximum((left_b + right_b - two * cross_b) * np.float32(0.25), np.float32(0.0))
    return Frontend(
        mono_power=mono_power,
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


def _at_frame_rate(channel: Float32Array, sr: int) -> tuple[Float32Array, np.float32]:
    """Bring a channel to 44.1 kHz and measure its DC offset, which the STFT removes block by block.

    An offset is inaudible, and its step at the ends of the zero-padded signal would read as a broadband click.
    A 44.1 kHz channel is used as it is: no full-length copy.
    """
    if sr == FRAME_SR:
        return channel, np.float32(channel.mean(dtype=np.float64))
    blocks = list(resample_dc_free(channel, sr=sr, target_sr=FRAME_SR))
    return np.concatenate(blocks).astype(np.float32, copy=False), np.float32(0.0)


def _block_spectrum(
    y: Float32Array, start: int, count: int, window: Float32Array, offset: np.float32
) -> npt.NDArray[np.complex64]:
    """Complex spectra of frames ``start .. start + count`` (centred, zero-padded), shape ``(count, N_FFT/2+1)``."""
    half = N_FFT // 2
    first = start * HOP_LENGTH - half
    last = (start + count - 1) * HOP_LENGTH + half
    lo, hi = max(first, 0), min(last, y.shape[0])
    segment = np.zeros(last - first, dtype=np.float32)
    np.subtract(y[lo:hi], offset, out=segment[lo - first : hi - first])
    frames = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)[::HOP_LENGTH][:count]
    spectra: npt.NDArray[np.complex64] = scipy.fft.rfft(frames * window, axis=-1, workers=_WORKERS)
    return spectra
