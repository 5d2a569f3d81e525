"""Audio file probing and decoding: the only module of :mod:`analysis` that touches files.

Conventions: decoded samples are ``float32`` in ``[-1, 1]``, channels-first ``(channels, n_samples)``, at the
file's own sampling rate. Errors are always :class:`~analysis.errors.AudioDecodeError` with a message that can be
shown to a user.

How honest each check is:

- WAV (RIFF/RF64) and AIFF/AIFC: the chunk structure is parsed here, because libsndfile silently clamps a data
  chunk that claims more bytes than the file holds. A short read at the start and end confirms the codec decodes.
  Nothing else is decoded, so probing a 500 MB WAV costs milliseconds.
- FLAC, Ogg (Vorbis/Opus), MP3 and everything decoded by FFmpeg (M4A/AAC/ALAC, ...): the whole stream is decoded
  in bounded-memory blocks; any decoder error fails the probe, and the decoded length is compared with the length
  the container declares (FLAC STREAMINFO, MP3 Xing/Info/LAME frame count, MP4 sample tables). Ogg has no declared
  length, so its pages are walked instead and the stream must end with an end-of-stream page.
- Every container: the sampling rate and channel count must be within what the analysis accepts
  (:func:`analysis._validate.format_problem`), and floating-point audio must hold finite values of sane size
  (:func:`analysis._validate.sample_values_problem`; the whole data is read for float WAV/AIFF). A file the probe
  accepts therefore never fails the analysis for one of these reasons, and both refuse it with the same message.
- Known blind spot: a constant-bitrate MP3 *without* a Xing/Info header that was cut exactly on a frame boundary
  decodes cleanly and cannot be told from a shorter file.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import soundfile as sf

from analysis._typing import Float32Array
from analysis._validate import format_problem, sample_values_problem
from analysis.errors import AnalysisParameterError, AudioDecodeError, UnsupportedAudioError
from analysis.types import AudioInfo, DecodedAudio

if TYPE_CHECKING:
    import av.container

__all__ = ["load", "probe"]

_READ_BLOCK = 1 << 18

PathLike = str | os.PathLike[str]

# Frames decoded per block when streaming through a compressed file.
_BLOCK_FRAMES = 1 << 16
# Decoded audio may fall short of the declared length by encoder padding; more than this is a truncation.
_SHORTFALL_FRAMES = 4096
_SHORTFALL_FRACTION = 0.001
_SNIFF_BYTES = 64 * 1024

# Codecs that store sample values as they are, so NaN, infinities and absurd magnitudes can reach the analysis.
_FLOAT_CODECS = frozenset({"float", "double"})
# Columns checked at a time by _check_sample_values, to bound the temporary arrays.
_CHECK_BLOCK = 1 << 18

# Containers libsndfile reads and that load() decodes with soundfile.
_SOUNDFILE_FORMATS = frozenset({"wav", "aiff", "flac", "ogg", "mp3", "w64", "caf", "au"})

_SF_SUBTYPE_CODECS: dict[str, tuple[str, int | None]] = {
    "PCM_S8": ("pcm_8", 8),
    "PCM_U8": ("pcm_u8", 8),
    "PCM_16": ("pcm_16", 16),
    "PCM_24": ("pcm_24", 24),
    "PCM_32": ("pcm_32", 32),
    "FLOAT": ("float", 32),
    "DOUBLE": ("double", 64),
    "ULAW": ("ulaw", None),
    "ALAW": ("alaw", None),
    "IMA_ADPCM": ("ima_adpcm", None),
    "MS_ADPCM": ("ms_adpcm", None),
    "VORBIS": ("vorbis", None),
    "OPUS": ("opus", None),
    "MPEG_LAYER_I": ("mp1", None),
    "MPEG_LAYER_II": ("mp2", None),
    "MPEG_LAYER_III": ("mp3", None),
    "ALAC_16": ("alac", 16),
    "ALAC_20": ("alac", 20),
    "ALAC_24": ("alac", 24),
    "ALAC_32": ("alac", 32),
}

_AV_CODECS: dict[str, str] = {
    "mp3float": "mp3",
    "mp3": "mp3",
    "mp2float": "mp2",
    "aac": "aac",
    "aac_fixed": "aac",
    "alac": "alac",
    "flac": "flac",
    "vorbis": "vorbis",
    "libvorbis": "vorbis",
    "opus": "opus",
    "libopus": "opus",
    "pcm_s16le": "pcm_16",
    "pcm_s16be": "pcm_16",
    "pcm_s24le": "pcm_24",
    "pcm_s24be": "pcm_24",
    "pcm_s32le": "pcm_32",
    "pcm_s32be": "pcm_32",
    "pcm_f32le": "float",
    "pcm_f32be": "float",
    "pcm_f64le": "double",
    "pcm_f64be": "double",
    "pcm_u8": "pcm_u8",
    "pcm_s8": "pcm_8",
}

_WAV_FORMAT_PCM = 0x0001
_WAV_FORMAT_FLOAT = 0x0003
_WAV_FORMAT_EXTENSIBLE = 0xFFFE
_WAV_TAG_CODECS: dict[int, str] = {
    0x0002: "ms_adpcm",
    0x0006: "alaw",
    0x0007: "ulaw",
    0x0011: "ima_adpcm",
    0x0050: "mp2",
    0x0055: "mp3",
}

# AIFF-C compression type -> (codec, bytes per sample or None when not fixed-size PCM-like).
_AIFC_CODECS: dict[bytes, tuple[str, int | None]] = {
    b"NONE": ("pcm", None),
    b"twos": ("pcm", None),
    b"sowt": ("pcm", None),
    b"fl32": ("float", 4),
    b"FL32": ("float", 4),
    b"fl64": ("double", 8),
    b"FL64": ("double", 8),
    b"ulaw": ("ulaw", 1),
    b"ULAW": ("ulaw", 1),
    b"alaw": ("alaw", 1),
    b"ALAW": ("alaw", 1),
}

# Magic numbers of containers handed to libsndfile or FFmpeg without a structural check of our own.
_OTHER_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"caff", "caf"),
    (0, b".snd", "au"),
    (0, b"riff\x2e\x91\xcf\x11", "w64"),
    (0, b"\x30\x26\xb2\x75", "asf"),
    (0, b"\x1a\x45\xdf\xa3", "matroska"),
    (0, b"wvpk", "wavpack"),
    (0, b"MAC ", "ape"),
    (0, b"\x0b\x77", "ac3"),
)

_MPEG_BITRATES_KBPS: dict[tuple[int, int], tuple[int, ...]] = {
    # (version_is_mpeg1, layer) -> bitrate table, index 0 = free format (not accepted).
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (0, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (0, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (0, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES_HZ: dict[int, tuple[int, int, int]] = {
    3: (44100, 48000, 32000),  # MPEG-1
    2: (22050, 24000, 16000),  # MPEG-2
    0: (11025, 12000, 8000),  # MPEG-2.5
}


@dataclass(frozen=True, slots=True)
class _Sniffed:
    format: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class _PcmLayout:
    """What our own parse of a WAV/AIFF header found."""

    codec: str
    sample_rate: int
    channels: int
    frames: int
    bit_depth: int | None


def probe(path: PathLike) -> AudioInfo:
    """Describe an audio file and verify that it decodes completely.

    Parameters
    ----------
    path : str or os.PathLike
        File to inspect. The content decides the format; the extension is ignored.

    Returns
    -------
    AudioInfo
        Container, codec, sampling rate, channel count, length and bit depth.

    Raises
    ------
    AudioDecodeError
        If the file is missing or empty, is not a recognised audio file, is truncated or corrupt, holds no
        audio frames, or is audio the analysis cannot take (sampling rate, channel count, NaN/inf or absurd float
        samples). See the module docstring for how each format is checked.
    """
    p = _existing_file(path)
    sniffed = _sniff(p)
    header_info = _structural_check(p, sniffed)
    if header_info is not None:
        _check_decodes_at_ends(p, header_info)
        if header_info.codec in _FLOAT_CODECS:
            _soundfile_count_frames(p, header_info)
        return header_info
    if sniffed.format in _SOUNDFILE_FORMATS:
        info = _soundfile_info(p, sniffed)
        if info is not None:
            decoded = _soundfile_count_frames(p, info)
            return _checked_length(p, info, decoded)
    info, _, total = _av_decode(p, sniffed, max_frames=None, keep=False)
    return _checked_length(p, info, total)


def load(path: PathLike, *, max_seconds: float | None = None) -> DecodedAudio:
    """Decode an audio file to float32 samples.

    libsndfile (through soundfile) decodes what it supports (WAV, AIFF, FLAC, Ogg Vorbis/Opus, MP3, ...);
    FFmpeg (through PyAV) decodes the rest (M4A/AAC/ALAC, ...) and anything libsndfile refuses.

    Parameters
    ----------
    path : str or os.PathLike
        File to decode.
    max_seconds : float or None
        Decode at most this many seconds from the start (> 0); ``None`` decodes everything. Memory use is about
        ``4 * channels * sample_rate * seconds`` bytes, so callers should bound it for untrusted uploads.

    Returns
    -------
    DecodedAudio
        Samples of shape ``(channels, n_samples)``, the sampling rate and the file's :class:`AudioInfo`.

    Raises
    ------
    AnalysisParameterError
        If ``max_seconds`` is not a positive finite number.
    AudioDecodeError
        If the file cannot be decoded, is truncated (WAV/AIFF header check, Ogg page check, MP3/FLAC/MP4 declared
        length check when decoding to the end), holds no audio frames, or is audio the analysis cannot take, with
        the same message as :func:`probe`. Unlike :func:`probe`, the whole-stream integrity check is only complete
        when ``max_seconds`` is ``None``.
    """
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise AnalysisParameterError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")
    p = _existing_file(path)
    sniffed = _sniff(p)
    header_info = _structural_check(p, sniffed)
    if sniffed.format in _SOUNDFILE_FORMATS:
        info = header_info or _soundfile_info(p, sniffed)
        if info is not None:
            max_frames = None if max_seconds is None else math.ceil(max_seconds * info.sample_rate)
            samples = _soundfile_read(p, info, max_frames=max_frames)
            if max_frames is None and header_info is None:
                info = _checked_length(p, info, samples.shape[1])
            _check_sample_values(p, samples)
            return DecodedAudio(samples=samples, sr=info.sample_rate, info=info)
    info, samples_or_none = _av_load(p, sniffed, max_seconds=max_seconds)
    _check_sample_values(p, samples_or_none)
    return DecodedAudio(samples=samples_or_none, sr=info.sample_rate, info=info)


# --------------------------------------------------------------------------------------------------- sniffing


def _structural_check(p: Path, sniffed: _Sniffed) -> AudioInfo | None:
    """Check container structure without decoding; return the info when the header alone determines it."""
    if sniffed.format in ("wav", "aiff"):
        return _pcm_container_info(p, sniffed)
    if sniffed.format == "ogg":
        _check_ogg_pages(p)
    return None


def _existing_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise AudioDecodeError(f"{p.name}: no such file")
    if p.stat().st_size == 0:
        raise AudioDecodeError(f"{p.name}: empty file (0 bytes)")
    return p


def _check_format(name: str, *, sample_rate: int, channels: int) -> None:
    if sample_rate < 1 or channels < 1:
        raise AudioDecodeError(f"{name}: invalid header ({channels} channels at {sample_rate} Hz)")
    problem = format_problem(sr=sample_rate, channels=channels)
    if problem is not None:
        raise AudioDecodeError(f"{name}: {problem}")


def _reason(exc: BaseException) -> str:
    """Return what a decoder reports, without the server's path and error number that libsndfile and FFmpeg add."""
    text = getattr(exc, "error_string", None) or getattr(exc, "strerror", None) or str(exc)
    return str(text).strip()


