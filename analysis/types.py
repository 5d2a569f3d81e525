"""Result types of the analysis package.

Conventions used by every type here:

- times and durations are in seconds (``*_s``), rates in hertz, tempi in beats per minute (``*_bpm``);
- multichannel sample arrays are channels-first, ``(channels, n_samples)``, ``float32`` in ``[-1, 1]``;
- frame features are ``(n_frames, dims)`` ``float32`` arrays; frame ``i`` is centred on ``i * hop_s`` seconds;
- all dataclasses are frozen: treat their arrays as read-only.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from analysis._typing import Float32Array, Float64Array, FloatArray, Int8Array, Int16Array
from analysis.errors import AnalysisParameterError, WaveformFormatError

if TYPE_CHECKING:
    from analysis.key import KeyEstimate
    from analysis.loudness import Loudness
    from analysis.stereo import StereoImage
    from analysis.structure import Section
    from analysis.tempo import Rhythm
    from analysis.tonal_balance import TonalBalance

__all__ = [
    "EVENT_TYPES",
    "AudioInfo",
    "DecodedAudio",
    "Event",
    "FeatureSeries",
    "JSONScalar",
    "JSONValue",
    "TrackAnalysis",
    "WaveformPeaks",
]

JSONScalar = str | int | float | bool | None
JSONValue = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]

EVENT_TYPES: frozenset[str] = frozenset({"beat", "downbeat", "onset", "section"})

# audiowaveform's binary format: version 2 has a channel count after the version 1 header's fields.
_DAT_HEADER_V1 = struct.Struct("<iIiiI")
_DAT_HEADER = struct.Struct("<iIiiIi")
_DAT_VERSION = 2
_DAT_FLAG_8BIT = 0x1
_DAT_DTYPES = {8: "i1", 16: "<i2"}


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """Container-level description of an audio file, as returned by :func:`analysis.io.probe`.

    Attributes
    ----------
    format : str
        Lower-case container name: ``"wav"``, ``"aiff"``, ``"flac"``, ``"ogg"``, ``"mp3"``, ``"m4a"``, ``"mp4"``,
        or the FFmpeg demuxer name for anything rarer.
    codec : str
        Lower-case codec name: ``"pcm_16"``, ``"pcm_24"``, ``"pcm_32"``, ``"pcm_u8"``, ``"pcm_8"``, ``"float"``,
        ``"double"``, ``"flac"``, ``"vorbis"``, ``"opus"``, ``"mp3"``, ``"aac"``, ``"alac"``, ...
    sample_rate : int
        Sampling rate in Hz.
    channels : int
        Number of channels.
    frames : int
        Number of sample frames (samples per channel).
    duration_s : float
        ``frames / sample_rate``.
    bit_depth : int or None
        Bits per sample of the stored PCM (``32``/``64`` for float, the source depth for FLAC/ALAC);
        ``None`` for lossy codecs.
    """

    format: str
    codec: str
    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    bit_depth: int | None


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Decoded samples plus the description of the file they came from.

    Attributes
    ----------
    samples : np.ndarray, shape (channels, n_samples), float32
        The decoded audio at its original rate, in ``[-1, 1]``.
    sr : int
        Sampling rate of ``samples`` in Hz.
    info : AudioInfo
        What :func:`analysis.io.probe` reports for the file (``info.frames`` may exceed ``n_samples`` when the
        load was limited with ``max_seconds``).
    """

    samples: Float32Array
    sr: int
    info: AudioInfo

    @property
    def duration_s(self) -> float:
        """Duration of the decoded samples in seconds."""
        return float(self.samples.shape[1]) / float(self.sr)


