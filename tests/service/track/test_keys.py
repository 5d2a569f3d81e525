"""Key names and the Camelot wheel behind the library's key filter."""

from __future__ import annotations

import pytest

from analysis.pitch import PITCH_CLASSES
from service.track.service import camelot, compatible_keys, key_from_camelot, parse_key

# The published wheel: 1B..12B majors, 1A..12A minors, each minor sharing its number with its relative major.
WHEEL = {
    "B major": (1, "B"),
    "F# major": (2, "B"),
    "C# major": (3, "B"),
    "G# major": (4, "B"),
    "D# major": (5, "B"),
    "A# major": (6, "B"),
    "F major": (7, "B"),
    "C major": (8, "B"),
    "G major": (9, "B"),
    "D major": (10, "B"),
    "A major": (11, "B"),
    "E major": (12, "B"),
    "G# minor": (1, "A"),
    "D# minor": (2, "A"),
    "A# minor": (3, "A"),
    "F minor": (4, "A"),
    "C minor": (5, "A"),
    "G minor": (6, "A"),
    "D minor": (7, "A"),
    "A minor": (8, "A"),
    "E minor": (9, "A"),
    "B minor": (10, "A"),
    "F# minor": (11, "A"),
    "C# minor": (12, "A"),
}


@pytest.mark.parametrize(("key", "code"), WHEEL.items())
def test_camelot_code_of_every_key(key: str, code: tuple[int, str]) -> None:
    # when
    result = camelot(key)
    # then
    assert result == code
    assert key_from_camelot(*code) == key


def test_the_wheel_covers_24_distinct_codes() -> None:
    # given
    keys = [f"{tonic} {mode}" for mode in ("major", "minor") for tonic in PITCH_CLASSES]
    # when
    codes = {camelot(k) for k in keys}
    # then
    assert len(codes) == 24


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("A minor", {"A minor", "D minor", "E minor", "C major"}),
        ("C major", {"C major", "F major", "G major", "A minor"}),
        # 12 wraps to 1 and 1 to 12
        ("E major", {"E major", "A major", "B major", "C# minor"}),
        ("B major", {"B major", "E major", "F# major", "G# minor"}),
        ("G# minor", {"G# minor", "C# minor", "D# minor", "B major"}),
    ],
)
def test_compatible_keys_are_the_neighbours_and_the_relative_key(key: str, expected: set[str]) -> None:
    # when
    result = compatible_keys(key)
    # then
    assert result == expected


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("A minor", "A minor"),
        ("C# major", "C# major"),
        ("a minor", "A minor"),
        ("F#  MINOR", "F# minor"),
        ("Bb major", "A# major"),
        ("Db minor", "C# minor"),
        ("Cb major", "B major"),
        ("E# minor", "F minor"),
        ("G\u266d major", "F# major"),
        ("8A", "A minor"),
        ("8b", "C major"),
        ("12A", "C# minor"),
        ("1B", "B major"),
    ],
)
def test_parse_key_spells_keys_as_the_analysis_does(name: str, key: str) -> None:
    # when
    result = parse_key(name)
    # then
    assert result == key


@pytest.mark.parametrize("name", ["", "A", "H minor", "A dorian", "A# ", "Abb minor", "13A", "0B", "8C", "minor A"])
def test_parse_key_refuses_what_is_not_a_key(name: str) -> None:
    # when
    result = parse_key(name)
    # then
    assert result is None