def _check_sample_values(p: Path, samples: Float32Array) -> None:
    """Refuse decoded samples the analysis would refuse, in bounded column blocks."""
    for start in range(0, samples.shape[-1], _CHECK_BLOCK):
        problem = sample_values_problem(samples[..., start : start + _CHECK_BLOCK])
        if problem is not None:
            raise AudioDecodeError(f"{p.name}: the decoded samples {problem}")


def _sniff(p: Path) -> _Sniffed:
    with p.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return _Sniffed("wav", head[:4].decode("ascii"))
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _Sniffed("aiff", head[8:12].decode("ascii"))
    if head[:4] == b"OggS":
        return _Sniffed("ogg")
    if head[:4] == b"fLaC":
        return _Sniffed("flac")
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        return _Sniffed("m4a" if brand in (b"M4A ", b"M4B ", b"M4P ") else "mp4", brand.decode("latin-1"))
    for offset, magic, name in _OTHER_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return _Sniffed(name)
    start = _skip_id3v2(head)
    if head[start : start + 4] == b"fLaC":
        return _Sniffed("flac")
    if _find_mpeg_audio(head, start=start) is not None:
        return _Sniffed("mp3")
    if _is_adts(head, start):
        return _Sniffed("aac")
    preview = head[:8].hex(" ")
    raise UnsupportedAudioError(
        f"{p.name}: not a recognised audio file (starts with bytes {preview}); "
        "supported: WAV, AIFF, FLAC, Ogg Vorbis/Opus, MP3, M4A/AAC/ALAC"
    )


