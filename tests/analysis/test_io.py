"""probe() and load() on every supported container, and the rejection of broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis import AnalysisParameterError, AudioDecodeError
from analysis.io import load, probe
from tests.fixtures.audio import click_track, write_audio

SR = 44100
SECONDS = 3.0

# (fmt, subtype, expected format, expected codec, expected bit depth, duration tolerance in s)
FORMATS = [
    ("wav", None, "wav", "pcm_16", 16, 0.0),
    ("wav", "PCM_24", "wav", "pcm_24", 24, 0.0),
    ("wav", "FLOAT", "wav", "float", 32, 0.0),
    ("aiff", None, "aiff", "pcm_16", 16, 0.0),
    ("aiff", "PCM_24", "aiff", "pcm_24", 24, 0.0),
    ("flac", None, "flac", "flac", 16, 0.0),
    ("ogg", None, "ogg", "vorbis", None, 0.0),
    ("mp3", None, "mp3", "mp3", None, 0.0),
    # AAC keeps its 1024-sample encoder priming (no edit list from this writer): 23 ms longer.
    ("m4a", None, "m4a", "aac", None, 0.05),
    ("m4a", "ALAC", "m4a", "alac", None, 0.0),
]


@pytest.fixture(scope="module")
def stereo() -> np.ndarray:
    return click_track(bpm=120, seconds=SECONDS, sr=SR, channels=2, seed=5)


@pytest.mark.parametrize(
    ("fmt", "subtype", "container", "codec", "bit_depth", "tolerance_s"),
    FORMATS,
    ids=[f"{f[0]}-{f[1] or 'default'}" for f in FORMATS],
)
def test_probe_and_load_every_format(
    tmp_path: Path,
    stereo: np.ndarray,
    fmt: str,
    subtype: str | None,
    container: str,
    codec: str,
    bit_depth: int | None,
    tolerance_s: float,
) -> None:
    # given: the extension deliberately lies, the content decides
    path = write_audio(tmp_path / "upload.bin", stereo, SR, fmt, subtype=subtype)

    # when
    info = probe(path)
    decoded = load(path)

    # then
    assert (info.format, info.codec, info.sample_rate, info.channels, info.bit_depth) == (
        container,
        codec,
        SR,
        2,
        bit_depth,
    )
    assert info.duration_s == pytest.approx(SECONDS, abs=tolerance_s)
    assert info.frames == round(info.duration_s * SR)
    assert decoded.sr == SR
    assert decoded.info == info
    assert decoded.samples.dtype == np.float32
    assert decoded.samples.shape == (2, info.frames)
    assert float(np.max(np.abs(decoded.samples))) == pytest.approx(0.8, abs=0.1)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "m4a"])
def test_load_max_seconds_limits_the_decode(tmp_path: Path, stereo: np.ndarray, fmt: str) -> None:
    # given
    path = write_audio(tmp_path / f"clip.{fmt}", stereo, SR, fmt)

    # when
    decoded = load(path, max_seconds=1.0)

    # then
    assert decoded.samples.shape == (2, SR)
    assert decoded.info.duration_s == pytest.approx(SECONDS, abs=0.05)


def test_mono_8k_and_96k_wav(tmp_path: Path) -> None:
    # given
    low = write_audio(tmp_path / "low.wav", click_track(bpm=90, seconds=2, sr=8000, channels=1), 8000, "wav")
    high = write_audio(tmp_path / "high.wav", click_track(bpm=90, seconds=2, sr=96000), 96000, "wav", subtype="PCM_24")

    # when
    low_info, high_info = probe(low), probe(high)

    # then
    assert (low_info.sample_rate, low_info.channels, low_info.frames) == (8000, 1, 16000)
    assert (high_info.sample_rate, high_info.channels, high_info.frames, high_info.bit_depth) == (96000, 2, 192000, 24)
    assert load(low).samples.shape == (1, 16000)


def test_probe_reads_only_the_header_of_a_large_wav(tmp_path: Path) -> None:
    # given: a 60 s stereo 24-bit WAV (about 16 MB) whose audio is never decoded by probe
    path = tmp_path / "long.wav"
    write_audio(path, np.zeros((2, SR * 60), dtype=np.float32), SR, "wav", subtype="PCM_24")

    # when
    info = probe(path)

    # then
    assert (info.frames, info.bit_depth) == (SR * 60, 24)


def _truncate(path: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("wav", "truncated WAV file"),
        ("aiff", "truncated AIFF file"),
        ("flac", "corrupt or truncated FLAC stream"),
        ("mp3", "truncated MP3 file"),
        ("ogg", "truncated Ogg file"),
        ("m4a", "cannot decode M4A"),
    ],
)
def test_truncated_files_are_rejected(tmp_path: Path, stereo: np.ndarray, fmt: str, message: str) -> None:
    # given: the first half of a valid file
    path = _truncate(write_audio(tmp_path / f"half.{fmt}", stereo, SR, fmt))

    # when / then: both entry points refuse it
    with pytest.raises(AudioDecodeError, match=message):
        probe(path)
    with pytest.raises(AudioDecodeError, match=message):
        load(path)


def test_truncated_faststart_m4a_is_rejected(tmp_path: Path, stereo: np.ndarray) -> None:
    # given: an M4A with its sample tables at the front (they promise 3 s), cut in half
    path = write_audio(tmp_path / "faststart.m4a", stereo, SR, "m4a", faststart=True)
    assert path.read_bytes().find(b"moov") < path.read_bytes().find(b"mdat")
    _truncate(path, 0.5)

    # when / then: the cut lands inside an AAC packet, which fails mid-stream; a cut on a packet boundary would
    # instead fail the length check ("truncated M4A file: the header declares ...")
    with pytest.raises(AudioDecodeError, match=r"cannot decode M4A audio after \d+ frames|truncated M4A file"):
        probe(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.wav", b"", "empty file"),
        ("random.wav", None, "not a recognised audio file"),
        ("random.mp3", None, "not a recognised audio file"),
        ("notes.flac", b"hello, this is a text file\n" * 100, "not a recognised audio file"),
    ],
)
def test_non_audio_is_rejected(
    tmp_path: Path, rng: np.random.Generator, name: str, content: bytes | None, message: str
) -> None:
    # given
    path = tmp_path / name
    path.write_bytes(rng.bytes(50_000) if content is None else content)

    # when / then
    with pytest.raises(AudioDecodeError, match=message):
        probe(path)
    with pytest.raises(AudioDecodeError, match=message):
        load(path)


def test_wav_without_frames_is_rejected(tmp_path: Path) -> None:
    # given: a valid header with an empty data chunk
    path = tmp_path / "silent.wav"
    write_audio(path, np.zeros((2, 0), dtype=np.float32), SR, "wav")

    # when / then
    with pytest.raises(AudioDecodeError, match="no audio frames"):
        probe(path)


def test_missing_file_and_bad_max_seconds(tmp_path: Path) -> None:
    # when / then
    with pytest.raises(AudioDecodeError, match="no such file"):
        probe(tmp_path / "absent.wav")
    with pytest.raises(AnalysisParameterError, match="max_seconds"):
        load(tmp_path / "absent.wav", max_seconds=0.0)
