from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field

from analysis.tonal_balance import BAND_NAMES
from service.schemas import AnalysisStatusValue, Schema

# One track runs through the examples: "Midnight City" by M83, analysed from a 16-bit FLAC.
_TRACK_ID = "59c994ae-b38a-4b76-b21c-ad849ec07835"
_ANALYSIS_ID = "53db87ea-4064-452e-81a6-dc5d18962d87"


def _section(
    start: float, duration: float, label: str, role: str, confidence: float, lufs: float, rms: float, bpm: float | None
) -> dict[str, Any]:
    return {
        "start_s": start,
        "duration_s": duration,
        "label": label,
        "role": role,
        "confidence": confidence,
        "loudness_lufs": lufs,
        "rms_db": rms,
        "tempo_bpm": bpm,
        "key": "A minor",
    }


# The summary a succeeded analysis stores (analysis.TrackAnalysis.summary() and the decoded ``source``).
ANALYSIS_RESULTS_EXAMPLE: dict[str, Any] = {
    "duration_s": 243.96,
    "sample_rate": 44100,
    "channels": 2,
    "analyzer_version": "0.2.0",
    "bpm": 105.0,
    "bpm_confidence": 0.612,
    "bpm_alt": 52.5,
    "bpm_alt_confidence": 0.118,
    "time_signature": 4,
    "meter_confidence": 0.574,
    "tempo_stability": 0.986,
    "n_beats": 427,
    "n_bars": 106,
    "n_onsets": 1187,
    "key": "A minor",
    "key_confidence": 0.781,
    "key_runner_up": "C major",
    "tuning_cents": -3.6,
    "lufs_integrated": -8.9,
    "loudness_range_lu": 5.3,
    "momentary_max_lufs": -6.4121,
    "short_term_max_lufs": -7.5864,
    "true_peak_dbtp": -0.2137,
    "sample_peak_dbfs": -0.3012,
    "plr_db": 8.6863,
    "crest_factor_db": 11.2814,
    "rms_dbfs": -11.5826,
    "rms_db_mean": -12.4371,
    "rms_db_max": -6.0218,
    "spectral_centroid_hz_mean": 2143.5821,
    "tonal_balance": {
        "bands": [
            {"name": name, "low_hz": low, "high_hz": high, "level_dbfs": level, "relative_db": rel, "share_pct": share}
            for name, low, high, level, rel, share in zip(
                BAND_NAMES,
                (20.0, 60.0, 250.0, 2000.0, 6000.0, 12000.0),
                (60.0, 250.0, 2000.0, 6000.0, 12000.0, 20000.0),
                (-19.9502, -15.6072, -16.02, -22.2823, -26.7019, -32.4422),
                (-8.4771, -4.1341, -4.5469, -10.8092, -15.2288, -20.9691),
                (14.2, 38.6, 35.1, 8.3, 3.0, 0.8),
                strict=True,
            )
        ]
    },
    "stereo": {
        "width_mean": 0.1842,
        "width_p10": 0.0731,
        "width_median": 0.1694,
        "width_p90": 0.3127,
        "correlation_mean": 0.6718,
        "negative_correlation_fraction": 0.0034,
        "side_to_mid_db": -6.4512,
        "balance_db": 0.1127,
        "bands": [
            {"name": name, "width": width, "correlation": corr}
            for name, width, corr in zip(
                BAND_NAMES,
                (0.0061, 0.0418, 0.1723, 0.2641, 0.2987, 0.3112),
                (0.9937, 0.9512, 0.7034, 0.5318, 0.4652, 0.4125),
                strict=True,
            )
        ],
    },
    "timbre": {
        "spectral_centroid_hz_mean": 2143.5821,
        "spectral_rolloff_hz_mean": 4876.2109,
        "spectral_flatness_mean": 0.0214,
    },
    "sections": [
        _section(*row)
        for row in (
            (0.0, 18.2857, "A", "intro", 1.0, -12.41, -14.93, 104.98),
            (18.2857, 36.5714, "B", "main", 0.7128, -9.62, -11.84, 105.02),
            (54.8571, 36.5714, "C", "drop", 0.8341, -7.93, -10.27, 105.0),
            (91.4286, 36.5714, "B", "main", 0.6815, -9.44, -11.71, 105.01),
            (128.0, 36.5714, "C", "drop", 0.7902, -7.82, -10.18, 105.0),
            (164.5714, 18.2857, "D", "breakdown", 0.7436, -13.08, -15.62, 104.96),
            (182.8571, 45.7143, "C", "drop", 0.8127, -7.71, -10.09, 105.0),
            (228.5714, 15.3886, "E", "outro", 0.8613, -14.17, -16.98, None),
        )
    ],
    "waveform": {"samples_per_pixel": [256, 512, 1024, 2048, 4096], "bits": 16},
    "source": {
        "format": "flac",
        "codec": "flac",
        "sample_rate": 44100,
        "channels": 2,
        "bit_depth": 16,
        "duration_s": 243.96,
    },
}

