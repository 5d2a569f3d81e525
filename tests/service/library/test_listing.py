"""The library listing (filters, sort, cursor pages) and track updates over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.track.models import Track
from tests.fixtures.app import Account
from tests.service.track.seed import BASE_TIME, seed_runs, seed_tracks


def listing(client: TestClient, account: Account, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/tracks", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def titles(client: TestClient, account: Account, **params: Any) -> list[str]:
    return [t["title"] for t in listing(client, account, limit=200, **params)["data"]]


def walk(client: TestClient, account: Account, *, limit: int, **params: Any) -> list[list[str]]:
    """Every page from the first to the one without a next cursor, as lists of titles."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        extra = {"cursor": cursor} if cursor is not None else {}
        body = listing(client, account, limit=limit, **params, **extra)
        pages.append([t["title"] for t in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not advance"


def flat(pages: list[list[str]]) -> list[str]:
    return [title for page in pages for title in page]


def error(response: Any) -> tuple[int, str | None]:
    return response.status_code, response.json().get("field")


# ----------------------------------------------------------------------------------------------------------------
# Filters
# ----------------------------------------------------------------------------------------------------------------


def test_bpm_range_is_inclusive_and_skips_tracks_without_bpm(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(
        session_factory,
        alice,
        [
            {"title": "ninety", "bpm": 90.0},
            {"title": "one twenty", "bpm": 120.0},
            {"title": "one twenty eight", "bpm": 128.0},
            {"title": "one forty", "bpm": 140.0},
            {"title": "unknown", "bpm": None},
        ],
    )
    # when
    between = titles(client, alice, bpm_min=120, bpm_max=128, sort="bpm")
    above = titles(client, alice, bpm_min=125, sort="bpm")
    below = titles(client, alice, bpm_max=120, sort="bpm")
    # then
    assert between == ["one twenty", "one twenty eight"]
    assert above == ["one twenty eight", "one forty"]
    assert below == ["ninety", "one twenty"]


def test_key_filter_exact_and_with_compatible_keys(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given: A minor is 8A; its neighbours are 7A (D minor), 9A (E minor) and 8B (C major)
    keys = ["A minor", "C major", "D minor", "E minor", "G major", "F# minor", "A major", None]
    seed_tracks(session_factory, alice, [{"title": str(k), "key": k} for k in keys])
    # when
    exact = titles(client, alice, key="A minor", sort="title")
    compatible = titles(client, alice, key="A minor", compatible="true", sort="title")
    camelot_code = titles(client, alice, key="8b", sort="title")
    flat_spelling = titles(client, alice, key="Gb minor", sort="title")
    # then
    assert exact == ["A minor"]
    assert compatible == ["A minor", "C major", "D minor", "E minor"]
    assert camelot_code == ["C major"]
    assert flat_spelling == ["F# minor"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"key": "H minor"}, "key"),
        ({"key": "A dorian"}, "key"),
        ({"compatible": "true"}, "compatible"),
        ({"bpm_min": 130, "bpm_max": 120}, "bpm_max"),
        ({"bpm_min": -1}, "bpm_min"),
        ({"status": "done"}, "status"),
        ({"sort": "artist"}, "sort"),
        ({"order": "up"}, "order"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": 10}, "offset"),
        ({"q": ""}, "q"),
    ],
)
def test_invalid_parameters_are_422_naming_the_field(
    client: TestClient, alice: Account, params: dict[str, Any], field: str
) -> None:
    # when
    response = client.get("/v1/tracks", headers=alice.headers, params=params)
    # then
    assert error(response) == (422, field)
    assert response.json()["detail"].startswith(f"{field}:")


def test_genre_and_artist_match_exactly_in_any_case(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(
        session_factory,
        alice,
        [
            {"title": "a", "genre": "House", "artist": "Daft Punk"},
            {"title": "b", "genre": "house", "artist": "daft punk"},
            {"title": "c", "genre": "Deep House", "artist": "Daft Punk & Friends"},
            {"title": "d", "genre": None, "artist": None},
        ],
    )
    # when
    by_genre = titles(client, alice, genre="HOUSE", sort="title")
    by_artist = titles(client, alice, artist="DAFT PUNK", sort="title")
    both = titles(client, alice, genre="deep house", artist="daft punk & friends", sort="title")
    # then
    assert by_genre == ["a", "b"]
    assert by_artist == ["a", "b"]
    assert both == ["c"]


def test_status_filter_uses_the_latest_analysis(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    redone, broken, waiting, busy, _never = seed_tracks(
        session_factory, alice, [{"title": t} for t in ("redone", "broken", "waiting", "busy", "never")]
    )
    seed_runs(session_factory, redone, ["failed", "succeeded"])
    seed_runs(session_factory, broken, ["succeeded", "failed"])
    seed_runs(session_factory, waiting, ["queued"])
    seed_runs(session_factory, busy, ["succeeded", "running"])
    # when
    found = {status: titles(client, alice, status=status) for status in ("succeeded", "failed", "queued", "running")}
    everything = listing(client, alice, sort="title")
    # then
    assert found == {"succeeded": ["redone"], "failed": ["broken"], "queued": ["waiting"], "running": ["busy"]}
    statuses = {t["title"]: (t["analysis"] or {}).get("status") for t in everything["data"]}
    assert statuses == {
        "broken": "failed",
        "busy": "running",
        "never": None,
        "redone": "succeeded",
        "waiting": "queued",
    }


def test_text_search_is_case_insensitive_over_title_artist_and_album(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(
        session_factory,
        alice,
        [
            {"title": "Midnight City", "artist": "M83", "album": "Hurry Up, We're Dreaming"},
            {"title": "Windowlicker", "artist": "Aphex Twin", "album": "Windowlicker EP"},
            {"title": "Teardrop", "artist": "Massive Attack", "album": "Mezzanine"},
            {"title": "100% Pure", "artist": None, "album": None},
            {"title": "under_score", "artist": None, "album": None},
        ],
    )
    # when
    results = {
        q: titles(client, alice, q=q, sort="title")
        for q in ("CITY", "aphex", "mezzanine", "m83 dreaming", "m83 mezzanine", "%", "100%", "_", "r_s", "i")
    }
    # then: every word must match somewhere; % and _ are literal characters, not wildcards
    assert results == {
        "CITY": ["Midnight City"],
        "aphex": ["Windowlicker"],
        "mezzanine": ["Teardrop"],
        "m83 dreaming": ["Midnight City"],
        "m83 mezzanine": [],
        "%": ["100% Pure"],
        "100%": ["100% Pure"],
        "_": ["under_score"],
        "r_s": ["under_score"],
        "i": ["Midnight City", "Teardrop", "Windowlicker"],
    }


def test_filters_combine_and_count_is_the_total_of_matches(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given: five house tracks at 124 BPM in A minor, one at 140, one in another genre
    rows: list[dict[str, Any]] = [
        {"title": f"house {i}", "genre": "House", "bpm": 124.0, "key": "A minor"} for i in range(5)
    ]
    rows += [
        {"title": "fast house", "genre": "House", "bpm": 140.0, "key": "A minor"},
        {"title": "techno", "genre": "Techno", "bpm": 124.0, "key": "A minor"},
    ]
    seed_tracks(session_factory, alice, rows)
    params = {"genre": "house", "bpm_max": 130, "key": "A minor", "sort": "title"}
    # when
    first = listing(client, alice, limit=2, **params)
    second = listing(client, alice, limit=2, cursor=first["next_cursor"], **params)
    # then
    assert first["count"] == 5
    assert second["count"] == 5
    assert [t["title"] for t in first["data"]] == ["house 0", "house 1"]
    assert [t["title"] for t in second["data"]] == ["house 2", "house 3"]


def test_listing_shows_only_your_tracks(
    client: TestClient, alice: Account, bob: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(session_factory, alice, [{"title": "alice's", "genre": "House"}])
    seed_tracks(session_factory, bob, [{"title": "bob's", "genre": "House"}])
    # when
    mine = listing(client, alice, genre="house")
    theirs = listing(client, bob, q="alice")
    # then
    assert [t["title"] for t in mine["data"]] == ["alice's"]
    assert mine["count"] == 1
    assert theirs == {"data": [], "next_cursor": None, "count": 0}


# ----------------------------------------------------------------------------------------------------------------
# Sort orders
# ----------------------------------------------------------------------------------------------------------------


def test_default_order_is_newest_first(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given: created a second apart, in this order
    seed_tracks(session_factory, alice, [{"title": t} for t in ("first", "second", "third")])
    # when
    default = titles(client, alice)
    oldest_first = titles(client, alice, order="asc")
    # then
    assert default == ["third", "second", "first"]
    assert oldest_first == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("sort", "column"), [("bpm", "bpm"), ("duration", "duration_seconds"), ("loudness", "loudness_lufs")]
)
def test_numeric_sorts_put_missing_values_last_in_both_orders(
    client: TestClient, alice: Account, session_factory: Callable[[], Session], sort: str, column: str
) -> None:
    # given
    values = {"low": -20.5, "none a": None, "high": 130.25, "mid": 7.0, "none b": None}
    tracks = seed_tracks(session_factory, alice, [{"title": t, column: v} for t, v in values.items()])
    nulls = sorted((t for t in tracks if getattr(t, column) is None), key=lambda t: str(t.id))
    # when
    ascending = titles(client, alice, sort=sort)
    explicit = titles(client, alice, sort=sort, order="asc")
    descending = titles(client, alice, sort=sort, order="desc")
    # then: NULLs last, ordered among themselves by id in the same direction
    assert ascending == ["low", "mid", "high", *[t.title for t in nulls]]
    assert explicit == ascending
    assert descending == ["high", "mid", "low", *[t.title for t in reversed(nulls)]]
    assert [t[column] for t in listing(client, alice, sort=sort, limit=1)["data"]] == [-20.5]


def test_title_sort(client: TestClient, alice: Account, session_factory: Callable[[], Session]) -> None:
    # given
    seed_tracks(session_factory, alice, [{"title": t} for t in ("delta", "alpha", "charlie", "bravo")])
    # when
    ascending = titles(client, alice, sort="title")
    descending = titles(client, alice, sort="title", order="desc")
    # then
    assert ascending == ["alpha", "bravo", "charlie", "delta"]
    assert descending == ["delta", "charlie", "bravo", "alpha"]


# ----------------------------------------------------------------------------------------------------------------
# Cursor pages
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def library(session_factory: Callable[[], Session], alice: Account) -> list[Track]:
    """23 tracks with ties and NULLs in every nullable sort key, and ties in created_at."""
    rows: list[dict[str, Any]] = []
    for i in range(23):
        rows.append(
            {
                "title": f"t{i:02d}",
                "bpm": None if i % 5 == 0 else float(120 + i % 3),
                "duration_seconds": None if i % 4 == 0 else float(180 + i % 2),
                "loudness_lufs": None if i % 6 == 0 else -10.0 - i % 4,
                "created_at": BASE_TIME + timedelta(seconds=i // 3),
            }
        )
    return seed_tracks(session_factory, alice, rows)


@pytest.mark.parametrize("sort", ["created_at", "title", "bpm", "duration", "loudness"])
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 4, 7])
def test_walking_every_page_gives_the_full_ordered_list(
    client: TestClient, alice: Account, library: list[Track], sort: str, order: str, limit: int
) -> None:
    # given
    full = titles(client, alice, sort=sort, order=order)
    # when
    pages = walk(client, alice, limit=limit, sort=sort, order=order)
    # then
    assert len(full) == 23
    assert flat(pages) == full
    assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1)
    assert 1 <= len(pages[-1]) <= limit


def test_cursor_walk_matches_the_expected_order_across_ties_and_nulls(
    client: TestClient, alice: Account, library: list[Track]
) -> None:
    # given: by bpm descending, then id descending; NULL bpm last, also by id descending
    def expected_key(t: Track) -> tuple[bool, float, str]:
        return (t.bpm is None, -(t.bpm or 0.0), "".join(chr(255 - ord(c)) for c in str(t.id)))

    expected = [t.title for t in sorted(library, key=expected_key)]
    # when
    pages = walk(client, alice, limit=3, sort="bpm", order="desc")
    # then
    assert flat(pages) == expected


def test_rows_inserted_between_pages_are_never_repeated_or_skipped(
    client: TestClient, alice: Account, session_factory: Callable[[], Session], library: list[Track]
) -> None:
    # given
    before = titles(client, alice)
    first = listing(client, alice, limit=5)
    # when: newer tracks arrive (they sort before the cursor), then the walk continues
    seed_tracks(
        session_factory,
        alice,
        [{"title": f"new {i}", "created_at": BASE_TIME + timedelta(days=1, seconds=i)} for i in range(3)],
    )
    rest = walk_from(client, alice, first["next_cursor"], limit=5)
    # then
    assert [t["title"] for t in first["data"]] + rest == before
    assert first["count"] == 23


def test_rows_inserted_after_the_cursor_appear_once_and_existing_rows_keep_their_place(
    client: TestClient, alice: Account, session_factory: Callable[[], Session], library: list[Track]
) -> None:
    # given
    before = titles(client, alice, sort="title")
    first = listing(client, alice, sort="title", limit=6)
    seen = [t["title"] for t in first["data"]]
    # when: one title sorts before the cursor, one between existing rows after it, one at the very end
    seed_tracks(session_factory, alice, [{"title": "t00a"}, {"title": "t10a"}, {"title": "t99"}])
    rest = walk_from(client, alice, first["next_cursor"], limit=6, sort="title")
    # then
    walked = seen + rest
    assert len(walked) == len(set(walked))
    assert [t for t in walked if t in before] == before
    assert [t for t in walked if t not in before] == ["t10a", "t99"]


def walk_from(client: TestClient, account: Account, cursor: str | None, *, limit: int, **params: Any) -> list[str]:
    found: list[str] = []
    while cursor is not None:
        body = listing(client, account, limit=limit, cursor=cursor, **params)
        found += [t["title"] for t in body["data"]]
        cursor = body["next_cursor"]
    return found


def test_last_page_has_no_cursor_and_an_exact_page_ends_there(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(session_factory, alice, [{"title": t} for t in ("a", "b", "c", "d")])
    # when
    exact = listing(client, alice, limit=4)
    short = listing(client, alice, limit=3)
    after_short = listing(client, alice, limit=3, cursor=short["next_cursor"])
    # then
    assert exact["next_cursor"] is None
    assert short["next_cursor"] is not None
    assert [t["title"] for t in after_short["data"]] == ["a"]
    assert after_short["next_cursor"] is None


def _flip(cursor: str, index: int) -> str:
    replacement = "A" if cursor[index] != "A" else "B"
    return cursor[:index] + replacement + cursor[index + 1 :]


def test_tampered_or_foreign_cursors_are_422_naming_the_cursor(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(session_factory, alice, [{"title": t, "bpm": 120.0} for t in ("a", "b", "c")])
    cursor = listing(client, alice, limit=1, sort="bpm")["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    edited_value = base64.urlsafe_b64encode(raw.replace(b"120.0", b"121.0")).decode().rstrip("=")
    bad = {
        "garbage": ("not a cursor!", {"sort": "bpm"}),
        "not base64 json": ("aGVsbG8", {"sort": "bpm"}),
        "first character": (_flip(cursor, 0), {"sort": "bpm"}),
        "middle character": (_flip(cursor, len(cursor) // 2), {"sort": "bpm"}),
        "last character": (_flip(cursor, -1), {"sort": "bpm"}),
        "truncated": (cursor[:-4], {"sort": "bpm"}),
        "edited value": (edited_value, {"sort": "bpm"}),
        "other sort": (cursor, {"sort": "title"}),
        "other order": (cursor, {"sort": "bpm", "order": "desc"}),
        "other filters": (cursor, {"sort": "bpm", "bpm_min": 100}),
    }
    # when
    responses = {
        name: client.get("/v1/tracks", headers=alice.headers, params={"limit": 1, "cursor": value, **params})
        for name, (value, params) in bad.items()
    }
    # then
    assert {name: error(r) for name, r in responses.items()} == dict.fromkeys(bad, (422, "cursor"))
    assert responses["other sort"].json()["detail"].startswith("cursor belongs to another query")
    assert listing(client, alice, limit=1, sort="bpm", cursor=cursor)["data"][0]["title"] in {"a", "b", "c"}


def test_another_users_cursor_only_pages_through_your_own_tracks(
    client: TestClient, alice: Account, bob: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(session_factory, alice, [{"title": t} for t in ("a1", "a2", "a3")])
    seed_tracks(session_factory, bob, [{"title": t} for t in ("b1", "b2", "b3")])
    alices_cursor = listing(client, alice, limit=1, sort="title")["next_cursor"]
    # when
    bobs_page = listing(client, bob, limit=5, sort="title", cursor=alices_cursor)
    # then
    assert [t["title"] for t in bobs_page["data"]] == ["b1", "b2", "b3"]


# ----------------------------------------------------------------------------------------------------------------
# PATCH
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def track(session_factory: Callable[[], Session], alice: Account) -> Track:
    return seed_tracks(
        session_factory,
        alice,
        [{"title": "Original", "artist": "Someone", "album": "Album", "genre": "House", "is_reference": True}],
    )[0]


def test_patch_updates_the_given_fields_and_keeps_the_others(client: TestClient, alice: Account, track: Track) -> None:
    # when
    response = client.patch(
        f"/v1/tracks/{track.id}",
        headers=alice.headers,
        json={"title": "  New title ", "genre": "Techno", "is_reference": False, "metadata": {"label": "Warp"}},
    )
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["artist"], body["album"], body["genre"], body["is_reference"]) == (
        "New title",
        "Someone",
        "Album",
        "Techno",
        False,
    )
    assert body["metadata"] == {"original_filename": "seeded.wav", "codec": "pcm_s16le", "label": "Warp"}
    again = client.get(f"/v1/tracks/{track.id}", headers=alice.headers).json()
    assert {k: again[k] for k in ("title", "genre", "is_reference", "metadata")} == {
        k: body[k] for k in ("title", "genre", "is_reference", "metadata")
    }


def test_patch_clears_optional_text_and_merges_metadata(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # given
    client.patch(f"/v1/tracks/{track.id}", headers=alice.headers, json={"metadata": {"label": "Warp", "cat": "W1"}})
    # when
    response = client.patch(
        f"/v1/tracks/{track.id}",
        headers=alice.headers,
        json={"artist": None, "album": "", "genre": "   ", "metadata": {"label": None, "year": 1999}},
    )
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["artist"], body["album"], body["genre"]) == (None, None, None)
    assert body["metadata"] == {"original_filename": "seeded.wav", "codec": "pcm_s16le", "cat": "W1", "year": 1999}
    stored = session.scalars(select(Track).where(Track.id == track.id)).one()
    assert stored.metadata_ == body["metadata"]
    assert stored.artist is None


def test_patch_with_an_empty_body_changes_nothing(client: TestClient, alice: Account, track: Track) -> None:
    # when
    response = client.patch(f"/v1/tracks/{track.id}", headers=alice.headers, json={})
    # then
    assert response.status_code == 200
    assert response.json()["title"] == "Original"
    assert response.json()["genre"] == "House"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"artist": "x" * 501}, "artist"),
        ({"album": "x" * 501}, "album"),
        ({"genre": "x" * 201}, "genre"),
        ({"is_reference": None}, "is_reference"),
        ({"is_reference": "sometimes"}, "is_reference"),
        ({"metadata": None}, "metadata"),
        ({"metadata": ["a"]}, "metadata"),
        ({"metadata": {"codec": "flac"}}, "metadata"),
        ({"metadata": {"original_filename": None}}, "metadata"),
        ({"metadata": {"k" * 65: 1}}, "metadata"),
        ({"metadata": {"blob": "x" * 20000}}, "metadata"),
        ({"bpm": 128}, "bpm"),
    ],
)
def test_patch_refuses_invalid_fields_with_422_naming_the_field(
    client: TestClient, alice: Account, track: Track, body: dict[str, Any], field: str
) -> None:
    # when
    response = client.patch(f"/v1/tracks/{track.id}", headers=alice.headers, json=body)
    # then
    assert error(response) == (422, field)
    assert client.get(f"/v1/tracks/{track.id}", headers=alice.headers).json()["title"] == "Original"


def test_patch_of_another_users_track_is_404_and_changes_nothing(
    client: TestClient, alice: Account, bob: Account, track: Track
) -> None:
    # when
    response = client.patch(f"/v1/tracks/{track.id}", headers=bob.headers, json={"title": "Mine now"})
    # then
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "track not found"}
    assert client.get(f"/v1/tracks/{track.id}", headers=alice.headers).json()["title"] == "Original"
