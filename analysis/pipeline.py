"""The whole-track analysis: one call from samples to a :class:`~analysis.types.TrackAnalysis`.

Conventions: input samples are float in ``[-1, 1]``, ``(channels, n_samples)`` or ``(n_samples,)``, at ``sr`` Hz.
One STFT pass per channel (:mod:`analysis.frontend`) gives the mono power spectrogram on the 22.05 kHz,
2048-point grid (``HOP_LENGTH / ANALYSIS_SR`` ≈ 23.2 ms hops), reduced block by block to what rhythm, timbre and
level features read (onset and 128-band mel powers, pitch classes, centroid, rolloff, flatness), and the band
energies of mid, side and cross-spectrum read by tonal balance and stereo image. Loudness and true peak
are measured on the original samples; key and tuning on the mono mix at 11.025 kHz with a long window (bass
notes need 2.7 Hz bins); waveform overviews on the original samples and rate.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import scipy.ndimage

from analysis._mel import mel_filterbank
from analysis._resample import resample_dc_free
from analysis._typing import Float32Array
from analysis._validate import as_channels_first, check_sr
from analysis._version import ANALYZER_VERSION
from analysis.chroma import TONAL_SR
from analysis.frontend import FRAME_SR, frontend
from analysis.frontend import HOP_LENGTH as HOP_LENGTH_FULL
from analysis.key import estimate_key
from analysis.loudness import RMS_FLOOR_DB, measure_loudness
from analysis.meter import pitch_class_frames
from analysis.spectrum import power_to_db, spectral_centroid
from analysis.stereo import stereo_image_from_bands
from analysis.structure import Section, segment
from analysis.tempo import Rhythm, estimate_rhythm, flux_filterbank
from analysis.timbre import mfcc, spectral_flatness, spectral_rolloff
from analysis.tonal_balance import BAND_NAMES, tonal_balance_from_bands
from analysis.types import Event, FeatureSeries, TrackAnalysis
from analysis.waveform import thumbnail_png, waveform_levels

__all__ = ["ANALYSIS_SR", "HOP_LENGTH", "N_FFT", "analyze", "warm_up"]

ANALYSIS_SR = 22050
N_FFT = 2048
HOP_LENGTH = 512
# Onset envelopes peak a frame or so after the attack they mark.
ONSET_LATENCY_S = 0.018
_SILENT_ONSET_ENVELOPE = 1e-4
_ONSET_DELTA = 0.07
N_MELS = 128


def analyze(y: npt.ArrayLike, *, sr: int) -> TrackAnalysis:
    """Analyse a whole track: rhythm, key, loudness, tonal balance, stereo image, timbre, structure, waveforms.

    Parameters
    ----------
    y : np.ndarray, shape (channels, n_samples) or (n_samples,)
        Float audio in ``[-1, 1]`` (up to 64 channels; the first and last are taken as left and right).
    sr : int
        Sampling rate of ``y`` in Hz (1000 to 768000).

    Returns
    -------
    TrackAnalysis
        Feature series, all on the 23.2 ms frame grid unless stated: ``rms`` (dBFS, 20 Hz-20 kHz),
        ``spectral_centroid``, ``spectral_rolloff`` (Hz, up to 11 kHz), ``spectral_flatness`` (0-1),
        ``onset_strength`` (dB), ``mfcc`` (13), ``chroma`` (12, C..B), ``tonal_bands`` (6 producer bands, dBFS),
        ``stereo_width`` (0-1), ``stereo_correlation`` (-1..1), ``local_tempo`` (BPM), and on a 100 ms grid
        ``momentary_loudness`` and ``short_term_loudness`` (LUFS). Events: ``beat`` (value = strength),
        ``downbeat`` (label = bar number), ``onset`` and ``section`` (duration, letter label, role, loudness,
        tempo and key in the payload), sorted by time.

        Degenerate input is defined, never an error: silence or DC gives tempo 0 with confidence 0, no beats,
        key ``None``, loudness values ``None`` and one section; white noise gives low tempo confidence and no key;
        a clip shorter than 400 ms has no integrated loudness.

    Raises
    ------
    AnalysisParameterError
        If ``y`` is empty, not 1-D/2-D, samples-first, integer, non-finite, or ``sr`` is out of range.
    """
    x = as_channels_first(y)
    sr = check_sr(sr)
    duration_s = x.shape[1] / sr

    # Loudness and key first: they need only the samples, and their working memory then never coincides with the
    # spectrogram's (what sets the peak on long tracks).
    loudness = measure_loudness(x, sr=sr)
    expected_frames = 1 + round(x.shape[1] * FRAME_SR / sr) // HOP_LENGTH_FULL
    tonality = estimate_key(
        y=_mono_at(x, sr, TONAL_SR),
        sr=TONAL_SR,
        hop_length=HOP_LENGTH * TONAL_SR // ANALYSIS_SR,
        n_frames=expected_frames,
    )

    flux_basis = flux_filterbank(sr=ANALYSIS_SR, n_fft=N_FFT)[0]
    mel_basis = mel_filterbank(sr=ANALYSIS_SR, n_fft=N_FFT, n_mels=N_MELS)
    front = frontend(
        x,
        sr=sr,
        mono={
            "flux_mel": lambda s: np.asarray(flux_basis @ s, dtype=np.float32),
            "mel": lambda s: mel_basis @ s,
            "pitch_classes": lambda s: pitch_class_frames(s, sr=ANALYSIS_SR, n_fft=N_FFT),
            "centroid": lambda s: spectral_centroid(S_power=s, sr=ANALYSIS_SR, n_fft=N_FFT),
            "rolloff": lambda s: spectral_rolloff(S_power=s, sr=ANALYSIS_SR, n_fft=N_FFT),
            "flatness": lambda s: spectral_flatness(S_power=s),
        },
    )
    reduced = front.mono
    hop_s = front.hop_s
    n_frames = front.n_frames
    if tonality.chroma.shape[1] != n_frames:
        # The resampler may round the length differently by a sample: keep the chroma on the frame grid.
        index = np.minimum(np.arange(n_frames), tonality.chroma.shape[1] - 1)
        tonality = dataclasses.replace(tonality, chroma=np.ascontiguousarray(tonality.chroma[:, index]))

    rhythm = estimate_rhythm(
        flux_mel=reduced["flux_mel"],
        pitch_classes=reduced["pitch_classes"],
        sr=ANALYSIS_SR,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
    )
    bands = front.bands
    tonal = tonal_balance_from_bands(mean_square=bands.mid, available=bands.valid.tolist())
    stereo = stereo_image_from_bands(
        left=bands.left, right=bands.right, cross=bands.cross, available=bands.valid.tolist()
    )

    s_db = power_to_db(reduced.pop("mel"))
    envelope = _spectral_flux(s_db)
    cepstrum = mfcc(S_db=s_db)
    level_db = _level_db(bands.mid)
    sections = segment(
        chroma=tonality.chroma,
        mfcc=cepstrum,
        rms_db=level_db,
        beat_times_s=rhythm.beat_times_s,
        hop_s=hop_s,
        duration_s=duration_s,
        downbeat_times_s=rhythm.downbeat_times_s if rhythm.downbeat_times_s.size >= 2 else None,
        onset_envelope=envelope,
    )

    features = (
        _series("rms", hop_s, level_db, "dBFS", "RMS level of the mono mix, 20 Hz-20 kHz (full-scale sine -3.01)"),
        _series(
            "spectral_centroid",
            hop_s,
            reduced["centroid"],
            "Hz",
            "Power-weighted mean frequency up to 11 kHz (brightness); 0 in silent frames",
        ),
        _series(
            "spectral_rolloff",
            hop_s,
            reduced["rolloff"],
            "Hz",
            "Frequency below which 85 % of the magnitude up to 11 kHz lies; 0 in silent frames",
        ),
        _series(
            "spectral_flatness",
            hop_s,
            reduced["flatness"],
            "",
            "Geometric over arithmetic mean of the power spectrum: 0 tonal, towards 1 noisy; 0 in silence",
        ),
        _series("onset_strength", hop_s, envelope, "dB", "Log-mel spectral flux: mean rise in dB across 128 bands"),
        _series("mfcc", hop_s, cepstrum.T, "", "13 mel-frequency cepstral coefficients of the log-mel spectrum"),
        _series("chroma", hop_s, tonality.chroma.T, "", "NNLS treble + half bass chroma C..B, each frame max 1"),
        _series(
            "tonal_bands",
            hop_s,
            np.nan_to_num(tonal.band_db, nan=RMS_FLOOR_DB),
            "dBFS",
            "Level per producer band: " + ", ".join(BAND_NAMES) + " (floor where above the source's Nyquist)",
        ),
        _series("stereo_width", hop_s, stereo.width, "", "Side over mid-plus-side energy: 0 mono, 1 all side"),
        _series(
            "stereo_correlation", hop_s, stereo.correlation, "", "L/R correlation: 1 mono, 0 unrelated, -1 inverted"
        ),
        _series(
            "local_tempo",
            hop_s,
            rhythm.local_tempo_curve(n_frames=n_frames, hop_s=hop_s),
            "BPM",
            "Tempo from the beat intervals around each beat, interpolated between beats",
        ),
        _series("momentary_loudness", loudness.hop_s, loudness.momentary_lufs, "LUFS", "EBU R128 momentary (400 ms)"),
        _series("short_term_loudness", loudness.hop_s, loudness.short_term_lufs, "LUFS", "EBU R128 short-term (3 s)"),
    )

    events = _rhythm_events(rhythm)
    events.extend(_onset_events(envelope))
    events.extend(
        _section_events(
            sections,
            rhythm=rhythm,
            tonality_chroma=tonality.chroma,
            hop_s=hop_s,
            momentary=loudness.momentary_lufs,
            momentary_hop_s=loudness.hop_s,
        )
    )
    events.sort(key=lambda event: (event.time_s, event.event_type))

    waveforms = waveform_levels(x, sr=sr)
    return TrackAnalysis(
        duration_s=duration_s,
        sample_rate=sr,
        channels=int(x.shape[0]),
        rhythm=rhythm,
        tonality=tonality,
        loudness=loudness,
        tonal_balance=tonal,
        stereo=stereo,
        sections=sections,
        features=features,
        events=tuple(events),
        waveforms=waveforms,
        thumbnail_png=thumbnail_png(waveforms[-1] if waveforms[-1].length >= 1200 else waveforms[0]),
        analyzer_version=ANALYZER_VERSION,
    )


def _series(name: str, hop_s: float, values: npt.ArrayLike, unit: str, description: str) -> FeatureSeries:
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    return FeatureSeries(name=name, hop_s=hop_s, values=np.ascontiguousarray(array), unit=unit, description=description)


def _mono_at(y: Float32Array, sr: int, target_sr: int) -> Float32Array:
    """Mix to DC-free mono at ``target_sr``.

    Each channel is resampled in blocks with its mean removed first (a DC step at the ends would otherwise ring
    through the resampler) and added into one preallocated output, so no full-length copy is ever made.
    """
    if sr == target_sr:
        same_rate: Float32Array = y.mean(axis=0, dtype=np.float32)
        same_rate -= np.float32(same_rate.mean(dtype=np.float64))
        return same_rate
    mono = np.zeros(int(np.ceil(y.shape[1] * target_sr / sr)) + 64, dtype=np.float32)
    length = mono.size
    for channel in y:
        done = 0
        for part in resample_dc_free(channel, sr=sr, target_sr=target_sr):
            mono[done : done + part.size] += part[: mono.size - done]
            done += part.size
        length = min(length, done)
    mixed: Float32Array = mono[:length]
    mixed /= np.float32(y.shape[0])
    return mixed


def _level_db(mid_bands: Float32Array) -> Float32Array:
    total = mid_bands.sum(axis=1, dtype=np.float64)
    floor = 10.0 ** (RMS_FLOOR_DB / 10.0)
    level: Float32Array = (10.0 * np.log10(np.maximum(total, floor))).astype(np.float32)
    return level


def _spectral_flux(s_db: Float32Array) -> Float32Array:
    """Mean half-wave rectified rise of the log-mel spectrum from frame to frame (Böck & Widmer, no max filter)."""
    env = np.zeros(s_db.shape[1], dtype=np.float32)
    if s_db.shape[1] > 1:
        rise = np.diff(s_db, axis=1)
        np.maximum(rise, np.float32(0.0), out=rise)
        env[1:] = rise.mean(axis=0)
    return env


def _rhythm_events(rhythm: Rhythm) -> list[Event]:
    events = [
        Event(event_type="beat", time_s=float(t), duration_s=None, value=float(v), label=None)
        for t, v in zip(rhythm.beat_times_s, rhythm.beat_strength, strict=True)
    ]
    events.extend(
        Event(event_type="downbeat", time_s=float(t), duration_s=None, value=None, label=str(bar))
        for bar, t in enumerate(rhythm.downbeat_times_s, start=1)
    )
    return events


def _onset_events(envelope: Float32Array) -> list[Event]:
    """Onsets: peaks of the envelope that are the maximum within ±30 ms and rise above its local mean.

    The same peak-picking rule as librosa's ``onset_detect`` defaults (Böck et al. 2012), vectorised.
    """
    peak = float(envelope.max(initial=0.0))
    if peak < _SILENT_ONSET_ENVELOPE:
        return []
    env = envelope / np.float32(peak)
    fps = ANALYSIS_SR / HOP_LENGTH
    local_max = scipy.ndimage.maximum_filter1d(env, size=2 * round(0.03 * fps) + 1, mode="constant")
    local_mean = scipy.ndimage.uniform_filter1d(env, size=2 * round(0.1 * fps) + 1, mode="constant")
    candidates = np.flatnonzero((env == local_max) & (env >= local_mean + _ONSET_DELTA) & (env > 0.0))
    frames: list[int] = []
    wait = round(0.03 * fps)
    for frame in candidates.tolist():
        if not frames or frame - frames[-1] > wait:
            frames.append(frame)
    return [
        Event(
            event_type="onset",
            time_s=float(frame * HOP_LENGTH / ANALYSIS_SR + ONSET_LATENCY_S),
            duration_s=None,
            value=float(env[frame]),
            label=None,
        )
        for frame in frames
    ]


def _section_events(
    sections: tuple[Section, ...],
    *,
    rhythm: Rhythm,
    tonality_chroma: Float32Array,
    hop_s: float,
    momentary: Float32Array,
    momentary_hop_s: float,
) -> list[Event]:
    """One event per section, with its loudness (LUFS), tempo and key like Spotify's audio-analysis sections."""
    events = []
    for section in sections:
        start, end = section.start_s, section.end_s
        beats = rhythm.beat_times_s[(rhythm.beat_times_s >= start) & (rhythm.beat_times_s < end)]
        tempo = 60.0 * (beats.size - 1) / float(beats[-1] - beats[0]) if beats.size >= 3 else None
        first, last = int(start / hop_s), max(int(start / hop_s) + 1, int(end / hop_s))
        key = estimate_key(chroma=tonality_chroma[:, first:last]).key if last > first else None
        window = momentary[
            int(start / momentary_hop_s) : max(int(start / momentary_hop_s) + 1, int(end / momentary_hop_s))
        ]
        audible = window[window > -70.0]
        lufs = 10.0 * float(np.log10(np.mean(10.0 ** (audible.astype(np.float64) / 10.0)))) if audible.size else None
        events.append(
            Event(
                event_type="section",
                time_s=float(start),
                duration_s=float(section.duration_s),
                value=float(section.confidence),
                label=section.label,
                payload={
                    "role": section.role,
                    "confidence": round(float(section.confidence), 4),
                    "loudness_lufs": None if lufs is None else round(lufs, 2),
                    "rms_db": round(float(section.loudness_db), 2),
                    "tempo_bpm": None if tempo is None else round(tempo, 2),
                    "key": key,
                },
            )
        )
    return events


def warm_up() -> None:
    """Run :func:`analyze` once on four seconds of stereo clicks, so that lazily compiled code is ready.

    The beat tracker and the true-peak and loudness kernels are compiled by numba on first use (seconds); a
    long-lived process that calls this once at start-up, before it forks workers, pays that cost once for all.
    """
    sr = 44100
    clicks = np.zeros((2, 4 * sr), dtype=np.float32)
    clicks[:, :: sr // 2] = 0.5
    analyze(clicks, sr=sr)