def _skip_id3v2(head: bytes) -> int:
    pos = 0
    while head[pos : pos + 3] == b"ID3" and len(head) >= pos + 10:
        size = 0
        for b in head[pos + 6 : pos + 10]:
            size = (size << 7) | (b & 0x7F)
        footer = 10 if head[pos + 5] & 0x10 else 0
        pos += 10 + size + footer
    return pos


def _mpeg_frame_length(h: bytes) -> tuple[int, int, int] | None:
    """Return ``(frame_bytes, version_bits, sample_rate)`` for a valid MPEG audio frame header, else None."""
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version = (h[1] >> 3) & 0x3
    layer_bits = (h[1] >> 1) & 0x3
    bitrate_index = (h[2] >> 4) & 0xF
    rate_index = (h[2] >> 2) & 0x3
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer = 4 - layer_bits
    bitrate = _MPEG_BITRATES_KBPS[(1 if version == 3 else 0, layer)][bitrate_index] * 1000
    sample_rate = _MPEG_RATES_HZ[version][rate_index]
    padding = (h[2] >> 1) & 0x1
    if layer == 1:
        length = (12 * bitrate // sample_rate + padding) * 4
    elif layer == 3 and version != 3:
        length = 72 * bitrate // sample_rate + padding
    else:
        length = 144 * bitrate // sample_rate + padding
    return length, version, sample_rate


def _find_mpeg_audio(head: bytes, *, start: int, chain: int = 3) -> int | None:
    """Offset of the first run of ``chain`` consecutive, consistent MPEG audio frames at or after ``start``."""
    pos = head.find(b"\xff", start)
    while 0 <= pos < len(head) - 4:
        first = _mpeg_frame_length(head[pos : pos + 4])
        if first is not None:
            nxt, ok = pos + first[0], True
            for _ in range(chain - 1):
                frame = _mpeg_frame_length(head[nxt : nxt + 4])
                if frame is None or frame[1:] != first[1:]:
                    ok = False
                    break
                nxt += frame[0]
            if ok:
                return pos
        pos = head.find(b"\xff", pos + 1)
    return None


def _is_adts(head: bytes, start: int) -> bool:
    h = head[start : start + 7]
    if len(h) < 7 or h[0] != 0xFF or (h[1] & 0xF6) != 0xF0:
        return False
    length = ((h[3] & 0x3) << 11) | (h[4] << 3) | (h[5] >> 5)
    nxt = head[start + length : start + length + 2]
    return length > 7 and (len(nxt) < 2 or (nxt[0] == 0xFF and (nxt[1] & 0xF6) == 0xF0))


# ------------------------------------------------------------------------------------------ WAV / AIFF headers


def _pcm_container_info(p: Path, sniffed: _Sniffed) -> AudioInfo | None:
    """Parse a WAV/AIFF header; None when the codec is block-coded and only a decoder knows the length."""
    size = p.stat().st_size
    with p.open("rb") as f:
        layout = _parse_wav(f, size, p.name) if sniffed.format == "wav" else _parse_aiff(f, size, p.name)
    _check_format(p.name, sample_rate=layout.sample_rate, channels=layout.channels)
    if layout.frames == 0:
        raise AudioDecodeError(f"{p.name}: no audio frames (the data chunk is empty)")
    if layout.frames < 0:
        return None
    return AudioInfo(
        format=sniffed.format,
        codec=layout.codec,
        sample_rate=layout.sample_rate,
        channels=layout.channels,
        frames=layout.frames,
        duration_s=layout.frames / layout.sample_rate,
        bit_depth=layout.bit_depth,
    )


def _iter_chunks(
    f: BinaryIO, *, start: int, end: int, size: int, name: str, big_endian: bool
) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(chunk_id, data_offset, declared_size)``; stops at ``end`` or the end of the file."""
    fmt = ">4sI" if big_endian else "<4sI"
    pos = start
    while pos + 8 <= min(end, size):
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack(fmt, f.read(8))
        yield chunk_id, pos + 8, chunk_size
        pos += 8 + chunk_size + (chunk_size & 1)
    if pos < min(end, size) and pos + 8 > size:
        raise AudioDecodeError(f"{name}: truncated file (a chunk header is cut off at byte {pos})")


def _format_chunk(
    f: BinaryIO, offset: int, chunk_size: int, *, size: int, name: str, container: str, chunk: str
) -> bytes:
    """Read the first 64 bytes of the chunk that describes the audio (WAV ``fmt``, AIFF ``COMM``): all we need."""
    if offset + chunk_size > size:
        raise AudioDecodeError(f"{name}: truncated {container} file (the {chunk} chunk is cut off)")
    f.seek(offset)
    return f.read(min(chunk_size, 64))


def _parse_wav(f: BinaryIO, size: int, name: str) -> _PcmLayout:
    f.seek(0)
    riff_id, _, _ = struct.unpack("<4sI4s", f.read(12))
    ds64_data_size: int | None = None
    fmt_chunk: bytes | None = None
    for chunk_id, offset, chunk_size in _iter_chunks(f, start=12, end=size, size=size, name=name, big_endian=False):
        if chunk_id == b"ds64":
            f.seek(offset)
            _, ds64_data_size, _ = struct.unpack("<QQQ", f.read(24))
        elif chunk_id == b"fmt ":
            fmt_chunk = _format_chunk(f, offset, chunk_size, size=size, name=name, container="WAV", chunk="fmt")
        elif chunk_id == b"data":
            if fmt_chunk is None or len(fmt_chunk) < 16:
                raise AudioDecodeError(f"{name}: invalid WAV file (no fmt chunk before the audio data)")
            available = size - offset
            if riff_id != b"RIFF" and chunk_size == 0xFFFFFFFF and ds64_data_size is not None:
                chunk_size = ds64_data_size
            elif chunk_size == 0xFFFFFFFF:
                # A writer that never finalised the header (live stream capture): the data runs to the end.
                chunk_size = available
            if chunk_size > available:
                raise AudioDecodeError(
                    f"{name}: truncated WAV file: the header declares {chunk_size} bytes of audio "
                    f"but only {available} are present"
                )
            return _wav_layout(fmt_chunk, chunk_size, name)
    raise AudioDecodeError(f"{name}: truncated or invalid WAV file (no data chunk)")


def _wav_layout(fmt_chunk: bytes, data_size: int, name: str) -> _PcmLayout:
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt_chunk[:16])
    if tag == _WAV_FORMAT_EXTENSIBLE and len(fmt_chunk) < 26:
        # The sample format (integer or float, and its codec) is in the extension this fmt chunk lacks; guessing
        # it could turn float data into integer noise, and neither libsndfile nor FFmpeg decodes such a file.
        raise AudioDecodeError(
            f"{name}: invalid WAV header: the format is WAVE_FORMAT_EXTENSIBLE but the fmt chunk has "
            f"{len(fmt_chunk)} bytes instead of 40, so the sample format is unknown"
        )
    if tag == _WAV_FORMAT_EXTENSIBLE:
        valid_bits = struct.unpack("<H", fmt_chunk[18:20])[0]
        tag = struct.unpack("<H", fmt_chunk[24:26])[0]
        bits = valid_bits or bits
    if block_align == 0:
        raise AudioDecodeError(f"{name}: invalid WAV header (block align is 0)")
    frames = data_size // block_align
    if tag == _WAV_FORMAT_PCM:
        codec = "pcm_u8" if bits <= 8 else f"pcm_{bits}"
        bit_depth: int | None = bits
    elif tag == _WAV_FORMAT_FLOAT:
        codec = "double" if bits == 64 else "float"
        bit_depth = bits
    else:
        codec = _WAV_TAG_CODECS.get(tag, f"wav_0x{tag:04x}")
        bit_depth = None
        if codec in ("ms_adpcm", "ima_adpcm", "mp2", "mp3") or codec.startswith("wav_0x"):
            frames = -1  # block-coded: the frame count comes from the decoder
    return _PcmLayout(codec=codec, sample_rate=rate, channels=channels, frames=frames, bit_depth=bit_depth)


def _extended_to_float(b: bytes) -> float:
    """Decode an IEEE 754 80-bit extended number; ``inf`` when it is infinite or beyond a float's range."""
    exponent = struct.unpack(">H", b[:2])[0]
    mantissa = struct.unpack(">Q", b[2:10])[0]
    sign = -1.0 if exponent & 0x8000 else 1.0
    exponent &= 0x7FFF
    if exponent == 0x7FFF:
        return math.nan if mantissa & ((1 << 63) - 1) else sign * math.inf
    if mantissa == 0:
        return 0.0
    try:
        return sign * math.ldexp(float(mantissa), exponent - 16383 - 63)
    except OverflowError:
        return sign * math.inf


def _aiff_sample_rate(b: bytes, name: str) -> int:
    rate = _extended_to_float(b)
    if not math.isfinite(rate) or abs(rate) >= 2**31:
        raise AudioDecodeError(f"{name}: invalid AIFF header (the sample rate {rate:g} is not a usable number)")
    return round(rate)


def _parse_aiff(f: BinaryIO, size: int, name: str) -> _PcmLayout:
    f.seek(0)
    _, _, form_type = struct.unpack(">4sI4s", f.read(12))
    comm: bytes | None = None
    for chunk_id, offset, chunk_size in _iter_chunks(f, start=12, end=size, size=size, name=name, big_endian=True):
        if chunk_id == b"COMM":
            comm = _format_chunk(f, offset, chunk_size, size=size, name=name, container="AIFF", chunk="COMM")
        elif chunk_id == b"SSND":
            if comm is None or len(comm) < 18:
                raise AudioDecodeError(f"{name}: invalid AIFF file (no COMM chunk before the audio data)")
            channels, frames, sample_size = struct.unpack(">hIh", comm[:8])
            rate = _aiff_sample_rate(comm[8:18], name)
            compression = comm[18:22] if form_type == b"AIFC" and len(comm) >= 22 else b"NONE"
            codec, bytes_per_sample = _AIFC_CODECS.get(compression, (compression.decode("latin-1").strip(), 0))
            bit_depth: int | None = None
            if codec == "pcm":
                codec, bit_depth = f"pcm_{sample_size}", sample_size
                bytes_per_sample = (sample_size + 7) // 8
            elif codec in ("float", "double"):
                bit_depth = 8 * (bytes_per_sample or 0)
            if offset + chunk_size > size:
                raise AudioDecodeError(
                    f"{name}: truncated AIFF file: the SSND chunk declares {chunk_size} bytes "
                    f"but only {size - offset} are present"
                )
            if bytes_per_sample and frames * channels * bytes_per_sample > chunk_size - 8:
                raise AudioDecodeError(
                    f"{name}: truncated AIFF file: {frames} frames declared but the sound data holds "
                    f"{max(chunk_size - 8, 0) // (channels * bytes_per_sample)}"
                )
            return _PcmLayout(
                codec=codec.lower(), sample_rate=rate, channels=channels, frames=frames, bit_depth=bit_depth
            )
    raise AudioDecodeError(f"{name}: truncated or invalid AIFF file (no SSND chunk)")


def _check_decodes_at_ends(p: Path, info: AudioInfo) -> None:
    """Decode a few frames at the start and the end of a PCM container to prove the codec is readable."""
    try:
        with sf.SoundFile(p) as snd:
            head = snd.read(min(1024, max(snd.frames, 1)), dtype="float32", always_2d=True)
            if snd.frames > 1024:
                snd.seek(snd.frames - 1024)
                snd.read(1024, dtype="float32", always_2d=True)
            frames, rate, channels = snd.frames, snd.samplerate, snd.channels
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        reason = _reason(exc)
        raise AudioDecodeError(f"{p.name}: cannot decode {info.format.upper()} {info.codec} audio: {reason}") from exc
    if head.shape[0] == 0:
        raise AudioDecodeError(f"{p.name}: no audio frames")
    if (rate, channels) != (info.sample_rate, info.channels) or frames != info.frames:
        raise AudioDecodeError(
            f"{p.name}: inconsistent {info.format.upper()} header "
            f"({info.frames} frames, {info.sample_rate} Hz, {info.channels} ch declared; "
            f"decoder sees {frames} frames, {rate} Hz, {channels} ch)"
        )


# ------------------------------------------------------------------------------------------------------- Ogg


def _check_ogg_pages(p: Path) -> None:
    """Walk every Ogg page: each must start where the previous ended and every stream must end with EOS."""
    size = p.stat().st_size
    open_streams: set[int] = set()
    ended: set[int] = set()
    pos = 0
    with p.open("rb", buffering=1 << 16) as f:
        while pos < size:
            f.seek(pos)
            header = f.read(27)
            if len(header) < 27:
                raise AudioDecodeError(f"{p.name}: truncated Ogg file (a page header is cut off at byte {pos})")
            capture, version, flags, _, serial, _, _, n_segments = struct.unpack("<4sBBqIIIB", header)
            if capture != b"OggS" or version != 0:
                raise AudioDecodeError(f"{p.name}: corrupt Ogg file (no page at byte {pos})")
            lacing = f.read(n_segments)
            if len(lacing) < n_segments:
                raise AudioDecodeError(f"{p.name}: truncated Ogg file (a page header is cut off at byte {pos})")
            page_end = pos + 27 + n_segments + sum(lacing)
            if page_end > size:
                raise AudioDecodeError(
                    f"{p.name}: truncated Ogg file: the last page needs {page_end - size} more bytes"
                )
            if flags & 0x2:
                open_streams.add(serial)
            if flags & 0x4:
                ended.add(serial)
            pos = page_end
    if not open_streams:
        raise AudioDecodeError(f"{p.name}: corrupt Ogg file (no stream starts)")
    if open_streams - ended:
        raise AudioDecodeError(f"{p.name}: truncated Ogg file: the stream has no end-of-stream page")


# ------------------------------------------------------------------------------------------------ soundfile


def _soundfile_info(p: Path, sniffed: _Sniffed) -> AudioInfo | None:
    """Container description from libsndfile, or None when libsndfile cannot open the file."""
    try:
        raw = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError):
        return None
    codec, bit_depth = _SF_SUBTYPE_CODECS.get(raw.subtype, (raw.subtype.lower(), None))
    if sniffed.format == "flac":
        codec = "flac"
    _check_format(p.name, sample_rate=int(raw.samplerate), channels=int(raw.channels))
    return AudioInfo(
        format=sniffed.format,
        codec=codec,
        sample_rate=int(raw.samplerate),
        channels=int(raw.channels),
        frames=int(raw.frames),
        duration_s=int(raw.frames) / int(raw.samplerate),
        bit_depth=bit_depth,
    )