ANALYSIS_EXAMPLE: dict[str, Any] = {
    "id": _ANALYSIS_ID,
    "track_id": _TRACK_ID,
    "analysis_type": "full",
    "analyzer_version": "0.2.0",
    "status": "succeeded",
    "parameters": {
        "timings_s": {
            "download": 0.041207,
            "decode": 0.612384,
            "analyse": 7.918452,
            "store": 0.087316,
            "database": 0.143925,
        },
        "worker": "reftrack-worker-1/17",
    },
    "results": ANALYSIS_RESULTS_EXAMPLE,
    "error_message": None,
    "attempts": 1,
    "started_at": "2026-03-14T18:22:05.903117+00:00",
    "completed_at": "2026-03-14T18:22:14.771560+00:00",
    "created_at": "2026-03-14T18:22:05.419876+00:00",
}

_QUEUED_ANALYSIS_EXAMPLE: dict[str, Any] = {
    "id": "a283a5bd-cda4-47cb-a3f3-57e09587fc3b",
    "track_id": _TRACK_ID,
    "analysis_type": "full",
    "analyzer_version": None,
    "status": "queued",
    "parameters": {},
    "results": None,
    "error_message": None,
    "attempts": 0,
    "started_at": None,
    "completed_at": None,
    "created_at": "2026-04-02T09:15:41.226803+00:00",
}

_FAILED_ANALYSIS_EXAMPLE: dict[str, Any] = {
    **_QUEUED_ANALYSIS_EXAMPLE,
    "id": "2ba5d3f4-2ac5-435f-8465-e1fc466acc29",
    "track_id": "67d5ab74-e846-4b47-8070-2306ce19e110",
    "status": "failed",
    "error_message": "the file is too large to analyse on this worker",
    "attempts": 1,
    "started_at": "2026-04-02T09:15:41.904512+00:00",
    "completed_at": "2026-04-02T09:16:27.480193+00:00",
}