@dataclass(frozen=True, slots=True)
class FeatureSeries:
    """A frame-wise feature sampled at a fixed hop.

    Attributes
    ----------
    name : str
        Feature identifier, e.g. ``"rms"``, ``"spectral_centroid"``, ``"onset_strength"``, ``"chroma"``.
    hop_s : float
        Time between consecutive frames in seconds; frame ``i`` is centred on ``i * hop_s``.
    values : np.ndarray, shape (n_frames, dims), float32
        The feature values.
    unit : str
        Unit of ``values`` (``"dBFS"``, ``"Hz"``, ``""`` for dimensionless).
    description : str
        One-line human-readable description.
    """

    name: str
    hop_s: float
    values: Float32Array
    unit: str
    description: str

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.values.shape[0])

    @property
    def dims(self) -> int:
        """Number of values per frame."""
        return int(self.values.shape[1])


@dataclass(frozen=True, slots=True)
class Event:
    """A point or span on the track's time line.

    Attributes
    ----------
    event_type : str
        One of ``"beat"``, ``"downbeat"``, ``"onset"``, ``"section"``.
    time_s : float
        Start time in seconds.
    duration_s : float or None
        Length in seconds for spans (sections); ``None`` for instants.
    value : float or None
        Strength of the event in ``[0, 1]`` where meaningful (beat and onset strength).
    label : str or None
        Free-form label (a section's letter, a downbeat's bar number).
    payload : dict or None
        Further JSON-able details (a section's role, loudness, tempo and key).
    """

    event_type: str
    time_s: float
    duration_s: float | None
    value: float | None
    label: str | None
    payload: dict[str, JSONValue] | None = None


