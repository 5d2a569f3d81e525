"""A real song from the dev corpus, end to end through decoding and analysis, against its human annotations."""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import pyloudnorm
import pytest

from analysis import analyze
from analysis.io import load
from tests.fixtures.corpus import DEV_CORPUS, HAVE_CORPUS, NO_CORPUS_REASON

pytestmark = pytest.mark.skipif(not HAVE_CORPUS, reason=NO_CORPUS_REASON)

SONG = "audio/fof_sectoid_feelings.mp3"  # a full 4:48 song with a MIDI tempo map (95 BPM) and beat annotations


def test_full_song_from_the_corpus() -> None:
    # given
    item = next(i for i in json.loads((DEV_CORPUS / "manifest.json").read_text()) if i["file"] == SONG)
    decoded = load(DEV_CORPUS / SONG)
    # when
    result = analyze(decoded.samples, sr=decoded.sr)
    summary = result.summary()
    # then: tempo and beats agree with the annotations
    assert result.tempo_bpm == pytest.approx(item["bpm"], rel=0.04)
    reference = np.loadtxt(DEV_CORPUS / item["beats"], ndmin=1)
    f_measure = mir_eval.beat.f_measure(
        mir_eval.beat.trim_beats(reference), mir_eval.beat.trim_beats(result.beat_times_s)
    )
    assert f_measure >= 0.8
    assert result.rhythm.time_signature == 4
    assert result.rhythm.bar_count == pytest.approx(result.beat_times_s.size / 4, abs=1)
    # then: loudness matches a BS.1770 reference implementation with the exact K-weighting filters
    meter = pyloudnorm.Meter(decoded.sr, filter_class="DeMan")
    expected = meter.integrated_loudness(np.ascontiguousarray(decoded.samples.T, dtype=np.float64))
    assert summary["lufs_integrated"] == pytest.approx(expected, abs=0.1)
    assert summary["true_peak_dbtp"] >= summary["sample_peak_dbfs"]
    # then: a song has several sections covering it, and every band of a 44.1 kHz master is measured
    sections = summary["sections"]
    assert len(sections) >= 3
    assert sections[0]["start_s"] == 0.0
    assert sum(s["duration_s"] for s in sections) == pytest.approx(result.duration_s, abs=0.05)
    shares = [band["share_pct"] for band in summary["tonal_balance"]["bands"]]
    assert None not in shares
    assert sum(shares) == pytest.approx(100.0, abs=0.01)
    assert 0.0 < summary["stereo"]["width_mean"] < 0.5