class AnalysisRead(Schema):
    """One analysis of a track. ``results`` is the track-level summary, set once the analysis has succeeded."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [ANALYSIS_EXAMPLE, _QUEUED_ANALYSIS_EXAMPLE, _FAILED_ANALYSIS_EXAMPLE]}
    )

    id: uuid.UUID
    track_id: uuid.UUID
    analysis_type: str
    analyzer_version: str | None
    status: AnalysisStatusValue
    parameters: dict[str, Any]
    results: dict[str, Any] | None
    error_message: str | None
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


EventType = Literal["beat", "downbeat", "onset", "section"]
EVENT_TYPES: tuple[EventType, ...] = ("beat", "downbeat", "onset", "section")
Reduction = Literal["minmax", "mean"]


class AnalysisList(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": [_QUEUED_ANALYSIS_EXAMPLE, ANALYSIS_EXAMPLE], "count": 2}]}
    )

    data: list[AnalysisRead]
    count: int


def _feature(name: str, unit: str, description: str, *, dims: int = 1, dtype: str = "float16") -> dict[str, Any]:
    # Loudness is measured every 100 ms, everything else every 1024 samples.
    hop = 0.1 if unit == "LUFS" else 1024 / 44100
    return {
        "name": name,
        "unit": unit,
        "description": description,
        "frame_rate": 1 / hop,
        "hop_seconds": hop,
        "n_frames": int(243.96 / hop) + 1,
        "dims": dims,
        "dtype": dtype,
    }


_FEATURES: list[Any] = [
    _feature("rms", "dBFS", "RMS level of the mono mix, 20 Hz-20 kHz (full-scale sine -3.01)"),
    _feature(
        "spectral_centroid",
        "Hz",
        "Power-weighted mean frequency up to 11 kHz (brightness); 0 in silent frames",
        dtype="float32",
    ),
    _feature(
        "spectral_rolloff",
        "Hz",
        "Frequency below which 85 % of the magnitude up to 11 kHz lies; 0 in silent frames",
        dtype="float32",
    ),
    _feature(
        "spectral_flatness",
        "",
        "Geometric over arithmetic mean of the power spectrum: 0 tonal, towards 1 noisy; 0 in silence",
    ),
    _feature("onset_strength", "dB", "Log-mel spectral flux: mean rise in dB across 128 bands"),
    _feature("mfcc", "", "13 mel-frequency cepstral coefficients of the log-mel spectrum", dims=13),
    _feature("chroma", "", "NNLS treble + half bass chroma C..B, each frame max 1", dims=12),
    _feature(
        "tonal_bands",
        "dBFS",
        "Level per producer band: sub, low, low_mid, high_mid, presence, air (floor where above the source's Nyquist)",
        dims=6,
    ),
    _feature("stereo_width", "", "Side over mid-plus-side energy: 0 mono, 1 all side"),
    _feature("stereo_correlation", "", "L/R correlation: 1 mono, 0 unrelated, -1 inverted"),
    _feature("local_tempo", "BPM", "Tempo from the beat intervals around each beat, interpolated between beats"),
    _feature("momentary_loudness", "LUFS", "EBU R128 momentary (400 ms)"),
    _feature("short_term_loudness", "LUFS", "EBU R128 short-term (3 s)"),
]


class FeatureRead(Schema):
    """One frame-level feature series: frame ``i`` is centred on ``i / frame_rate`` seconds."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FEATURES[0], _FEATURES[7]]})

    name: str = Field(validation_alias=AliasChoices("feature", "name"))
    unit: str | None
    description: str | None
    frame_rate: float
    hop_seconds: float
    n_frames: int
    dims: int = Field(validation_alias=AliasChoices("dimensions", "dims"))
    dtype: Literal["float16", "float32"]


class FeatureList(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "analysis_id": _ANALYSIS_ID,
                    "analyzer_version": "0.2.0",
                    "waveform_levels": [256, 512, 1024, 2048, 4096],
                    "data": _FEATURES,
                    "count": len(_FEATURES),
                }
            ]
        }
    )

    analysis_id: uuid.UUID
    analyzer_version: str | None
    waveform_levels: list[int] = Field(
        description="Stored waveform zoom levels in samples per pixel; the waveform endpoint combines them exactly."
    )
    data: list[FeatureRead]
    count: int


# Mean level of each band (sub, low, low_mid, high_mid, presence, air) over two points of the drop.
_TONAL_POINT_0 = (-18.016, -13.609, -15.242, -21.828, -27.344, -35.625)
_TONAL_POINT_1 = (-17.875, -13.438, -15.312, -21.656, -27.125, -35.406)