@dataclass(frozen=True, slots=True)
class WaveformPeaks:
    """Min/max waveform overview compatible with BBC audiowaveform (format version 2).

    Attributes
    ----------
    sample_rate : int
        Sampling rate of the source samples in Hz.
    samples_per_pixel : int
        Source samples (per channel) summarised by each pixel.
    channels : int
        Number of channels.
    bits : int
        ``16`` (int16 data) or ``8`` (int8 data).
    data : np.ndarray, shape (n_pixels, channels, 2), int16 or int8
        ``data[p, c] = (min, max)`` of channel ``c`` over pixel ``p``; full scale is 32767 (16-bit) or 127 (8-bit).
    """

    sample_rate: int
    samples_per_pixel: int
    channels: int
    bits: int
    data: Int16Array | Int8Array

    @property
    def length(self) -> int:
        """Number of pixels."""
        return int(self.data.shape[0])

    @classmethod
    def from_samples(
        cls, samples: FloatArray, *, sample_rate: int, samples_per_pixel: int = 256, bits: int = 16
    ) -> WaveformPeaks:
        """Compute min/max peaks from float samples.

        Parameters
        ----------
        samples : np.ndarray, shape (channels, n_samples) or (n_samples,)
            Float audio in ``[-1, 1]``; values outside are clipped.
        sample_rate : int
            Sampling rate of ``samples`` in Hz (stored in the header only).
        samples_per_pixel : int
            Samples per channel summarised by one pixel (> 0). The last pixel covers the remainder.
        bits : int
            ``16`` or ``8``.

        Returns
        -------
        WaveformPeaks
            ``ceil(n_samples / samples_per_pixel)`` pixels; zero pixels for empty input.

        Raises
        ------
        AnalysisParameterError
            If ``bits``, ``samples_per_pixel``, ``sample_rate`` or the array shape is invalid.
        """
        if bits not in (8, 16):
            raise AnalysisParameterError(f"bits must be 8 or 16, got {bits}")
        if samples_per_pixel < 1:
            raise AnalysisParameterError(f"samples_per_pixel must be >= 1, got {samples_per_pixel}")
        if sample_rate < 1:
            raise AnalysisParameterError(f"sample_rate must be >= 1, got {sample_rate}")
        x = np.asarray(samples)
        if x.ndim == 1:
            x = x[np.newaxis, :]
        if x.ndim != 2 or x.shape[0] < 1:
            raise AnalysisParameterError(f"samples must have shape (channels, n_samples), got {x.shape}")
        n_channels, n = x.shape
        n_pixels = math.ceil(n / samples_per_pixel)
        scale, dtype = (32767.0, np.int16) if bits == 16 else (127.0, np.int8)
        data = np.zeros((n_pixels, n_channels, 2), dtype=dtype)
        full = n // samples_per_pixel
        if full:
            blocks = x[:, : full * samples_per_pixel].reshape(n_channels, full, samples_per_pixel)
            data[:full, :, 0] = _quantise(blocks.min(axis=2).T, scale, dtype)
            data[:full, :, 1] = _quantise(blocks.max(axis=2).T, scale, dtype)
        if n_pixels > full:
            tail = x[:, full * samples_per_pixel :]
            data[full, :, 0] = _quantise(tail.min(axis=1), scale, dtype)
            data[full, :, 1] = _quantise(tail.max(axis=1), scale, dtype)
        return cls(
            sample_rate=int(sample_rate),
            samples_per_pixel=int(samples_per_pixel),
            channels=int(n_channels),
            bits=bits,
            data=data,
        )

    def to_dat(self) -> bytes:
        """Serialise to the audiowaveform binary format, version 2, little endian.

        Returns
        -------
        bytes
            A 24-byte header (int32 version = 2, uint32 flags with bit 0 set for 8-bit data, int32 sample_rate,
            int32 samples_per_pixel, uint32 length, int32 channels) followed by ``length * channels`` (min, max)
            pairs, pixel-major.
        """
        flags = _DAT_FLAG_8BIT if self.bits == 8 else 0
        header = _DAT_HEADER.pack(
            _DAT_VERSION, flags, self.sample_rate, self.samples_per_pixel, self.length, self.channels
        )
        body: bytes = np.ascontiguousarray(self.data, dtype=_DAT_DTYPES[self.bits]).tobytes()
        return header + body

    @classmethod
    def from_dat(cls, raw: bytes) -> WaveformPeaks:
        """Read the audiowaveform binary format, version 2 or 1 (mono, a 20-byte header without channels).

        Parameters
        ----------
        raw : bytes
            A whole ``.dat`` file, as :meth:`to_dat` writes it; bytes after the last pixel are ignored.

        Returns
        -------
        WaveformPeaks
            The header's rate, zoom, channels and bits, and a read-only view of the body as ``data``.

        Raises
        ------
        WaveformFormatError
            If the version is not 1 or 2, the rate, zoom or channel count is not positive, or the bytes are
            shorter than the header says.
        """
        if len(raw) < _DAT_HEADER_V1.size:
            raise WaveformFormatError("waveform data is shorter than its header")
        version, flags, sample_rate, samples_per_pixel, length = _DAT_HEADER_V1.unpack_from(raw)
        if version == 1:
            channels, offset = 1, _DAT_HEADER_V1.size
        elif version == _DAT_VERSION and len(raw) >= _DAT_HEADER.size:
            channels, offset = _DAT_HEADER.unpack_from(raw)[5], _DAT_HEADER.size
        else:
            raise WaveformFormatError(f"unsupported waveform data version {version}")
        bits = 8 if flags & _DAT_FLAG_8BIT else 16
        if sample_rate < 1 or samples_per_pixel < 1 or channels < 1:
            raise WaveformFormatError("waveform header has a non-positive rate, zoom or channel count")
        dtype = _DAT_DTYPES[bits]
        count = length * channels * 2
        if len(raw) < offset + count * np.dtype(dtype).itemsize:
            raise WaveformFormatError("waveform data is shorter than its header says")
        data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(length, channels, 2)
        return cls(
            sample_rate=sample_rate, samples_per_pixel=samples_per_pixel, channels=channels, bits=bits, data=data
        )

    def to_json(self) -> dict[str, JSONScalar | list[int]]:
        """Serialise to the audiowaveform JSON format, version 2.

        Returns
        -------
        dict
            ``version``, ``channels``, ``sample_rate``, ``samples_per_pixel``, ``bits``, ``length`` and ``data``,
            a flat list of ints in the same order as :meth:`to_dat`.
        """
        return {
            "version": _DAT_VERSION,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "samples_per_pixel": self.samples_per_pixel,
            "bits": self.bits,
            "length": self.length,
            "data": self.data.reshape(-1).tolist(),
        }


