"""probe() and load() on every supported container, and the rejection of broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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


# ------------------------------------------------------------------------------- hostile headers and values


def _aiff_with_rate(path: Path, rate_bytes: bytes) -> Path:
    """A mono 16-bit AIFF of 1000 frames whose COMM chunk stores ``rate_bytes`` as its 80-bit sample rate."""
    comm = struct.pack(">hIh", 1, 1000, 16) + rate_bytes
    ssnd = struct.pack(">II", 0, 0) + b"\0" * 2000
    body = b"AIFF" + b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    path.write_bytes(b"FORM" + struct.pack(">I", len(body)) + body)
    return path


def _wav_with_fmt(path: Path, fmt_chunk: bytes, data: bytes) -> Path:
    body = b"WAVEfmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize(
    ("rate_bytes", "message"),
    [
        (struct.pack(">HQ", 0x7FFE, 1 << 63), r"invalid AIFF header \(the sample rate inf is not a usable number\)"),
        (struct.pack(">HQ", 0x7FFF, 0), r"invalid AIFF header \(the sample rate inf is not a usable number\)"),
        (struct.pack(">HQ", 0xFFFF, 0), r"invalid AIFF header \(the sample rate -inf is not a usable number\)"),
        (struct.pack(">HQ", 0x7FFF, 1), r"invalid AIFF header \(the sample rate nan is not a usable number\)"),
        (struct.pack(">HQ", 0x401E, 1 << 63), r"invalid AIFF header \(the sample rate 2\.14748e\+09"),
        (b"\0" * 10, r"invalid header \(1 channels at 0 Hz\)"),
        (struct.pack(">HQ", 0xC00E, 0xAC44 << 48), r"invalid header \(1 channels at -44100 Hz\)"),
        (struct.pack(">HQ", 0x3FFF, 1 << 63), "a sampling rate of 1 Hz is not supported"),
    ],
    ids=["exponent-overflow", "infinite", "minus-infinite", "nan", "2**31", "zero", "negative", "1-hz"],
)
def test_aiff_with_an_unusable_sample_rate_is_refused(tmp_path: Path, rate_bytes: bytes, message: str) -> None:
    # given
    path = _aiff_with_rate(tmp_path / "rate.aiff", rate_bytes)

    # when / then: the same reason from both entry points
    with pytest.raises(AudioDecodeError, match=rf"^rate\.aiff: {message}"):
        probe(path)
    with pytest.raises(AudioDecodeError, match=rf"^rate\.aiff: {message}"):
        load(path)


def test_aiff_sample_rate_is_read_exactly(tmp_path: Path) -> None:
    # given: 44100 Hz as a writer stores it (exponent 0x400E, mantissa 0xAC44 << 48)
    path = _aiff_with_rate(tmp_path / "ok.aiff", struct.pack(">HQ", 0x400E, 0xAC44 << 48))

    # when
    info = probe(path)

    # then
    assert (info.sample_rate, info.channels, info.frames) == (44100, 1, 1000)


def test_extensible_wav_without_its_extension_is_refused(tmp_path: Path) -> None:
    # given: format tag 0xFFFE in a 16-byte fmt chunk, so the sub-format (integer or float) is missing
    fmt_chunk = struct.pack("<HHIIHH", 0xFFFE, 2, SR, SR * 4, 4, 16)
    path = _wav_with_fmt(tmp_path / "ext.wav", fmt_chunk, b"\0" * 4000)

    # when / then
    message = (
        r"^ext\.wav: invalid WAV header: the format is WAVE_FORMAT_EXTENSIBLE but the fmt chunk has 16 bytes "
        r"instead of 40, so the sample format is unknown$"
    )
    with pytest.raises(AudioDecodeError, match=message):
        probe(path)
    with pytest.raises(AudioDecodeError, match=message):
        load(path)


def test_extensible_wav_with_its_extension_decodes(tmp_path: Path) -> None:
    # given: a complete 40-byte WAVE_FORMAT_EXTENSIBLE fmt chunk for 16-bit PCM (KSDATAFORMAT_SUBTYPE_PCM)
    guid = struct.pack("<IHH", 1, 0x0000, 0x0010) + bytes.fromhex("800000aa00389b71")
    fmt_chunk = struct.pack("<HHIIHHHHI", 0xFFFE, 2, SR, SR * 4, 4, 16, 22, 16, 3) + guid
    samples = (np.arange(2 * 500, dtype="<i2").reshape(500, 2) * 16).tobytes()
    path = _wav_with_fmt(tmp_path / "ext.wav", fmt_chunk, samples)

    # when
    info = probe(path)
    decoded = load(path)

    # then
    assert (info.codec, info.sample_rate, info.channels, info.frames, info.bit_depth) == ("pcm_16", SR, 2, 500, 16)
    assert decoded.samples.shape == (2, 500)
    assert float(decoded.samples[1, 1]) == 3 * 16 / 32768


@pytest.mark.parametrize(
    ("channels", "rate", "message"),
    [
        (1000, SR, "1000 channels are not supported (at most 64)"),
        (65, SR, "65 channels are not supported (at most 64)"),
        (1, 1, "a sampling rate of 1 Hz is not supported (it must be between 1000 and 768000 Hz)"),
        (1, 999, "a sampling rate of 999 Hz is not supported (it must be between 1000 and 768000 Hz)"),
        (1, 10_000_000, "a sampling rate of 10000000 Hz is not supported (it must be between 1000 and 768000 Hz)"),
    ],
)
def test_audio_outside_the_analysable_range_is_refused_by_probe_and_load(
    tmp_path: Path, channels: int, rate: int, message: str
) -> None:
    # given: a well-formed 16-bit PCM WAV of 100 frames
    fmt_chunk = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    path = _wav_with_fmt(tmp_path / "odd.wav", fmt_chunk, b"\0" * (200 * channels))

    # when / then: the reason the analysis itself would give, before anything is analysed
    with pytest.raises(AudioDecodeError) as probed:
        probe(path)
    with pytest.raises(AudioDecodeError) as loaded:
        load(path)
    assert str(probed.value) == str(loaded.value) == f"odd.wav: {message}"


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_audio_at_the_edges_of_the_analysable_range_is_accepted(tmp_path: Path, fmt: str) -> None:
    # given: 64 channels at 1000 Hz
    path = write_audio(tmp_path / f"edge.{fmt}", np.zeros((64, 1000), dtype=np.float32), 1000, "wav")

    # when
    info = probe(path)

    # then
    assert (info.sample_rate, info.channels, info.frames) == (1000, 64, 1000)
    assert load(path).samples.shape == (64, 1000)


@pytest.mark.parametrize(
    ("subtype", "value", "message"),
    [
        ("FLOAT", np.nan, "the decoded samples contain NaN or infinite values"),
        ("FLOAT", np.inf, "the decoded samples contain NaN or infinite values"),
        ("DOUBLE", -np.inf, "the decoded samples contain NaN or infinite values"),
        ("FLOAT", 1e20, "the decoded samples exceed \u00b14294967296, far beyond full scale (\u00b11)"),
    ],
)
def test_float_audio_with_unusable_values_is_refused_by_probe_and_load(
    tmp_path: Path, subtype: str, value: float, message: str
) -> None:
    # given: 3 s of music with ten bad samples in its last second, beyond what probe's checks at the ends read
    samples = click_track(bpm=120, seconds=SECONDS, sr=SR, channels=2)
    samples[1, SR * 2 + 100 : SR * 2 + 110] = value
    path = tmp_path / "float.wav"
    sf.write(str(path), samples.T.astype(np.float64), SR, format="WAV", subtype=subtype)

    # when / then
    with pytest.raises(AudioDecodeError) as probed:
        probe(path)
    with pytest.raises(AudioDecodeError) as loaded:
        load(path)
    assert str(probed.value) == str(loaded.value) == f"float.wav: {message}"


def test_float_audio_beyond_full_scale_is_accepted(tmp_path: Path) -> None:
    # given: float samples up to +12 dBFS, legitimate headroom
    path = write_audio(tmp_path / "hot.wav", np.full((1, 4410), 4.0, dtype=np.float32), SR, "wav", subtype="FLOAT")

    # when
    decoded = load(path)

    # then
    assert probe(path).codec == "float"
    assert float(decoded.samples.max()) == 4.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.flac", b"fLaC" + bytes(range(256)) * 20, "bad.flac: cannot decode FLAC audio: Invalid data found"),
        ("bits.wav", None, "bits.wav: cannot decode WAV pcm_200 audio: File contains data in an unimplemented format."),
    ],
)
def test_decoder_errors_do_not_reveal_server_paths(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    # given
    path = tmp_path / name
    if content is None:
        _wav_with_fmt(path, struct.pack("<HHIIHH", 1, 1, SR, SR * 25, 25, 200), b"\0" * 2500)
    else:
        path.write_bytes(content)

    # when
    with pytest.raises(AudioDecodeError) as refused:
        probe(path)

    # then
    assert str(refused.value).startswith(message)
    assert str(tmp_path) not in str(refused.value)
    assert "Errno" not in str(refused.value)