class FeatureWindow(Schema):
    """Frames of one feature in a time window, decimated to at most ``max_points`` points.

    Point ``j`` summarises ``decimation`` consecutive frames starting at ``start + j / frame_rate`` seconds.
    ``values`` is flat and row-major in ``shape``, like audiowaveform's ``data`` and the octet-stream body:
    ``[points, dims, 2]`` (min, max of each dimension) for ``minmax``, ``[points, dims]`` for ``mean``, so value
    ``k`` of dimension ``d`` of point ``j`` is ``values[(j * dims + d) * 2 + k]`` for ``minmax``. Numbers carry
    the precision of the stored series (5 significant digits for float16, 9 for float32); gaps are ``null``.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                # GET .../features/rms?start=54.857&end=59.429&max_points=4: the first 4.6 s of the drop.
                {
                    "analysis_id": _ANALYSIS_ID,
                    "feature": "rms",
                    "unit": "dBFS",
                    "reduce": "minmax",
                    "start": 54.868752834467124,
                    "frame_rate": 0.861328125,
                    "decimation": 50,
                    "points": 4,
                    "dims": 1,
                    "shape": [4, 1, 2],
                    "values": [-13.898, -6.8008, -14.398, -6.6016, -13.703, -6.8984, -14.102, -7.0508],
                },
                # GET .../features/tonal_bands?start=54.857&end=59.429&max_points=2&reduce=mean: six bands a point.
                {
                    "analysis_id": _ANALYSIS_ID,
                    "feature": "tonal_bands",
                    "unit": "dBFS",
                    "reduce": "mean",
                    "start": 54.868752834467124,
                    "frame_rate": 0.43501420454545453,
                    "decimation": 99,
                    "points": 2,
                    "dims": 6,
                    "shape": [2, 6],
                    "values": [*_TONAL_POINT_0, *_TONAL_POINT_1],
                },
            ]
        }
    )

    analysis_id: uuid.UUID
    feature: str
    unit: str | None
    reduce: Reduction
    start: float = Field(description="Time in seconds of the first returned point.")
    frame_rate: float = Field(description="Points per second after decimation.")
    decimation: int = Field(description="Frames summarised by each point.")
    points: int
    dims: int
    shape: list[int] = Field(description="[points, dims, 2] for minmax, [points, dims] for mean.")
    values: list[float | None]


def _event(id_: str, type_: EventType, time: float, value: float | None, **rest: Any) -> dict[str, Any]:
    event = {"id": id_, "type": type_, "time_seconds": time, "duration_seconds": None, "value": value}
    return event | {"confidence": None, "label": None, "payload": None} | rest


_DROP_SECTION = _event(
    "88320a36-2d7b-4c67-af3d-c669b46f2abe",
    "section",
    54.857142857142854,
    0.8340712785720825,
    duration_seconds=36.57142857142857,
    confidence=0.8341,
    label="C",
    payload={
        "role": "drop",
        "confidence": 0.8341,
        "loudness_lufs": -7.93,
        "rms_db": -10.27,
        "tempo_bpm": 105.0,
        "key": "A minor",
    },
)
_BEAT = _event("8abf655c-33ff-42bd-b7b5-abf151029d5f", "beat", 54.857142857142854, 0.9216347336769104)


class EventRead(Schema):
    """A beat (``value``: its strength), a downbeat (``label``: the bar number from 1), an onset (``value``: its
    strength) or a section (``label``: the letter of its material, ``payload``: its role and measurements)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_BEAT, _DROP_SECTION]})

    id: uuid.UUID
    type: EventType = Field(validation_alias=AliasChoices("event_type", "type"))
    time_seconds: float
    duration_seconds: float | None
    value: float | None
    confidence: float | None
    label: str | None
    payload: dict[str, Any] | None


class EventList(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                # GET .../events?start=54.857&end=55.5
                {
                    "analysis_id": _ANALYSIS_ID,
                    "data": [
                        _DROP_SECTION,
                        _BEAT,
                        _event(
                            "a91c5530-4fa1-4a6c-b261-10300bc2cf82", "downbeat", 54.857142857142854, None, label="25"
                        ),
                        _event("e3d86ba2-d6a9-4b9f-b753-f7106901bfce", "onset", 54.86353287981859, 0.8712406158447266),
                        _event("463bfc7f-2e06-4202-ab6a-22dc611f33d7", "onset", 55.14217233560091, 0.4232120513916016),
                        _event("093ebbce-cdaa-48f4-9ea2-f19467afa451", "onset", 55.42081179138322, 0.7345525860786438),
                        _event("4138d21b-b589-416b-9643-681984257333", "beat", 55.42603174603175, 0.8128746151924133),
                    ],
                    "count": 7,
                }
            ]
        }
    )

    analysis_id: uuid.UUID
    data: list[EventRead]
    count: int


class WaveformRead(Schema):
    """BBC audiowaveform's JSON format (version 2): ``data`` holds min, max for each channel of each pixel."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                # GET .../waveform?zoom=256&start=54.857&end=54.87: both channels, 16-bit (X-Start: 54.851...)
                {
                    "version": 2,
                    "channels": 2,
                    "sample_rate": 44100,
                    "samples_per_pixel": 256,
                    "bits": 16,
                    "length": 3,
                    "data": [-3121, 2876, -3340, 3015, -27904, 30118, -28512, 29870, -31207, 31954, -30876, 32011],
                },
                # GET .../waveform?zoom=44032&channels=1&bits=8&start=54&end=57: about a pixel a second, merged
                {
                    "version": 2,
                    "channels": 1,
                    "sample_rate": 44100,
                    "samples_per_pixel": 44032,
                    "bits": 8,
                    "length": 3,
                    "data": [-97, 101, -125, 124, -124, 126],
                },
            ]
        }
    )

    version: Literal[2]
    channels: int
    sample_rate: int
    samples_per_pixel: int
    bits: Literal[8, 16]
    length: int
    data: list[int]