def _quantise(x: FloatArray, scale: float, dtype: type[np.int16] | type[np.int8]) -> Int16Array | Int8Array:
    q = np.rint(np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0) * scale)
    if dtype is np.int16:
        return q.astype(np.int16)
    return q.astype(np.int8)


@dataclass(frozen=True, slots=True)
class TrackAnalysis:
    """Everything :func:`analysis.analyze` computes for one track.

    Attributes
    ----------
    duration_s : float
        Duration of the analysed samples in seconds.
    sample_rate : int
        Sampling rate of the input samples in Hz.
    channels : int
        Number of input channels.
    rhythm : Rhythm
        Tempo (with its half/double alternative), beats, downbeats, meter and tempo stability.
    tonality : KeyEstimate
        Key, runner-up, tuning and the chroma they come from.
    loudness : Loudness
        BS.1770 / EBU R128 loudness, loudness range, true and sample peak, crest factor.
    tonal_balance : TonalBalance
        Level of each producer band per frame and over the track.
    stereo : StereoImage
        Width and L/R correlation per frame, per band and over the track.
    sections : tuple of Section
        Structural sections in time order.
    features : tuple of FeatureSeries
        Frame-level series (see :func:`analysis.analyze`).
    events : tuple of Event
        Beats, downbeats, onsets and sections, sorted by time.
    waveforms : tuple of WaveformPeaks
        Min/max overviews of the original samples, finest zoom level first.
    thumbnail_png : bytes
        A small PNG picture of the waveform.
    analyzer_version : str
        Version of the analyzer that produced this result.
    """

    duration_s: float
    sample_rate: int
    channels: int
    rhythm: Rhythm
    tonality: KeyEstimate
    loudness: Loudness
    tonal_balance: TonalBalance
    stereo: StereoImage
    sections: tuple[Section, ...]
    features: tuple[FeatureSeries, ...]
    events: tuple[Event, ...]
    waveforms: tuple[WaveformPeaks, ...]
    thumbnail_png: bytes
    analyzer_version: str = ""

    @property
    def tempo_bpm(self) -> float:
        """Global tempo in BPM; ``0.0`` without a pulse."""
        return self.rhythm.tempo_bpm

    @property
    def bpm_confidence(self) -> float:
        """Confidence of the tempo in ``[0, 1]``."""
        return self.rhythm.bpm_confidence

    @property
    def beat_times_s(self) -> Float64Array:
        """Beat times in seconds."""
        return self.rhythm.beat_times_s

    @property
    def key(self) -> str | None:
        """Key such as ``"A minor"`` (sharps), or ``None`` without tonal content."""
        return self.tonality.key

    @property
    def key_confidence(self) -> float:
        """Confidence of the key in ``[0, 1]``."""
        return self.tonality.confidence

    @property
    def waveform(self) -> WaveformPeaks:
        """The finest waveform overview."""
        return self.waveforms[0]

    def feature(self, name: str) -> FeatureSeries:
        """Return the feature series called ``name``.

        Parameters
        ----------
        name : str
            Feature name, e.g. ``"rms"``.

        Returns
        -------
        FeatureSeries
            The matching series.

        Raises
        ------
        KeyError
            If no feature has that name.
        """
        for series in self.features:
            if series.name == name:
                return series
        raise KeyError(name)

    def summary(self) -> dict[str, JSONValue]:
        """Return the track-level results as plain JSON-able Python values.

        Returns
        -------
        dict
            Flat scalars for the headline values (``bpm``, ``key``, ``lufs_integrated``, ``true_peak_dbtp``, ...)
            and nested objects for ``tonal_balance``, ``stereo``, ``timbre``, ``sections`` and ``waveform``.
            Undefined values (silence) are ``None``; only ``str``, ``int``, ``float``, ``bool``, ``None``, lists
            and dicts appear.
        """
        r, k, ld, tb, st = self.rhythm, self.tonality, self.loudness, self.tonal_balance, self.stereo
        names = {series.name for series in self.features}

        def mean_of(name: str, *, positive: bool = False) -> float | None:
            if name not in names:
                return None
            values = self.feature(name).values[:, 0]
            values = values[values > 0.0] if positive else values
            return _round(float(np.mean(values, dtype=np.float64))) if values.size else None

        rms = self.feature("rms").values[:, 0] if "rms" in names else np.zeros(0, dtype=np.float32)
        return {
            "duration_s": _round(self.duration_s),
            "sample_rate": int(self.sample_rate),
            "channels": int(self.channels),
            "analyzer_version": self.analyzer_version,
            "bpm": _round(r.tempo_bpm),
            "bpm_confidence": _round(r.bpm_confidence),
            "bpm_alt": _round(r.tempo_alt_bpm),
            "bpm_alt_confidence": _round(r.tempo_alt_confidence),
            "time_signature": int(r.time_signature),
            "meter_confidence": _round(r.meter_confidence),
            "tempo_stability": _round(r.tempo_stability),
            "n_beats": int(r.beat_times_s.size),
            "n_bars": int(r.bar_count),
            "n_onsets": sum(1 for event in self.events if event.event_type == "onset"),
            "key": k.key,
            "key_confidence": _round(k.confidence),
            "key_runner_up": k.runner_up_key,
            "tuning_cents": _round(k.tuning_cents),
            "lufs_integrated": _round(ld.integrated_lufs),
            "loudness_range_lu": _round(ld.loudness_range_lu),
            "momentary_max_lufs": _round(ld.momentary_max_lufs),
            "short_term_max_lufs": _round(ld.short_term_max_lufs),
            "true_peak_dbtp": _round(ld.true_peak_dbtp),
            "sample_peak_dbfs": _round(ld.sample_peak_dbfs),
            "plr_db": _round(ld.plr_db),
            "crest_factor_db": _round(ld.crest_factor_db),
            "rms_dbfs": _round(ld.rms_dbfs),
            "rms_db_mean": _round(float(np.mean(rms, dtype=np.float64))) if rms.size else None,
            "rms_db_max": _round(float(np.max(rms))) if rms.size else None,
            "spectral_centroid_hz_mean": mean_of("spectral_centroid", positive=True),
            "tonal_balance": {
                "bands": [
                    {
                        "name": name,
                        "low_hz": edges[0],
                        "high_hz": edges[1],
                        "level_dbfs": _round(level),
                        "relative_db": _round(relative),
                        "share_pct": _round(share),
                    }
                    for name, edges, level, relative, share in zip(
                        tb.band_names, tb.band_edges_hz, tb.band_level_dbfs, tb.relative_db, tb.share_pct, strict=True
                    )
                ]
            },
            "stereo": {
                "width_mean": _round(st.width_mean),
                "width_p10": _round(st.width_p10),
                "width_median": _round(st.width_median),
                "width_p90": _round(st.width_p90),
                "correlation_mean": _round(st.correlation_mean),
                "negative_correlation_fraction": _round(st.negative_correlation_fraction),
                "side_to_mid_db": _round(st.side_to_mid_db),
                "balance_db": _round(st.balance_db),
                "bands": [
                    {"name": name, "width": _round(width), "correlation": _round(corr)}
                    for name, width, corr in zip(st.band_names, st.band_width, st.band_correlation, strict=True)
                ],
            },
            "timbre": {
                "spectral_centroid_hz_mean": mean_of("spectral_centroid", positive=True),
                "spectral_rolloff_hz_mean": mean_of("spectral_rolloff", positive=True),
                "spectral_flatness_mean": mean_of("spectral_flatness"),
            },
            "sections": [
                {"start_s": _round(e.time_s), "duration_s": _round(e.duration_s), "label": e.label, **(e.payload or {})}
                for e in self.events
                if e.event_type == "section"
            ],
            "waveform": {
                "samples_per_pixel": [w.samples_per_pixel for w in self.waveforms],
                "bits": self.waveforms[0].bits if self.waveforms else None,
            },
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    """Round for JSON; non-finite values (no measurement) become ``None``."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)
