"""A generator of bad and edge-case uploads, every one built in code from a few seconds of synthetic audio.

Each :class:`Case` is one request body for ``POST /v1/tracks`` and the outcome a careful service gives it: a
refusal (status and error kind) or an accepted upload whose analysis ends ``succeeded`` or ``failed``. File
cases cover every container the service reads (WAV, AIFF/AIFC, FLAC, MP3, Ogg, M4A) plus non-audio; framing
cases break the multipart body itself.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from tests.fixtures.audio import click_track, write_audio

__all__ = ["BOUNDARY", "CASES", "Case"]

SR = 22050
SECONDS = 2.0
BOUNDARY = "reliability-boundary-7f3a"


@dataclass(frozen=True)
class Case:
    """One upload and what must come of it.

    ``status`` 202 means accepted, and then ``analysis`` is the final status of its analysis; any other status
    is a refusal with error kind ``error`` (and ``field`` when one input is at fault) whose detail contains
    ``detail``.
    """

    name: str
    build: Callable[[], bytes]
    status: int
    error: str | None = None
    detail: str = ""
    field: str | None = None
    analysis: str | None = None
    filename: str = "upload.wav"
    content_type: str = "application/octet-stream"
    # Send ``build()`` as the whole request body (with this Content-Type) instead of as the file part.
    raw_body_type: str | None = None


# ------------------------------------------------------------------------------------------------ building blocks


@cache
def _encoded(fmt: str, subtype: str | None = None, channels: int = 2) -> bytes:
    """A valid 2 s clip in ``fmt``, written once per process."""
    import tempfile

    samples = click_track(bpm=120, seconds=SECONDS, sr=SR, channels=min(channels, 2))
    with tempfile.TemporaryDirectory() as folder:
        suffix = "m4a" if fmt == "m4a" else fmt
        return write_audio(Path(folder) / f"clip.{suffix}", samples, SR, fmt, subtype=subtype).read_bytes()


def _riff(chunks: list[tuple[bytes, bytes]], *, riff_size: int | None = None, form: bytes = b"WAVE") -> bytes:
    body = form + b"".join(cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1) for cid, data in chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def _fmt(*, tag: int = 1, channels: int = 1, rate: int = SR, bits: int = 16, block_align: int | None = None) -> bytes:
    align = channels * ((bits + 7) // 8) if block_align is None else block_align
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align & 0xFFFFFFFF, align, bits)


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").T.tobytes()


def _mono(seconds: float = SECONDS, sr: int = SR) -> np.ndarray:
    return click_track(bpm=120, seconds=seconds, sr=sr, channels=1)


def _wav(samples: np.ndarray, *, rate: int = SR) -> bytes:
    channels = samples.shape[0]
    return _riff([(b"fmt ", _fmt(channels=channels, rate=rate)), (b"data", _pcm16(samples))])


def _float_wav(values: np.ndarray) -> bytes:
    data = values.astype("<f4").tobytes()
    return _riff([(b"fmt ", _fmt(tag=3, bits=32)), (b"data", data)])


def _with_bad_values(value: float) -> bytes:
    y = _mono()[0].copy()
    y[SR // 2 : SR // 2 + 10] = value
    return _float_wav(y)


def _data_chunk_size(blob: bytes, size: int) -> bytes:
    at = blob.index(b"data") + 4
    return blob[:at] + struct.pack("<I", size) + blob[at + 4 :]


def _extended(value: float) -> bytes:
    """An 80-bit IEEE extended number, as AIFF stores its sample rate."""
    if value == 0:
        return b"\0" * 10
    sign = 0x8000 if value < 0 else 0
    mantissa, exponent = math.frexp(abs(value))
    return struct.pack(">HQ", sign | (exponent + 16382), int(mantissa * (1 << 64)))


def _aiff(
    *, rate_bytes: bytes | None = None, frames: int | None = None, form: bytes = b"AIFF", comp: bytes = b""
) -> bytes:
    y = _mono()[0]
    data = (np.clip(y, -1, 1) * 32767).astype(">i2").tobytes()
    n = len(y) if frames is None else frames
    comm = struct.pack(">hIh", 1, n, 16) + (rate_bytes if rate_bytes is not None else _extended(SR)) + comp
    ssnd = struct.pack(">II", 0, 0) + data
    body = form + b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">I", len(body)) + body


def _half(blob: bytes) -> bytes:
    return blob[: len(blob) // 2]


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + b"\xff\x00\x00" * 8 for _ in range(8))
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _zip_of_wav() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("song.wav", _encoded("wav"))
    return out.getvalue()


def _id3_only(*, declared: int | None = None) -> bytes:
    frame = b"TIT2" + struct.pack(">I", 6) + b"\0\0" + b"\x03title"
    size = len(frame) if declared is None else declared
    synchsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + synchsafe + frame


def _flip(blob: bytes, start: int, length: int) -> bytes:
    return blob[:start] + bytes(b ^ 0xFF for b in blob[start : start + length]) + blob[start + length :]


def _ogg_without_eos() -> bytes:
    blob = bytearray(_encoded("ogg"))
    pos = 0
    last = 0
    while pos < len(blob):
        last = pos
        n_segments = blob[pos + 26]
        pos += 27 + n_segments + sum(blob[pos + 27 : pos + 27 + n_segments])
    blob[last + 5] &= ~0x4 & 0xFF  # the header checksum is not checked on the way to the decoder's refusal
    return bytes(blob)


def _m4a_mdat_zeroed() -> bytes:
    blob = bytearray(_encoded("m4a"))
    at = blob.index(b"mdat") + 4
    size = struct.unpack(">I", blob[at - 8 : at - 4])[0]
    blob[at : at - 8 + size] = b"\0" * (size - 8)
    return bytes(blob)


def _rng_bytes(n: int, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).bytes(n)


# ----------------------------------------------------------------------------------------------------- multipart


def multipart(parts: list[tuple[str, bytes]], *, closed: bool = True) -> bytes:
    """A ``multipart/form-data`` body from ``(Content-Disposition parameters, data)`` pairs."""
    out = b""
    for disposition, data in parts:
        out += f"--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


FORM = f"multipart/form-data; boundary={BOUNDARY}"


def _file_part(data: bytes, filename: str = "clip.wav") -> tuple[str, bytes]:
    return f'name="file"; filename="{filename}"', data


# --------------------------------------------------------------------------------------------------------- cases

UNSUPPORTED = ("UnsupportedMediaType", "not a recognised audio file")


def _refused(
    name: str, build: Callable[[], bytes], detail: str, *, status: int = 422, filename: str = "upload.wav"
) -> Case:
    error = {415: "UnsupportedMediaType", 422: "UnprocessableAudio"}[status]
    return Case(name=name, build=build, status=status, error=error, detail=detail, field="file", filename=filename)


def _accepted(
    name: str,
    build: Callable[[], bytes],
    *,
    filename: str = "upload.wav",
    content_type: str = "application/octet-stream",
) -> Case:
    return Case(name=name, build=build, status=202, analysis="succeeded", filename=filename, content_type=content_type)


CASES: list[Case] = [
    # -- WAV: controls, edges the analysis must survive, and headers that lie
    _accepted("wav_valid_pcm16", lambda: _encoded("wav")),
    _accepted("wav_pcm24", lambda: _encoded("wav", "PCM_24")),
    _accepted("wav_pcm_u8", lambda: _encoded("wav", "PCM_U8")),
    _accepted("wav_one_sample", lambda: _wav(np.full((1, 1), 0.5, dtype=np.float32))),
    _accepted("wav_silence", lambda: _wav(np.zeros((2, int(SR * SECONDS)), dtype=np.float32))),
    _accepted("wav_float_beyond_full_scale", lambda: _float_wav(4.0 * _mono()[0])),
    _accepted("wav_lowest_rate_1000hz", lambda: _wav(_mono(sr=1000), rate=1000)),
    _accepted("wav_64_channels", lambda: _wav(np.repeat(_mono(0.5), 64, axis=0))),
    _accepted("wav_riff_size_lies", lambda: _riff([(b"fmt ", _fmt()), (b"data", _pcm16(_mono()))], riff_size=7)),
    _accepted("wav_unfinalised_data_size", lambda: _data_chunk_size(_wav(_mono()), 0xFFFFFFFF)),
    _refused("wav_truncated_half", lambda: _half(_encoded("wav")), "truncated WAV file"),
    _refused("wav_header_only", lambda: _encoded("wav")[:44], "truncated WAV file"),
    _refused("wav_data_size_lies", lambda: _data_chunk_size(_wav(_mono()), 10_000_000), "truncated WAV file"),
    _refused("wav_empty_data_chunk", lambda: _riff([(b"fmt ", _fmt()), (b"data", b"")]), "no audio frames"),
    _refused("wav_no_fmt_chunk", lambda: _riff([(b"data", _pcm16(_mono()))]), "no fmt chunk"),
    _refused("wav_no_data_chunk", lambda: _riff([(b"fmt ", _fmt())]), "no data chunk"),
    _refused("wav_short_fmt_chunk", lambda: _riff([(b"fmt ", _fmt()[:10]), (b"data", b"\0" * 100)]), "no fmt chunk"),
    _refused(
        "wav_chunk_runs_past_end",
        lambda: _riff([(b"fmt ", _fmt())]) + b"LIST" + struct.pack("<I", 1 << 30) + b"xx",
        "no data chunk",
    ),
    _refused(
        "wav_block_align_zero",
        lambda: _riff([(b"fmt ", _fmt(block_align=0)), (b"data", b"\0" * 64)]),
        "block align is 0",
    ),
    _refused(
        "wav_zero_channels",
        lambda: _riff([(b"fmt ", _fmt(channels=0, block_align=2)), (b"data", b"\0" * 64)]),
        "invalid header (0 channels",
    ),
    _refused(
        "wav_1000_channels",
        lambda: _riff([(b"fmt ", _fmt(channels=1000)), (b"data", b"\0" * 20_000)]),
        "1000 channels are not supported (at most 64)",
    ),
    _refused("wav_65_channels", lambda: _wav(np.repeat(_mono(0.2), 65, axis=0)), "65 channels are not supported"),
    _refused("wav_rate_1hz", lambda: _wav(_mono(), rate=1), "a sampling rate of 1 Hz is not supported"),
    _refused(
        "wav_rate_10mhz", lambda: _wav(_mono(), rate=10_000_000), "a sampling rate of 10000000 Hz is not supported"
    ),
    _refused("wav_rate_zero", lambda: _wav(_mono(), rate=0), "invalid header (1 channels at 0 Hz)"),
    _refused(
        "wav_absurd_bit_depth", lambda: _riff([(b"fmt ", _fmt(bits=200)), (b"data", b"\0" * 2500)]), "cannot decode WAV"
    ),
    _refused(
        "wav_extensible_16_byte_fmt",
        lambda: _riff(
            [(b"fmt ", _fmt(tag=0xFFFE, channels=2)), (b"data", _pcm16(click_track(bpm=120, seconds=1, sr=SR)))]
        ),
        "WAVE_FORMAT_EXTENSIBLE but the fmt chunk has 16 bytes",
    ),
    _refused(
        "wav_unknown_format_tag",
        lambda: _riff([(b"fmt ", _fmt(tag=0x1234)), (b"data", b"\0" * 4000)]),
        "cannot be decoded",
        status=415,
    ),
    _refused(
        "wav_float_nan_samples",
        lambda: _with_bad_values(math.nan),
        "the decoded samples contain NaN or infinite values",
    ),
    _refused(
        "wav_float_inf_samples",
        lambda: _with_bad_values(math.inf),
        "the decoded samples contain NaN or infinite values",
    ),
    _refused("wav_float_absurd_samples", lambda: _with_bad_values(1e20), "far beyond full scale"),
    _refused("wav_riff_then_garbage", lambda: b"RIFF\x10\x00\x00\x00WAVE" + _rng_bytes(3000), "truncated"),
    # -- AIFF / AIFC
    _accepted("aiff_valid", lambda: _encoded("aiff"), filename="clip.aiff"),
    _accepted("aiff_hand_built", lambda: _aiff(), filename="clip.aif"),
    _refused("aiff_truncated_half", lambda: _half(_encoded("aiff")), "truncated AIFF file", filename="clip.aiff"),
    _refused(
        "aiff_rate_exponent_overflow",
        lambda: _aiff(rate_bytes=struct.pack(">HQ", 0x7FFE, 1 << 63)),
        "invalid AIFF header (the sample rate inf",
        filename="clip.aif",
    ),
    _refused(
        "aiff_rate_infinite",
        lambda: _aiff(rate_bytes=struct.pack(">HQ", 0x7FFF, 0)),
        "invalid AIFF header (the sample rate inf",
        filename="clip.aif",
    ),
    _refused(
        "aiff_rate_nan",
        lambda: _aiff(rate_bytes=struct.pack(">HQ", 0x7FFF, 1)),
        "invalid AIFF header (the sample rate nan",
        filename="clip.aif",
    ),
    _refused(
        "aiff_rate_zero",
        lambda: _aiff(rate_bytes=_extended(0)),
        "invalid header (1 channels at 0 Hz)",
        filename="clip.aif",
    ),
    _refused(
        "aiff_rate_negative",
        lambda: _aiff(rate_bytes=_extended(-44100)),
        "invalid header (1 channels at -44100 Hz)",
        filename="clip.aif",
    ),
    _refused(
        "aiff_rate_1hz",
        lambda: _aiff(rate_bytes=_extended(1)),
        "a sampling rate of 1 Hz is not supported",
        filename="clip.aif",
    ),
    _refused("aiff_frames_lie", lambda: _aiff(frames=10_000_000), "truncated AIFF file", filename="clip.aif"),
    _refused(
        "aiff_no_comm", lambda: b"FORM\x00\x00\x00\x0cAIFFSSND\x00\x00\x00\x00", "no COMM chunk", filename="clip.aif"
    ),
    _refused(
        "aifc_unknown_compression",
        lambda: _aiff(form=b"AIFC", comp=b"XYZ0\x00\x00"),
        "cannot decode AIFF",
        filename="clip.aif",
    ),
    # -- FLAC
    _accepted("flac_valid", lambda: _encoded("flac"), filename="clip.flac"),
    _refused("flac_truncated_half", lambda: _half(_encoded("flac")), "truncated FLAC", filename="clip.flac"),
    _refused("flac_magic_then_garbage", lambda: b"fLaC" + _rng_bytes(5000), "FLAC", filename="clip.flac"),
    _refused("flac_streaminfo_corrupt", lambda: _flip(_encoded("flac"), 8, 34), "FLAC", filename="clip.flac"),
    # -- MP3
    _accepted("mp3_valid", lambda: _encoded("mp3"), filename="clip.mp3"),
    _refused("mp3_truncated_half", lambda: _half(_encoded("mp3")), "truncated MP3 file", filename="clip.mp3"),
    _refused("mp3_id3_tag_only", lambda: _id3_only(), UNSUPPORTED[1], status=415, filename="tag.mp3"),
    _refused(
        "mp3_id3_size_lies", lambda: _id3_only(declared=200_000_000), UNSUPPORTED[1], status=415, filename="tag.mp3"
    ),
    # Valid frame headers make it MPEG audio whatever the payload: it decodes, as noise.
    _accepted(
        "mp3_frame_headers_with_garbage",
        lambda: (b"\xff\xfb\x90\x64" + _rng_bytes(413, seed=3)) * 20,
        filename="noise.mp3",
    ),
    # -- Ogg
    _accepted("ogg_vorbis_valid", lambda: _encoded("ogg"), filename="clip.ogg"),
    _refused("ogg_truncated_half", lambda: _half(_encoded("ogg")), "truncated Ogg file", filename="clip.ogg"),
    _refused("ogg_magic_then_garbage", lambda: b"OggS" + _rng_bytes(5000), "Ogg", filename="clip.ogg"),
    _refused("ogg_no_end_of_stream", _ogg_without_eos, "no end-of-stream page", filename="clip.ogg"),
    # -- M4A
    _accepted("m4a_aac_valid", lambda: _encoded("m4a"), filename="clip.m4a"),
    _refused("m4a_truncated_half", lambda: _half(_encoded("m4a")), "M4A", filename="clip.m4a"),
    _refused("m4a_ftyp_only", lambda: _encoded("m4a")[:32], "M4A", filename="clip.m4a"),
    _refused("m4a_audio_zeroed", _m4a_mdat_zeroed, "cannot decode M4A audio", filename="clip.m4a"),
    # -- the content decides, not the name or the declared type
    _accepted("flac_named_wav", lambda: _encoded("flac", channels=1), filename="song.wav", content_type="audio/wav"),
    _accepted("wav_named_mp3_as_text", lambda: _wav(_mono(1.0)), filename="song.mp3", content_type="text/plain"),
    # -- not audio at all
    _refused("zero_bytes", lambda: b"", "empty file"),
    _refused("one_byte", lambda: b"R", UNSUPPORTED[1], status=415),
    _refused(
        "html_named_wav",
        lambda: b"<!doctype html><html><body>" + b"<p>hi</p>" * 500 + b"</body></html>",
        UNSUPPORTED[1],
        status=415,
    ),
    _refused("png_named_wav", _png, UNSUPPORTED[1], status=415),
    _refused("zip_named_wav", _zip_of_wav, UNSUPPORTED[1], status=415),
    _refused("text_named_mp3", lambda: b"just some notes\n" * 400, UNSUPPORTED[1], status=415, filename="notes.mp3"),
    _refused("pdf_named_flac", lambda: b"%PDF-1.4\n" + _rng_bytes(4000), UNSUPPORTED[1], status=415, filename="x.flac"),
    _refused("random_bytes", lambda: _rng_bytes(50_000), UNSUPPORTED[1], status=415),
    _refused("nul_bytes", lambda: b"\0" * 65_536, UNSUPPORTED[1], status=415),
    # -- the multipart body itself
    Case(
        "multipart_without_closing_boundary",
        lambda: multipart([_file_part(_wav(_mono(1.0)))], closed=False),
        400,
        "BadRequest",
        "ends before the closing boundary",
        raw_body_type=FORM,
    ),
    Case(
        "file_part_without_filename_small",
        lambda: multipart([('name="file"', b"RIFF....WAVE")]),
        400,
        "BadRequest",
        "the 'file' part has no file name",
        field="file",
        raw_body_type=FORM,
    ),
    Case(
        "file_part_without_filename_64k",
        lambda: multipart([('name="file"', _wav(_mono(2.0)))]),
        400,
        "BadRequest",
        "the 'file' part has no file name",
        field="file",
        raw_body_type=FORM,
    ),
    Case(
        "text_field_over_64k",
        lambda: multipart([('name="title"', b"t" * 70_000), _file_part(_wav(_mono(1.0)))]),
        400,
        "BadRequest",
        "form field 'title' exceeds the 64 KiB limit of a text field",
        field="title",
        raw_body_type=FORM,
    ),
    Case(
        "nul_in_title",
        lambda: multipart([('name="title"', b"A\0B"), _file_part(_wav(_mono(1.0)))]),
        422,
        "InvalidInput",
        "title: must not contain NUL characters",
        field="title",
        raw_body_type=FORM,
    ),
    Case(
        "nul_in_artist_after_file",
        lambda: multipart([_file_part(_wav(_mono(1.0))), ('name="artist"', b"\0")]),
        422,
        "InvalidInput",
        "artist: must not contain NUL characters",
        field="artist",
        raw_body_type=FORM,
    ),
    Case(
        "nul_in_genre",
        lambda: multipart([('name="genre"', b"house\0"), _file_part(_wav(_mono(1.0)))]),
        422,
        "InvalidInput",
        "genre: must not contain NUL characters",
        field="genre",
        raw_body_type=FORM,
    ),
    Case(
        "nul_in_file_name",
        lambda: multipart([_file_part(_wav(_mono(1.0)), filename="a\0b.wav")]),
        422,
        "InvalidInput",
        "file: the file name must not contain NUL characters",
        field="file",
        raw_body_type=FORM,
    ),
    Case(
        "part_header_over_4k",
        lambda: multipart([_file_part(_wav(_mono(1.0)), filename="x" * 20_000 + ".wav")]),
        400,
        "BadRequest",
        "malformed multipart body: Maximum header size exceeded",
        raw_body_type=FORM,
    ),
    Case(
        "no_file_part",
        lambda: multipart([('name="title"', b"only a title")]),
        400,
        "BadRequest",
        "no 'file' part in the upload",
        field="file",
        raw_body_type=FORM,
    ),
    Case(
        "two_file_parts",
        lambda: multipart([_file_part(_wav(_mono(1.0))), _file_part(_encoded("wav"))]),
        400,
        "BadRequest",
        "send exactly one file per upload",
        field="file",
        raw_body_type=FORM,
    ),
    Case(
        "file_under_another_name",
        lambda: multipart([('name="audio"; filename="a.wav"', _wav(_mono(1.0)))]),
        400,
        "BadRequest",
        "unexpected file field 'audio'",
        field="audio",
        raw_body_type=FORM,
    ),
    Case(
        "boundary_mismatch",
        lambda: b"--something-else\r\n" + _rng_bytes(2000),
        400,
        "BadRequest",
        "malformed multipart body: a part does not begin with the boundary given in the Content-Type header",
        raw_body_type=FORM,
    ),
    Case(
        "multipart_without_boundary_parameter",
        lambda: multipart([_file_part(_wav(_mono(1.0)))]),
        400,
        "BadRequest",
        "multipart/form-data",
        raw_body_type="multipart/form-data",
    ),
    Case(
        "json_instead_of_multipart",
        lambda: b'{"file": "song.wav"}',
        400,
        "BadRequest",
        "multipart/form-data",
        raw_body_type="application/json",
    ),
    Case("empty_body", lambda: b"", 400, "BadRequest", "ends before the closing boundary", raw_body_type=FORM),
]