def _soundfile_count_frames(p: Path, info: AudioInfo) -> int:
    total = 0
    buffer = np.empty((_BLOCK_FRAMES, info.channels), dtype=np.float32)
    try:
        with sf.SoundFile(p) as snd:
            while True:
                got = int(snd.buffer_read_into(buffer, dtype="float32"))
                if info.codec in _FLOAT_CODECS:
                    _check_sample_values(p, buffer[:got].T)
                total += got
                if got < _BLOCK_FRAMES:
                    break
    except (sf.LibsndfileError, RuntimeError) as exc:
        after = f"{total / info.sample_rate:.2f} s"
        raise AudioDecodeError(
            f"{p.name}: corrupt or truncated {info.format.upper()} stream after {after}: {_reason(exc)}"
        ) from exc
    return total


def _soundfile_read(p: Path, info: AudioInfo, *, max_frames: int | None) -> Float32Array:
    """Decode straight into a channels-first float32 array, block by block (no second full-size copy)."""
    try:
        with sf.SoundFile(p) as snd:
            total = snd.frames if max_frames is None else min(snd.frames, max_frames)
            out = np.empty((snd.channels, total), dtype=np.float32)
            done = 0
            while done < total:
                block = snd.read(min(_READ_BLOCK, total - done), dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                out[:, done : done + block.shape[0]] = block.T
                done += block.shape[0]
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(f"{p.name}: corrupt or truncated {info.format.upper()} stream: {_reason(exc)}") from exc
    if done == 0:
        raise AudioDecodeError(f"{p.name}: no audio frames")
    return out if done == total else np.ascontiguousarray(out[:, :done])


def _checked_length(p: Path, info: AudioInfo, decoded: int) -> AudioInfo:
    if decoded == 0:
        raise AudioDecodeError(f"{p.name}: no audio frames")
    declared = info.frames
    if declared > 0 and declared - decoded > _SHORTFALL_FRAMES + _SHORTFALL_FRACTION * declared:
        raise AudioDecodeError(
            f"{p.name}: truncated {info.format.upper()} file: the header declares "
            f"{declared / info.sample_rate:.2f} s but only {decoded / info.sample_rate:.2f} s decode"
        )
    if declared <= 0 or decoded < declared:
        return replace(info, frames=decoded, duration_s=decoded / info.sample_rate)
    return info


# ------------------------------------------------------------------------------------------------ PyAV / FFmpeg


def _av_info(p: Path, container: av.container.InputContainer, sniffed: _Sniffed) -> AudioInfo:
    if not container.streams.audio:
        raise AudioDecodeError(f"{p.name}: the file has no audio stream")
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    if ctx is None:
        # FFmpeg found an audio stream but has no decoder for its codec.
        raise UnsupportedAudioError(
            f"{p.name}: the audio in this {sniffed.format.upper()} file uses an encoding that cannot be decoded"
        )
    rate = int(ctx.sample_rate or stream.rate or 0)
    layout = ctx.layout
    channels = int(layout.nb_channels) if layout is not None else 0
    _check_format(p.name, sample_rate=rate, channels=channels)
    frames = 0
    if stream.duration and stream.time_base:
        frames = round(float(stream.duration * stream.time_base) * rate)
    elif container.duration:
        frames = round(container.duration / 1_000_000 * rate)
    codec = _AV_CODECS.get(ctx.name, ctx.name)
    bit_depth: int | None = None
    if codec.startswith("pcm_") and codec[4:].isdigit():
        bit_depth = int(codec[4:])
    elif codec in ("float", "double"):
        bit_depth = 32 if codec == "float" else 64
    elif codec in ("flac", "alac"):
        raw_bits = getattr(ctx, "bits_per_raw_sample", 0) or 0
        bit_depth = int(raw_bits) or None
    container_name = sniffed.format if sniffed.format not in ("", "unknown") else container.format.name
    return AudioInfo(
        format=container_name,
        codec=codec,
        sample_rate=rate,
        channels=channels,
        frames=frames,
        duration_s=frames / rate,
        bit_depth=bit_depth,
    )


def _frame_to_float(frame: av.AudioFrame, channels: int) -> Float32Array:
    arr = frame.to_ndarray()
    if not frame.format.is_planar:
        arr = arr.reshape(-1, channels).T
    if arr.dtype == np.uint8:
        out = (arr.astype(np.float32) - 128.0) / 128.0
    elif arr.dtype == np.int16:
        out = arr.astype(np.float32) / 32768.0
    elif arr.dtype == np.int32:
        out = (arr.astype(np.float64) / 2147483648.0).astype(np.float32)
    else:
        out = arr.astype(np.float32, copy=False)
    return out


def _av_decode(
    p: Path, sniffed: _Sniffed, *, max_frames: int | None, keep: bool
) -> tuple[AudioInfo, list[Float32Array], int]:
    """Decode the first audio stream with FFmpeg; keep the float blocks only when ``keep`` is set."""
    # PyAV is imported lazily: it is only needed for formats libsndfile does not read.
    import av

    blocks: list[Float32Array] = []
    total = 0
    try:
        with av.open(str(p), mode="r") as container:
            info = _av_info(p, container, sniffed)
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                if max_frames is not None and total >= max_frames:
                    break
                if keep:
                    block = _frame_to_float(frame, info.channels)
                    if max_frames is not None:
                        block = block[:, : max_frames - total]
                    blocks.append(block)
                    total += block.shape[1]
                else:
                    if info.codec in _FLOAT_CODECS:
                        _check_sample_values(p, _frame_to_float(frame, info.channels))
                    total += frame.samples
    except av.FFmpegError as exc:
        where = f" after {total} frames" if total else ""
        reason = _reason(exc)
        raise AudioDecodeError(f"{p.name}: cannot decode {sniffed.format.upper()} audio{where}: {reason}") from exc
    return info, blocks, total


def _av_load(p: Path, sniffed: _Sniffed, *, max_seconds: float | None) -> tuple[AudioInfo, Float32Array]:
    # The rate is only known after opening, so a time limit is applied in frames by a first cheap open.
    max_frames: int | None = None
    if max_seconds is not None:
        import av

        try:
            with av.open(str(p), mode="r") as container:
                rate = _av_info(p, container, sniffed).sample_rate
        except av.FFmpegError as exc:
            raise AudioDecodeError(f"{p.name}: cannot decode {sniffed.format.upper()} audio: {_reason(exc)}") from exc
        max_frames = math.ceil(max_seconds * rate)
    info, blocks, _ = _av_decode(p, sniffed, max_frames=max_frames, keep=True)
    if not blocks:
        raise AudioDecodeError(f"{p.name}: no audio frames")
    samples = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)
    if max_frames is None:
        info = _checked_length(p, info, samples.shape[1])
        # Decoders emit whole codec frames; the container's declared length excludes the final padding.
        samples = np.ascontiguousarray(samples[:, : info.frames])
    return info, samples
