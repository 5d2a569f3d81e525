"""Export and import of annotations and regions as Audacity labels and JAMS, over HTTP on both databases."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.annotation.models import TrackAnnotation, TrackRegion
from tests.fixtures.app import Account
from tests.service.annotation.conftest import Track, get, post

ANNOTATIONS = [
    {"start_time_seconds": 1.5, "title": "Vocal in"},
    {
        "start_time_seconds": 2.0,
        "end_time_seconds": 4.25,
        "annotation_type": "issue",
        "title": "Hats too bright",
        "content": "Cut 8 kHz.\nMaybe 2 dB.",
        "color": "#e5484d",
        "tags": ["mix", "hats"],
    },
    {"start_time_seconds": 5.0, "annotation_type": "praise", "color": "#0f0"},
    {"start_time_seconds": 6.0, "end_time_seconds": 9.75, "annotation_type": "marker", "title": "Tab\there"},
]
REGIONS = [
    {"name": "Drop", "start_time_seconds": 6.0, "end_time_seconds": 10.0, "loop_count": 4, "is_favorite": True},
    {"name": "Intro", "start_time_seconds": 0.0, "end_time_seconds": 2.5, "region_type": "section", "color": "#abc"},
    {"name": "Build", "start_time_seconds": 2.5, "end_time_seconds": 6.0, "region_type": "compare"},
]
BAD_JSON = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
ANNOTATION_FIELDS = ("start_time_seconds", "end_time_seconds", "annotation_type", "title", "content", "color", "tags")
REGION_FIELDS = ("name", "start_time_seconds", "end_time_seconds", "region_type", "loop_count", "is_favorite", "color")


def seed(client: TestClient, account: Account, track: Track, kind: str, items: list[dict]) -> list[dict]:
    created = []
    for item in items:
        code, body = post(client, account, f"{track.url}/{kind}", item)
        assert code == 201, body
        created.append(body)
    return created


def export(client: TestClient, account: Account, track: Track, kind: str, fmt: str) -> str:
    response = client.get(f"{track.url}/{kind}/export", headers=account.headers, params={"format": fmt})
    assert response.status_code == 200, response.text
    return response.text


def import_text(
    client: TestClient, account: Account, track: Track, kind: str, fmt: str, text: str, content_type: str = "text/plain"
) -> tuple[int, dict]:
    response = client.post(
        f"{track.url}/{kind}/import",
        headers={**account.headers, "Content-Type": content_type},
        params={"format": fmt},
        content=text.encode(),
    )
    return response.status_code, response.json()


def listed(client: TestClient, account: Account, track: Track, kind: str) -> list[dict]:
    code, body = get(client, account, f"{track.url}/{kind}")
    assert code == 200
    return body["data"]


def fields(items: list[dict], names: tuple[str, ...]) -> list[dict]:
    return [{name: item[name] for name in names} for item in items]


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_annotations_export_as_audacity_labels(client: TestClient, alice: Account, track: Track) -> None:
    # given
    seed(client, alice, track, "annotations", ANNOTATIONS)
    # when
    response = client.get(f"{track.url}/annotations/export", headers=alice.headers, params={"format": "audacity"})
    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="a-annotations.txt"'
    assert response.text == (
        "1.500000\t1.500000\tVocal in\n"
        "2.000000\t4.250000\t[issue] Hats too bright\n"
        "5.000000\t5.000000\t[praise]\n"
        "6.000000\t9.750000\t[marker] Tab here\n"
    )


def test_regions_export_as_audacity_labels_in_list_order(client: TestClient, alice: Account, track: Track) -> None:
    # given
    seed(client, alice, track, "regions", REGIONS)
    # when
    text = export(client, alice, track, "regions", "audacity")
    # then
    assert (
        text == "6.000000\t10.000000\tDrop\n0.000000\t2.500000\t[section] Intro\n2.500000\t6.000000\t[compare] Build\n"
    )


def test_annotations_export_as_jams(client: TestClient, alice: Account, track: Track) -> None:
    # given
    seed(client, alice, track, "annotations", ANNOTATIONS[:3])
    # when
    response = client.get(f"{track.url}/annotations/export", headers=alice.headers, params={"format": "jams"})
    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="a-annotations.jams"'
    document = json.loads(response.text)
    assert document["file_metadata"]["duration"] == track.duration_s
    assert document["file_metadata"]["title"] == "a"
    [annotation] = document["annotations"]
    assert annotation["namespace"] == "tag_open"
    assert annotation["data"] == [
        {"time": 1.5, "duration": 0.0, "value": "Vocal in", "confidence": None},
        {"time": 2.0, "duration": 2.25, "value": "Hats too bright", "confidence": None},
        {"time": 5.0, "duration": 0.0, "value": "praise", "confidence": None},
    ]
    assert annotation["sandbox"]["reftrack"] == [
        {"annotation_type": "note", "title": "Vocal in", "content": None, "color": None, "tags": []},
        {k: ANNOTATIONS[1][k] for k in ("annotation_type", "title", "content", "color", "tags")},
        {"annotation_type": "praise", "title": None, "content": None, "color": "#0f0", "tags": []},
    ]


def test_regions_export_as_jams_in_time_order_with_positions(client: TestClient, alice: Account, track: Track) -> None:
    # given
    seed(client, alice, track, "regions", REGIONS)
    # when
    document = json.loads(export(client, alice, track, "regions", "jams"))
    # then
    [annotation] = document["annotations"]
    assert annotation["namespace"] == "segment_open"
    assert [(d["time"], d["duration"], d["value"]) for d in annotation["data"]] == [
        (0.0, 2.5, "Intro"),
        (2.5, 3.5, "Build"),
        (6.0, 4.0, "Drop"),
    ]
    assert annotation["sandbox"]["reftrack"] == [
        {"region_type": "section", "loop_count": None, "is_favorite": False, "color": "#abc", "position": 1},
        {"region_type": "compare", "loop_count": None, "is_favorite": False, "color": None, "position": 2},
        {"region_type": "loop", "loop_count": 4, "is_favorite": True, "color": None, "position": 0},
    ]


def test_export_of_nothing_is_an_empty_file(client: TestClient, alice: Account, track: Track) -> None:
    assert export(client, alice, track, "annotations", "audacity") == ""
    document = json.loads(export(client, alice, track, "regions", "jams"))
    assert document["annotations"][0]["data"] == []


def test_export_is_jams_unless_told_otherwise(client: TestClient, alice: Account, track: Track) -> None:
    # when
    default = client.get(f"{track.url}/annotations/export", headers=alice.headers)
    unknown = client.get(f"{track.url}/regions/export", headers=alice.headers, params={"format": "csv"})
    # then
    assert default.status_code == 200
    assert json.loads(default.text)["annotations"][0]["namespace"] == "tag_open"
    assert (unknown.status_code, unknown.json()["field"]) == (422, "format")


def test_import_without_a_format_reads_json_as_jams_and_text_as_audacity(
    client: TestClient, alice: Account, track: Track, second_track: Track
) -> None:
    # given
    seed(client, alice, track, "regions", REGIONS[:1])
    jams_text = export(client, alice, track, "regions", "jams")
    # when
    from_jams = client.post(f"{second_track.url}/regions/import", headers=alice.headers, content=jams_text.encode())
    from_labels = client.post(
        f"{second_track.url}/regions/import", headers=alice.headers, content=b"0\t2\t[section] Intro\n"
    )
    unknown = client.post(
        f"{second_track.url}/regions/import", headers=alice.headers, params={"format": "csv"}, content=b"a,b"
    )
    # then
    assert from_jams.status_code == 201, from_jams.text
    assert [(r["name"], r["loop_count"], r["is_favorite"]) for r in from_jams.json()["data"]] == [("Drop", 4, True)]
    assert from_labels.status_code == 201, from_labels.text
    assert [(r["name"], r["region_type"]) for r in from_labels.json()["data"]] == [("Intro", "section")]
    assert (unknown.status_code, unknown.json()["field"]) == (422, "format")


def test_audacity_import_creates_annotations(client: TestClient, alice: Account, track: Track) -> None:
    # given: an Audacity export with a spectral selection line, CRLF line ends and a trailing blank line
    text = (
        "0.500000\t0.500000\tVocal in\r\n"
        "2.000000\t4.000000\t[issue] Hats too bright\r\n"
        "\\\t200.000000\t8000.000000\r\n"
        "7.250000\t7.250000\t\r\n"
        "8\t[marker] Drop\r\n"
        "\r\n"
    )
    # when
    code, body = import_text(client, alice, track, "annotations", "audacity", text)
    # then
    assert code == 201, body
    assert body["count"] == 4
    expected = [
        (0.5, None, "note", "Vocal in"),
        (2.0, 4.0, "issue", "Hats too bright"),
        (7.25, None, "note", None),
        (8.0, None, "marker", "Drop"),
    ]
    got = [(a["start_time_seconds"], a["end_time_seconds"], a["annotation_type"], a["title"]) for a in body["data"]]
    assert got == expected
    assert fields(listed(client, alice, track, "annotations"), ANNOTATION_FIELDS) == fields(
        body["data"], ANNOTATION_FIELDS
    )


def test_audacity_import_reports_the_line_and_writes_nothing(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # given: line 3 ends before it starts
    text = "0.0\t1.0\tfine\n2.0\t3.0\tfine too\n5.0\t4.0\tbackwards\n"
    # when
    code, error = import_text(client, alice, track, "annotations", "audacity", text)
    # then
    assert code == 422
    assert (error["detail"], error["field"]) == ("line 3: end before start", "line 3")
    assert count(session, TrackAnnotation) == 0


def test_audacity_import_lists_every_problem(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # given
    text = "\n".join(
        [
            "0.0\t1.0\tfine",
            "\\\t100\t200",
            "x\t1.0\tnot a number",
            "11.0\t11.0\tpast the end",
            f"1.0\t2.0\t{'t' * 501}",
            "9.0\t10.5\tends past the end",
            "-1\t2\tnegative",
        ]
    )
    # when
    code, error = import_text(client, alice, track, "annotations", "audacity", text)
    # then: unreadable lines are reported first, on their own
    assert code == 422
    assert error["extra"] == {
        "errors": [{"field": "line 3", "detail": "line 3: start 'x' is not a number"}],
        "error_count": 1,
    }
    # when: the unreadable line is fixed
    code, error = import_text(client, alice, track, "annotations", "audacity", text.replace("x\t", "0.5\t"))
    # then
    assert code == 422
    assert error["extra"]["errors"] == [
        {"field": "line 4", "detail": "line 4: start is past the end of the track (10.000 s)"},
        {"field": "line 5", "detail": "line 5: label: String should have at most 500 characters"},
        {"field": "line 6", "detail": "line 6: end is past the end of the track (10.000 s)"},
        {"field": "line 7", "detail": "line 7: start: Input should be greater than or equal to 0"},
    ]
    assert error["extra"]["error_count"] == 4
    assert (error["field"], error["detail"]) == ("line 4", "line 4: start is past the end of the track (10.000 s)")
    assert count(session, TrackAnnotation) == 0


def test_audacity_import_of_regions_needs_names_and_spans(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # given
    text = "0\t2\tIntro\n3\t3\tpoint\n4\t5\t\n5\t6\t[section]   \n6\t7\tnul \x00 byte\n"
    # when
    code, error = import_text(client, alice, track, "regions", "audacity", text)
    # then
    assert code == 422
    assert [e["detail"] for e in error["extra"]["errors"]] == [
        "line 2: a region needs an end after its start, not a point",
        "line 3: label: String should have at least 1 character",
        "line 4: label: String should have at least 1 character",
        "line 5: label: must not contain NUL characters",
    ]
    assert count(session, TrackRegion) == 0


def test_audacity_import_tolerates_rounding_at_the_end_of_the_track(
    client: TestClient, alice: Account, track: Track
) -> None:
    # when: six decimals can round a time at the very end a hair past it
    code, body = import_text(client, alice, track, "regions", "audacity", "9.0\t10.0000004\tOutro\n")
    # then
    assert code == 201, body
    assert body["data"][0]["end_time_seconds"] == track.duration_s


def test_jams_import_reports_json_paths_and_writes_nothing(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # given
    document = {
        "file_metadata": {"duration": 10.0},
        "annotations": [
            {"namespace": "beat", "data": [{"time": 0.5, "duration": 0.0, "value": 1}]},
            {
                "namespace": "tag_open",
                "data": [
                    {"time": 1.0, "duration": 0.0, "value": "fine"},
                    {"time": 9.0, "duration": 2.0, "value": "past the end"},
                    {"time": 2.0, "duration": 1.0, "value": "bad colour"},
                    {"time": 3.0, "duration": 0.0, "value": "bad tag"},
                    {"time": 10.5, "duration": 0.0, "value": "starts past the end"},
                ],
                "sandbox": {"reftrack": [{}, {}, {"color": "blue"}, {"tags": ["ok", ""]}, {"annotation_type": "todo"}]},
            },
        ],
    }
    # when
    code, error = import_text(client, alice, track, "annotations", "jams", json.dumps(document), "application/json")
    # then
    assert code == 422
    assert error["extra"]["errors"] == [
        {
            "field": "annotations[1].data[1].duration",
            "detail": "annotations[1].data[1].duration: time + duration is past the end of the track (10.000 s)",
        },
        {
            "field": "annotations[1].sandbox.reftrack[2].color",
            "detail": "annotations[1].sandbox.reftrack[2].color: must be a hex colour, #RGB or #RRGGBB",
        },
        {
            "field": "annotations[1].sandbox.reftrack[3].tags[1]",
            "detail": "annotations[1].sandbox.reftrack[3].tags[1]: String should have at least 1 character",
        },
        {
            "field": "annotations[1].sandbox.reftrack[4].annotation_type",
            "detail": "annotations[1].sandbox.reftrack[4].annotation_type: "
            "Input should be 'note', 'marker', 'issue' or 'praise'",
        },
        {
            "field": "annotations[1].data[4].time",
            "detail": "annotations[1].data[4].time: is past the end of the track (10.000 s)",
        },
    ]
    assert error["field"] == "annotations[1].data[1].duration"
    assert count(session, TrackAnnotation) == 0


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ("{", "body", f"body: not valid JSON: {BAD_JSON}"),
        ("{}", "annotations", "annotations: Field required"),
        ('{"annotations": []}', "annotations", 'annotations: no "segment_open" annotation in the file'),
        (
            '{"annotations": [{"namespace": "segment_open", "data": [{"time": 1, "duration": 0, "value": "x"}]}]}',
            "annotations[0].data[0].duration",
            "annotations[0].data[0].duration: must be greater than 0 for a region",
        ),
        (
            '{"annotations": [{"namespace": "segment_open", "data": [{"time": 1, "duration": 1, "value": ""}]}]}',
            "annotations[0].data[0].value",
            "annotations[0].data[0].value: String should have at least 1 character",
        ),
        (
            '{"annotations": [{"namespace": "segment_open", "data": [{"time": 1, "duration": 1, "value": "x"}],'
            ' "sandbox": {"reftrack": [{"loop_count": 0, "position": -1}]}}]}',
            "annotations[0].sandbox.reftrack[0].position",
            "annotations[0].sandbox.reftrack[0].position: must be a whole number, 0 or more",
        ),
    ],
)  # fmt: skip
def test_jams_import_of_regions_names_the_path(
    client: TestClient, alice: Account, track: Track, session: Session, body: str, field: str, detail: str
) -> None:
    # when
    code, error = import_text(client, alice, track, "regions", "jams", body, "application/json")
    # then
    assert code == 422
    assert (error["field"], error["detail"]) == (field, detail)
    assert count(session, TrackRegion) == 0


def test_import_accepts_multipart_and_appends_regions(client: TestClient, alice: Account, track: Track) -> None:
    # given
    seed(client, alice, track, "regions", REGIONS[:1])
    # when
    response = client.post(
        f"{track.url}/regions/import",
        headers=alice.headers,
        params={"format": "audacity"},
        files={"file": ("labels.txt", b"0\t2\tIntro\n2\t4\t[compare] Verse\n", "text/plain")},
    )
    # then
    assert response.status_code == 201, response.text
    assert [(r["name"], r["region_type"], r["sort_order"]) for r in response.json()["data"]] == [
        ("Intro", "loop", 1),
        ("Verse", "compare", 2),
    ]
    assert [r["name"] for r in listed(client, alice, track, "regions")] == ["Drop", "Intro", "Verse"]


def test_multipart_import_needs_a_file_part(client: TestClient, alice: Account, track: Track) -> None:
    # when
    response = client.post(
        f"{track.url}/annotations/import",
        headers=alice.headers,
        params={"format": "audacity"},
        files={"other": ("labels.txt", b"0\t1\tx\n", "text/plain")},
    )
    # then
    assert response.status_code == 422
    assert response.json()["field"] == "file"


def test_import_refuses_text_that_is_not_utf8(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # when
    response = client.post(
        f"{track.url}/annotations/import",
        headers={**alice.headers, "Content-Type": "text/plain"},
        params={"format": "audacity"},
        content="0\t1\tcafé\n".encode("latin-1"),
    )
    # then
    assert response.status_code == 422
    assert response.json() == {"error": "InvalidInput", "detail": "body: the file is not UTF-8 text", "field": "body"}
    assert count(session, TrackAnnotation) == 0


def test_import_refuses_files_over_the_limit(client: TestClient, alice: Account, track: Track) -> None:
    # when
    line = "0.000000\t1.000000\tlabel\n"
    code, error = import_text(
        client, alice, track, "annotations", "audacity", line * (5 * 1024 * 1024 // len(line) + 1)
    )
    # then
    assert code == 413
    assert error["error"] == "PayloadTooLarge"


def test_import_of_an_empty_file_creates_nothing(client: TestClient, alice: Account, track: Track) -> None:
    assert import_text(client, alice, track, "annotations", "audacity", "") == (201, {"data": [], "count": 0})


def test_import_with_a_byte_order_mark(client: TestClient, alice: Account, track: Track) -> None:
    # when
    code, body = import_text(client, alice, track, "annotations", "audacity", "\ufeff1.0\t1.0\tVocal in\n")
    # then
    assert code == 201, body
    assert body["data"][0]["title"] == "Vocal in"


@pytest.mark.parametrize("fmt", ["audacity", "jams"])
def test_annotations_round_trip(
    client: TestClient, alice: Account, track: Track, second_track: Track, fmt: str
) -> None:
    # given
    seed(client, alice, track, "annotations", ANNOTATIONS)
    original = listed(client, alice, track, "annotations")
    # when
    code, body = import_text(
        client, alice, second_track, "annotations", fmt, export(client, alice, track, "annotations", fmt)
    )
    # then
    assert code == 201, body
    copied = listed(client, alice, second_track, "annotations")
    if fmt == "jams":
        assert fields(copied, ANNOTATION_FIELDS) == fields(original, ANNOTATION_FIELDS)
    else:
        # Audacity labels carry the times and "[type] title" only; tabs in a title become spaces
        kept = ("start_time_seconds", "end_time_seconds", "annotation_type", "title")
        expected = [
            {**item, "title": item["title"] and item["title"].replace("\t", " ")} for item in fields(original, kept)
        ]
        assert fields(copied, kept) == expected
    assert all(a["track_id"] == second_track.id for a in copied)
    # and the copy exports to the same labels
    first, second = (export(client, alice, t, "annotations", fmt) for t in (track, second_track))
    if fmt == "jams":
        assert json.loads(second)["annotations"] == json.loads(first)["annotations"]
    else:
        assert second == first


@pytest.mark.parametrize("fmt", ["audacity", "jams"])
def test_regions_round_trip_keeps_the_list_order(
    client: TestClient, alice: Account, track: Track, second_track: Track, fmt: str
) -> None:
    # given: regions in a list order that is not time order
    created = seed(client, alice, track, "regions", REGIONS)
    order = [created[i]["id"] for i in (1, 0, 2)]
    assert post(client, alice, f"{track.url}/regions/reorder", {"ids": order})[0] == 200
    original = listed(client, alice, track, "regions")
    # when
    code, body = import_text(client, alice, second_track, "regions", fmt, export(client, alice, track, "regions", fmt))
    # then
    assert code == 201, body
    copied = listed(client, alice, second_track, "regions")
    assert [r["sort_order"] for r in copied] == [0, 1, 2]
    kept = REGION_FIELDS if fmt == "jams" else ("name", "start_time_seconds", "end_time_seconds", "region_type")
    assert fields(copied, kept) == fields(original, kept)
