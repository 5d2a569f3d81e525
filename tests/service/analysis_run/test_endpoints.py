"""The analysis data API over HTTP, on SQLite and PostgreSQL, against a track analysed by the real worker flow."""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from service.analysis_run.flows import run_analysis
from service.analysis_run.schemas import AnalysisList, EventList, FeatureList, FeatureWindow, WaveformRead
from service.db import session_scope
from service.storage import LocalStorage, legacy_overview_key, thumbnail_key, waveform_key
from tests.fixtures.analysed import AnalysedTrack, analyse_upload
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio

FEATURES = [
    "rms",
    "spectral_centroid",
    "spectral_rolloff",
    "spectral_flatness",
    "onset_strength",
    "mfcc",
    "chroma",
    "tonal_bands",
    "stereo_width",
    "stereo_correlation",
    "local_tempo",
    "momentary_loudness",
    "short_term_loudness",
]
FRAME_RATE = 44100 / 1024
DAT_HEADER = struct.Struct("<iIiiIi")
IMMUTABLE = "private, max-age=31536000, immutable"


def get(client: TestClient, account: Account, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return client.get(path, headers={**account.headers, **(headers or {})}, params=params)


def url(track: AnalysedTrack, path: str = "") -> str:
    return f"/v1/tracks/{track.track_id}{path}"


def parse_dat(raw: bytes) -> tuple[tuple[int, ...], np.ndarray]:
    """Header fields (version, flags, sample_rate, samples_per_pixel, length, channels) and (length, channels, 2)."""
    header = DAT_HEADER.unpack_from(raw)
    dtype = "i1" if header[1] & 1 else "<i2"
    return header, np.frombuffer(raw, dtype=dtype, offset=DAT_HEADER.size).reshape(header[4], header[5], 2)


def values_of(window: dict[str, Any]) -> np.ndarray:
    """A feature window's flat ``values`` in its ``shape``; ``null`` gaps as NaN."""
    return np.asarray(window["values"], dtype=np.float64).reshape(window["shape"])


def stored_level(storage: LocalStorage, track: AnalysedTrack, samples_per_pixel: int | None) -> np.ndarray:
    key = waveform_key(track.owner.user.id, track.track_id, track.analysis_id, samples_per_pixel=samples_per_pixel)
    raw = storage.get_bytes(key)
    return parse_dat(raw)[1]


def waveform_json(client: TestClient, track: AnalysedTrack, **params: Any) -> tuple[dict[str, Any], np.ndarray]:
    response = get(client, track.owner, url(track, "/waveform"), **params)
    assert response.status_code == 200, response.text
    body = response.json()
    WaveformRead.model_validate(body)
    return body, np.asarray(body["data"]).reshape(body["length"], body["channels"], 2)


# History and re-analysis


def test_reanalysis_is_queued_once_and_data_stays_on_the_previous_analysis_until_it_succeeds(
    client: TestClient,
    analysed_track: AnalysedTrack,
    session_factory: Callable[[], Session],
    local_storage: LocalStorage,
    tmp_path: Path,
) -> None:
    # given
    alice, first_id = analysed_track.owner, analysed_track.analysis_id
    # when
    queued = client.post(url(analysed_track, "/analyses"), headers=alice.headers)
    again = client.post(url(analysed_track, "/analyses"), headers=alice.headers)
    history = get(client, alice, url(analysed_track, "/analyses")).json()
    features = get(client, alice, url(analysed_track, "/features"))
    # then
    assert queued.status_code == 202, queued.text
    second_id = queued.json()["id"]
    assert queued.json()["status"] == "queued"
    assert queued.json()["track_id"] == analysed_track.track_id
    assert again.status_code == 409
    assert again.json() == {
        "error": "Conflict",
        "detail": "an analysis of this track is already queued",
        "extra": {"analysis_id": second_id},
    }
    AnalysisList.model_validate(history)
    assert history["count"] == 2
    assert [(a["id"], a["status"]) for a in history["data"]] == [(second_id, "queued"), (first_id, "succeeded")]
    assert features.json()["analysis_id"] == first_id
    assert features.headers["X-Analysis-Id"] == first_id
    first_peaks = get(client, alice, url(analysed_track, "/waveform"), format="dat").content
    first_thumbnail = get(client, alice, url(analysed_track, "/waveform.png")).content

    # when the new analysis succeeds
    state = run_analysis(
        uuid.UUID(second_id),
        session_scope=lambda: session_scope(session_factory),
        storage=local_storage,
        tmp_dir=tmp_path / "rework",
    )
    # then the data endpoints follow it, the old analysis stays readable by id, and a new one may be queued
    assert state == "succeeded"
    assert get(client, alice, url(analysed_track, "/features")).json()["analysis_id"] == second_id
    pinned = get(client, alice, url(analysed_track, "/features/rms"), analysis_id=first_id, start=1, end=2)
    assert pinned.status_code == 200
    assert pinned.json()["analysis_id"] == first_id
    # and each analysis keeps its own overviews: the new one's replaced nothing of the old one's
    old_waveform = get(client, alice, url(analysed_track, "/waveform"), analysis_id=first_id, format="dat")
    assert old_waveform.status_code == 200
    assert old_waveform.headers["X-Analysis-Id"] == first_id
    assert old_waveform.content == first_peaks
    old_thumbnail = get(client, alice, url(analysed_track, "/waveform.png"), analysis_id=first_id)
    assert old_thumbnail.content == first_thumbnail
    assert get(client, alice, url(analysed_track, "/waveform")).headers["X-Analysis-Id"] == second_id
    assert client.post(url(analysed_track, "/analyses"), headers=alice.headers).status_code == 202


def test_analysis_history_revalidates_and_changes_when_an_analysis_is_queued(
    client: TestClient, analysed_track: AnalysedTrack
) -> None:
    # given
    alice = analysed_track.owner
    first = get(client, alice, url(analysed_track, "/analyses"))
    # when
    unchanged = get(client, alice, url(analysed_track, "/analyses"), headers={"If-None-Match": first.headers["ETag"]})
    client.post(url(analysed_track, "/analyses"), headers=alice.headers)
    changed = get(client, alice, url(analysed_track, "/analyses"), headers={"If-None-Match": first.headers["ETag"]})
    # then
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert changed.status_code == 200
    assert changed.json()["count"] == 2
    assert changed.headers["ETag"] != first.headers["ETag"]


# Features


def test_features_lists_the_manifests_of_the_latest_succeeded_analysis(
    client: TestClient, analysed_track: AnalysedTrack
) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/features"))
    # then
    assert response.status_code == 200
    body = response.json()
    FeatureList.model_validate(body)
    assert body["analysis_id"] == analysed_track.analysis_id
    assert body["analyzer_version"] == "0.2.0"
    assert body["waveform_levels"] == [256, 512, 1024, 2048, 4096]
    assert body["count"] == 13
    assert [f["name"] for f in body["data"]] == FEATURES
    by_name = {f["name"]: f for f in body["data"]}
    assert by_name["rms"]["unit"] == "dBFS"
    assert by_name["rms"]["frame_rate"] == FRAME_RATE
    assert by_name["rms"]["hop_seconds"] == pytest.approx(1024 / 44100)
    assert by_name["rms"]["n_frames"] == math.ceil(24 * FRAME_RATE)
    assert by_name["rms"]["dtype"] == "float16"
    assert by_name["spectral_centroid"]["dtype"] == "float32"
    assert {n: by_name[n]["dims"] for n in ("mfcc", "chroma", "tonal_bands", "rms")} == {
        "mfcc": 13,
        "chroma": 12,
        "tonal_bands": 6,
        "rms": 1,
    }
    assert (by_name["momentary_loudness"]["frame_rate"], by_name["momentary_loudness"]["n_frames"]) == (10.0, 241)


def test_feature_window_returns_the_frames_between_start_and_end(
    client: TestClient, analysed_track: AnalysedTrack
) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/features/rms"), start=2, end=5)
    # then
    assert response.status_code == 200
    body = FeatureWindow.model_validate(response.json())
    first, stop = math.ceil(2 * FRAME_RATE), math.ceil(5 * FRAME_RATE)
    assert (body.points, body.dims, body.decimation, body.reduce) == (stop - first, 1, 1, "minmax")
    assert body.start == pytest.approx(first / FRAME_RATE)
    assert body.frame_rate == FRAME_RATE
    assert body.shape == [stop - first, 1, 2]
    values = np.asarray(body.values).reshape(body.shape)
    assert np.array_equal(values[:, :, 0], values[:, :, 1])
    assert -40.0 < values.min() < values.max() < 0.0


def test_feature_window_defaults_to_the_whole_track(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    body = get(client, analysed_track.owner, url(analysed_track, "/features/momentary_loudness")).json()
    # then
    assert (body["start"], body["points"], body["frame_rate"], body["decimation"]) == (0.0, 241, 10.0, 1)


def test_minmax_decimation_keeps_the_extremes_and_mean_averages(
    client: TestClient, analysed_track: AnalysedTrack
) -> None:
    # given
    alice, path = analysed_track.owner, url(analysed_track, "/features/onset_strength")
    full = values_of(get(client, alice, path).json())[:, 0, 0]
    # when
    minmax = get(client, alice, path, max_points=7).json()
    mean = get(client, alice, path, max_points=7, reduce="mean").json()
    # then
    factor = math.ceil(len(full) / 7)
    assert (minmax["points"], minmax["decimation"], minmax["reduce"]) == (
        math.ceil(len(full) / factor),
        factor,
        "minmax",
    )
    assert minmax["frame_rate"] == pytest.approx(FRAME_RATE / factor)
    reduced = values_of(minmax)
    assert reduced.shape == (minmax["points"], 1, 2)
    assert reduced[:, 0, 1].max() == full.max()
    assert reduced[:, 0, 0].min() == full.min()
    for j in range(minmax["points"]):
        bucket = full[j * factor : (j + 1) * factor]
        assert (reduced[j, 0, 0], reduced[j, 0, 1]) == (bucket.min(), bucket.max())
        assert values_of(mean)[j, 0] == pytest.approx(bucket.mean(), rel=1e-3, abs=1e-3)
    assert mean["reduce"] == "mean"
    assert mean["shape"] == [minmax["points"], 1]


def test_feature_window_as_octet_stream_decodes_to_the_json_values(
    client: TestClient, analysed_track: AnalysedTrack
) -> None:
    # given
    alice, path = analysed_track.owner, url(analysed_track, "/features/mfcc")
    params = {"start": 3, "end": 9, "max_points": 50}
    # when
    as_json = get(client, alice, path, **params)
    as_bytes = get(client, alice, path, headers={"Accept": "application/octet-stream"}, **params)
    # then
    assert as_bytes.status_code == 200
    assert as_bytes.headers["Content-Type"] == "application/octet-stream"
    body = as_json.json()
    shape = tuple(int(n) for n in as_bytes.headers["X-Shape"].split(","))
    assert list(shape) == body["shape"] == [body["points"], 13, 2]
    assert as_bytes.headers["X-Reduce"] == "minmax"
    assert float(as_bytes.headers["X-Start"]) == body["start"]
    assert float(as_bytes.headers["X-Frame-Rate"]) == body["frame_rate"]
    assert int(as_bytes.headers["X-Decimation"]) == body["decimation"]
    decoded = np.frombuffer(as_bytes.content, dtype="<f4").reshape(shape)
    # JSON numbers carry the 5 significant digits a float16 series needs.
    np.testing.assert_allclose(decoded, values_of(body), rtol=5e-5)
    assert as_bytes.headers["ETag"] != as_json.headers["ETag"]
    assert as_bytes.headers["Vary"].startswith("Accept")


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 s of mono 120 BPM: three chunks of 2048 frames per 43 fps feature."""
    samples = click_track(bpm=120, seconds=100, sr=22050, channels=1)
    return write_audio(tmp_path_factory.mktemp("long") / "long.wav", samples, 22050, "wav")


@pytest.fixture
def chunk_reads() -> Iterator[list[int]]:
    """The number of rows each query on the chunk table returns while the test runs."""
    counts: list[int] = []

    def count_rows(state: ORMExecuteState) -> Any:
        if not state.is_select or "analysis_frame_data" not in str(state.statement):
            return None
        frozen = state.invoke_statement().freeze()
        counts.append(len(frozen().all()))
        return frozen()

    event.listen(Session, "do_orm_execute", count_rows)
    yield counts
    event.remove(Session, "do_orm_execute", count_rows)


def test_feature_window_reads_only_the_chunks_that_overlap_it(
    client: TestClient,
    alice: Account,
    long_audio: Path,
    session_factory: Callable[[], Session],
    local_storage: LocalStorage,
    chunk_reads: list[int],
    tmp_path: Path,
) -> None:
    # given
    track = analyse_upload(
        client, alice, long_audio, session_factory=session_factory, storage=local_storage, tmp_dir=tmp_path
    )
    path = url(track, "/features/rms")
    full = values_of(get(client, alice, path, max_points=10_000).json())
    chunk_reads.clear()
    # when
    inside = get(client, alice, path, start=60, end=70, max_points=10_000).json()
    across = get(client, alice, path, start=45, end=50, max_points=10_000).json()
    # then
    assert len(full) == math.ceil(100 * FRAME_RATE)
    assert chunk_reads == [1, 2]
    for window, (start, end) in ((inside, (60, 70)), (across, (45, 50))):
        first, stop = math.ceil(start * FRAME_RATE), math.ceil(end * FRAME_RATE)
        assert window["points"] == stop - first
        assert np.array_equal(values_of(window), full[first:stop])


def test_unknown_feature_is_a_404_naming_it(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/features/loudness"))
    # then
    assert response.status_code == 404
    body = response.json()
    assert (body["error"], body["detail"], body["field"]) == ("NotFound", "feature 'loudness' not found", "feature")
    assert body["extra"]["available"] == sorted(FEATURES)


def test_large_json_is_gzipped_for_clients_that_accept_it(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    response = client.get(
        url(analysed_track, "/features/mfcc"),
        headers={**analysed_track.owner.headers, "Accept-Encoding": "gzip"},
        params={"max_points": 10_000},
    )
    # then
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) < len(response.content) / 3
    assert response.json()["points"] == math.ceil(24 * FRAME_RATE)


# Events


def test_beats_are_half_a_second_apart_in_the_window(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/events"), type="beat", start=4.25, end=8.25)
    # then
    assert response.status_code == 200
    body = response.json()
    EventList.model_validate(body)
    assert body["analysis_id"] == analysed_track.analysis_id
    times = np.asarray([e["time_seconds"] for e in body["data"]])
    assert body["count"] == 8
    assert {e["type"] for e in body["data"]} == {"beat"}
    assert times[0] >= 4.25
    assert times[-1] < 8.25
    np.testing.assert_allclose(np.diff(times), 0.5, atol=0.03)


def test_events_are_ordered_by_time_then_type_and_sections_overlapping_the_window_count(
    client: TestClient, analysed_track: AnalysedTrack
) -> None:
    # when
    mixed = get(client, analysed_track.owner, url(analysed_track, "/events"), type="downbeat,beat", end=4).json()
    sections = get(client, analysed_track.owner, url(analysed_track, "/events"), type="section", start=10, end=12)
    everything = get(client, analysed_track.owner, url(analysed_track, "/events")).json()
    # then
    keys = [(e["time_seconds"], e["type"]) for e in mixed["data"]]
    assert keys == sorted(keys)
    assert [e["type"] for e in mixed["data"]].count("downbeat") == 2
    assert [e["type"] for e in mixed["data"]].count("beat") == 8
    assert keys[:2] == [(keys[0][0], "beat"), (keys[0][0], "downbeat")]
    section = sections.json()["data"]
    assert [(s["time_seconds"], s["duration_seconds"], s["label"]) for s in section] == [(0.0, 24.0, "A")]
    assert section[0]["payload"]["key"] == "A minor"
    assert {e["type"] for e in everything["data"]} == {"beat", "downbeat", "onset", "section"}
    assert everything["count"] == len(everything["data"])


# Waveform


def test_waveform_dat_is_audiowaveform_version_2_and_matches_the_json(
    client: TestClient, analysed_track: AnalysedTrack, local_storage: LocalStorage
) -> None:
    # when
    dat = get(client, analysed_track.owner, url(analysed_track, "/waveform"), zoom=512, format="dat")
    body, data = waveform_json(client, analysed_track, zoom=512)
    # then
    assert dat.status_code == 200
    assert dat.headers["Content-Type"] == "application/octet-stream"
    header, peaks = parse_dat(dat.content)
    length = math.ceil(24 * 44100 / 512)
    assert header == (2, 0, 44100, 512, length, 2)
    assert len(dat.content) == DAT_HEADER.size + length * 2 * 2 * 2
    assert {k: v for k, v in body.items() if k != "data"} == {
        "version": 2,
        "channels": 2,
        "sample_rate": 44100,
        "samples_per_pixel": 512,
        "bits": 16,
        "length": length,
    }
    assert np.array_equal(peaks, data)
    assert np.array_equal(peaks, stored_level(local_storage, analysed_track, 512))
    assert dat.headers["X-Start"] == "0.0"


def test_waveform_defaults_to_the_finest_level(
    client: TestClient, analysed_track: AnalysedTrack, local_storage: LocalStorage
) -> None:
    # when
    body, data = waveform_json(client, analysed_track)
    # then
    assert (body["samples_per_pixel"], body["bits"], body["length"]) == (256, 16, math.ceil(24 * 44100 / 256))
    assert np.array_equal(data, stored_level(local_storage, analysed_track, None))
    assert 20_000 < data.max() <= 32767


def test_eight_bit_waveform_rescales_the_sixteen_bit_peaks(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    _, sixteen = waveform_json(client, analysed_track, zoom=1024)
    body, eight = waveform_json(client, analysed_track, zoom=1024, bits=8)
    dat = get(client, analysed_track.owner, url(analysed_track, "/waveform"), zoom=1024, bits=8, format="dat")
    # then
    assert body["bits"] == 8
    assert np.array_equal(eight, np.rint(sixteen * 127 / 32767).astype(int))
    assert eight.max() == round(sixteen.max() * 127 / 32767)
    assert 80 < eight.max() <= 127
    header, peaks = parse_dat(dat.content)
    assert header[1] == 1
    assert len(dat.content) == DAT_HEADER.size + header[4] * 2 * 2
    assert np.array_equal(peaks, eight)


def test_zoom_combines_stored_pixels_exactly(
    client: TestClient, analysed_track: AnalysedTrack, local_storage: LocalStorage
) -> None:
    # given
    finest = stored_level(local_storage, analysed_track, None)
    # when
    body, combined = waveform_json(client, analysed_track, zoom=768)
    coarse, stored = waveform_json(client, analysed_track, zoom=8192)
    # then
    assert (body["samples_per_pixel"], body["length"]) == (768, math.ceil(len(finest) / 3))
    for p in (0, 1, 100, body["length"] - 1):
        block = finest[3 * p : 3 * p + 3]
        assert np.array_equal(combined[p, :, 0], block[:, :, 0].min(axis=0))
        assert np.array_equal(combined[p, :, 1], block[:, :, 1].max(axis=0))
    level_4096 = stored_level(local_storage, analysed_track, 4096)
    assert (coarse["samples_per_pixel"], coarse["length"]) == (8192, math.ceil(len(level_4096) / 2))
    assert np.array_equal(stored[0, :, 1], level_4096[0:2, :, 1].max(axis=0))


@pytest.mark.parametrize(
    ("zoom", "detail"),
    [
        (300, "zoom 300 is not served: it must be a multiple of a stored level (256, 512, 1024, 2048, 4096)"),
        (700, "zoom 700 is not served: it must be a multiple of a stored level (256, 512, 1024, 2048, 4096)"),
        (255, "zoom must be at least 256 samples per pixel, the finest stored"),
    ],
)
def test_a_zoom_that_is_not_served_exactly_is_refused(
    client: TestClient, analysed_track: AnalysedTrack, zoom: int, detail: str
) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/waveform"), zoom=zoom)
    # then
    assert response.status_code == 422
    assert response.json() == {"error": "InvalidInput", "detail": detail, "field": "zoom"}


@pytest.mark.parametrize(
    ("params", "spp"),
    [
        # 24 s at 44.1 kHz on 400 pixels: at most 2646 samples per pixel -> 512 * 5
        ({"pixels": 400}, 2560),
        # 1000 pixels: at most 1058.4 -> 1024
        ({"pixels": 1000}, 1024),
        # 100 pixels: at most 10584 -> 2048 * 5
        ({"pixels": 100}, 10240),
        # the window 2..4 s on 300 pixels: at most 294 -> 256
        ({"pixels": 300, "start": 2, "end": 4}, 256),
        # a window too short for that many points: the finest
        ({"pixels": 5000, "start": 2, "end": 4}, 256),
    ],
)
def test_pixels_sizes_the_waveform_to_the_view(
    client: TestClient, analysed_track: AnalysedTrack, params: dict[str, int], spp: int
) -> None:
    # when
    body, _ = waveform_json(client, analysed_track, **params)
    # then
    assert body["samples_per_pixel"] == spp
    start, end = params.get("start", 0), params.get("end", 24)
    assert body["length"] == math.ceil(end * 44100 / spp) - math.floor(start * 44100 / spp)
    if (end - start) * 44100 >= 256 * params["pixels"]:
        assert body["length"] >= params["pixels"]


def test_pixels_transfers_what_a_view_draws(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    whole = get(client, analysed_track.owner, url(analysed_track, "/waveform"))
    sized = get(client, analysed_track.owner, url(analysed_track, "/waveform"), pixels=400, bits=8)
    # then: 24 s drawn on 400 pixels
    assert 400 <= sized.json()["length"] <= 450
    assert sized.json()["length"] < whole.json()["length"] / 9
    assert len(sized.content) < len(whole.content) / 15


def test_zoom_and_pixels_together_are_refused(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/waveform"), zoom=512, pixels=100)
    # then
    assert response.status_code == 422
    assert response.json() == {"error": "InvalidInput", "detail": "give zoom or pixels, not both", "field": "pixels"}


def test_waveform_crop_keeps_whole_pixels_around_the_window(
    client: TestClient, analysed_track: AnalysedTrack, local_storage: LocalStorage
) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/waveform"), zoom=512, start=2, end=4)
    merged, mono = waveform_json(client, analysed_track, zoom=512, start=2, end=4, channels=1)
    # then
    first, stop = math.floor(2 * 44100 / 512), math.ceil(4 * 44100 / 512)
    assert response.headers["X-Start-Pixel"] == str(first)
    assert float(response.headers["X-Start"]) == pytest.approx(first * 512 / 44100)
    body = response.json()
    assert body["length"] == stop - first
    data = np.asarray(body["data"]).reshape(-1, 2, 2)
    assert np.array_equal(data, stored_level(local_storage, analysed_track, 512)[first:stop])
    assert merged["channels"] == 1
    assert np.array_equal(mono[:, 0, 0], data[:, :, 0].min(axis=1))
    assert np.array_equal(mono[:, 0, 1], data[:, :, 1].max(axis=1))


def test_waveform_png_is_the_stored_thumbnail(
    client: TestClient, analysed_track: AnalysedTrack, local_storage: LocalStorage
) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/waveform.png"))
    # then
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert response.content == local_storage.get_bytes(
        thumbnail_key(analysed_track.owner.user.id, analysed_track.track_id, analysed_track.analysis_id)
    )


def test_overviews_stored_one_set_per_track_are_still_served_for_the_latest_analysis(
    client: TestClient, analysed_track: AnalysedTrack, local_storage: LocalStorage
) -> None:
    # given: the analysis' overviews where they were kept before each analysis had its own
    alice, track = analysed_track.owner, analysed_track
    before = get(client, alice, url(track, "/waveform"), format="dat").content
    keys = [
        waveform_key(alice.user.id, track.track_id, track.analysis_id),
        thumbnail_key(alice.user.id, track.track_id, track.analysis_id),
    ]
    for key in keys:
        local_storage.put_bytes(legacy_overview_key(key), local_storage.get_bytes(key))
        local_storage.delete(key)
    assert legacy_overview_key(keys[0]) == f"tracks/{alice.user.id}/{track.track_id}/waveform.dat"
    # when
    peaks = get(client, alice, url(track, "/waveform"), format="dat")
    pinned = get(client, alice, url(track, "/waveform.png"), analysis_id=track.analysis_id)
    # then
    assert peaks.status_code == 200
    assert peaks.content == before
    assert pinned.status_code == 200
    assert pinned.content[:8] == b"\x89PNG\r\n\x1a\n"


# Caching


DATA_PATHS = [
    ("/features", {}),
    ("/features/chroma", {"start": 1, "end": 3}),
    ("/events", {"type": "beat"}),
    ("/waveform", {"zoom": 1024, "format": "dat"}),
    ("/waveform.png", {}),
]


@pytest.mark.parametrize(("path", "params"), DATA_PATHS)
def test_data_responses_carry_an_etag_and_answer_if_none_match_with_304(
    client: TestClient, analysed_track: AnalysedTrack, path: str, params: dict[str, Any]
) -> None:
    # given
    alice = analysed_track.owner
    first = get(client, alice, url(analysed_track, path), **params)
    etag = first.headers["ETag"]
    # when
    again = get(client, alice, url(analysed_track, path), headers={"If-None-Match": etag}, **params)
    other = get(client, alice, url(analysed_track, path), headers={"If-None-Match": '"other"'}, **params)
    pinned = get(client, alice, url(analysed_track, path), analysis_id=analysed_track.analysis_id, **params)
    # then
    assert first.status_code == 200
    assert etag[0] == etag[-1] == '"'
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert other.status_code == 200
    assert other.content == first.content
    assert pinned.status_code == 200
    assert pinned.headers["Cache-Control"] == IMMUTABLE
    assert pinned.headers["X-Analysis-Id"] == analysed_track.analysis_id


def test_etag_depends_on_the_request_parameters(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    tags = {
        get(client, analysed_track.owner, url(analysed_track, "/features/rms"), **params).headers["ETag"]
        for params in ({}, {"start": 1}, {"max_points": 10}, {"reduce": "mean"}, {"end": 5})
    }
    # then
    assert len(tags) == 5


# Validation and tenancy


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/features/rms", {"start": -1}, "start"),
        ("/features/rms", {"start": "nan"}, "start"),
        ("/features/rms", {"start": 30}, "start"),
        ("/features/rms", {"start": 1e308}, "start"),
        ("/features/rms", {"end": 1e308}, "end"),
        ("/features/rms", {"start": 5, "end": 5}, "end"),
        ("/features/rms", {"start": 5, "end": 2}, "end"),
        ("/features/rms", {"max_points": 0}, "max_points"),
        ("/features/rms", {"max_points": 10_001}, "max_points"),
        ("/features/rms", {"reduce": "median"}, "reduce"),
        ("/features/rms", {"analysis_id": "latest"}, "analysis_id"),
        ("/events", {"type": "beat,bar"}, "type"),
        ("/events", {"start": 3, "end": 1}, "end"),
        ("/events", {"start": 25}, "start"),
        ("/waveform", {"bits": 12}, "bits"),
        ("/waveform", {"zoom": 0}, "zoom"),
        ("/waveform", {"zoom": 128}, "zoom"),
        ("/waveform", {"format": "png"}, "format"),
        ("/waveform", {"channels": 3}, "channels"),
        ("/waveform", {"start": 24}, "start"),
        ("/waveform", {"start": 2, "end": 1}, "end"),
    ],
)
def test_invalid_parameters_are_rejected_naming_the_field(
    client: TestClient, analysed_track: AnalysedTrack, path: str, params: dict[str, Any], field: str
) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, path), **params)
    # then
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["detail"]


ALL_PATHS = [
    ("GET", "/analyses"),
    ("POST", "/analyses"),
    ("GET", "/features"),
    ("GET", "/features/rms"),
    ("GET", "/events"),
    ("GET", "/waveform"),
    ("GET", "/waveform.png"),
]


@pytest.mark.parametrize(("method", "path"), ALL_PATHS)
def test_another_users_track_does_not_exist(
    client: TestClient, analysed_track: AnalysedTrack, bob: Account, method: str, path: str
) -> None:
    # when
    response = client.request(method, url(analysed_track, path), headers=bob.headers)
    # then
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "track not found"}


def test_data_endpoints_are_404_until_an_analysis_succeeds(
    client: TestClient, bob: Account, analysed_audio: Path
) -> None:
    # given
    with analysed_audio.open("rb") as fh:
        track_id = client.post("/v1/tracks", headers=bob.headers, files={"file": ("a.wav", fh)}).json()["id"]
    # when
    responses = [client.get(f"/v1/tracks/{track_id}{p}", headers=bob.headers) for m, p in ALL_PATHS if m == "GET"]
    # then
    assert [r.status_code for r in responses] == [200, 404, 404, 404, 404, 404]
    assert {r.json()["detail"] for r in responses[1:]} == {"the track has no succeeded analysis yet"}
    assert responses[0].json()["data"][0]["status"] == "queued"


def test_an_unknown_analysis_id_is_a_404_naming_it(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    response = get(client, analysed_track.owner, url(analysed_track, "/features"), analysis_id=str(uuid.UUID(int=1)))
    # then
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "detail": "analysis not found for this track",
        "field": "analysis_id",
    }


def test_requests_need_a_token(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    response = client.get(url(analysed_track, "/features"))
    # then
    assert response.status_code == 401
