"""The Audacity label and JAMS readers and writers, without a database."""

from __future__ import annotations

import json

import pytest

from service.annotation.formats import (
    FormatError,
    Label,
    Problem,
    Row,
    guess_format,
    read_audacity,
    read_jams,
    tag_text,
    untag_text,
    write_audacity,
    write_jams,
)

BAD_JSON = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
POINT = {"time": 1.0, "duration": 0.0, "value": "x"}
KINDS = ("note", "marker", "issue", "praise")


def problems(exc: pytest.ExceptionInfo[FormatError]) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in exc.value.problems]


def test_audacity_reads_spans_points_and_skips_frequency_lines() -> None:
    # given: CRLF line ends, a spectral selection line, a blank line and a label holding a tab
    text = (
        "0.000000\t2.500000\tIntro\r\n"
        "\\\t100.000000\t2000.000000\r\n"
        "\r\n"
        "3.25\t3.25\t[issue] Hats\ttoo bright\r\n"
        "4\t5\t\r\n"
        "6,5\t7,5\tComma decimals\r\n"
        "8.0\tOld-style point\n"
        "1e0\t2E0\tExponent"
    )
    # when
    labels = read_audacity(text)
    # then
    assert labels == [
        Label(0.0, 2.5, "Intro", "line 1"),
        Label(3.25, None, "[issue] Hats\ttoo bright", "line 4"),
        Label(4.0, 5.0, "", "line 5"),
        Label(6.5, 7.5, "Comma decimals", "line 6"),
        Label(8.0, None, "Old-style point", "line 7"),
        Label(1.0, 2.0, "Exponent", "line 8"),
    ]


def test_audacity_reports_every_unreadable_line() -> None:
    # given
    text = "0\t1\tfine\nno tabs here\nabc\t1\tx\n1\tlater\tx\ninf\t1\tx\n1\tnan\tx\n"
    # when
    with pytest.raises(FormatError) as exc:
        read_audacity(text)
    # then
    assert problems(exc) == [
        ("line 2", "expected start, end and label separated by tabs"),
        ("line 3", "start 'abc' is not a number"),
        ("line 4", "end 'later' is not a number"),
        ("line 5", "start 'inf' is not a number"),
        ("line 6", "end 'nan' is not a number"),
    ]
    assert str(exc.value) == "line 2: expected start, end and label separated by tabs"


def test_audacity_writes_six_decimals_and_points_as_equal_times() -> None:
    # when
    text = write_audacity([Row(1.5, None, "Point"), Row(2.0, 4.1234567, "Span\twith\ntabs")])
    # then
    assert text == "1.500000\t1.500000\tPoint\n2.000000\t4.123457\tSpan with tabs\n"
    assert write_audacity([]) == ""


@pytest.mark.parametrize(
    ("kind", "text", "label"),
    [
        ("note", "Vocal in", "Vocal in"),
        ("issue", "Hats", "[issue] Hats"),
        ("praise", None, "[praise]"),
        ("note", None, ""),
        ("note", "[issue] looks tagged", "[note] [issue] looks tagged"),
        ("note", "[draft] own brackets", "[note] [draft] own brackets"),
    ],
)
def test_kind_prefix_round_trips(kind: str, text: str | None, label: str) -> None:
    assert tag_text(kind, text, default="note") == label
    assert untag_text(label, kinds=KINDS, default="note") == (kind, text or "")


def test_unknown_prefix_is_part_of_the_text() -> None:
    assert untag_text("[draft] idea", kinds=KINDS, default="note") == ("note", "[draft] idea")


def jams(*annotations: dict[str, object], duration: object = 10.0) -> str:
    return json.dumps({"file_metadata": {"duration": duration}, "annotations": list(annotations)})


def test_jams_reads_the_namespace_with_paths_and_sandbox_extras() -> None:
    # given: a beat annotation to ignore, then the tag annotation
    text = jams(
        {"namespace": "beat", "data": [{"time": 0.5, "duration": 0, "value": 1, "confidence": None}]},
        {
            "namespace": "tag_open",
            "data": [
                {"time": 1.0, "duration": 0.0, "value": "point", "confidence": None},
                {"time": 2.0, "duration": 1.5, "value": "span", "confidence": 0.9},
            ],
            "sandbox": {"reftrack": [{"color": "#fff"}, {}]},
        },
    )
    # when
    labels = read_jams(text, namespace="tag_open")
    # then
    assert labels == [
        Label(
            1.0,
            None,
            "point",
            "annotations[1].data[0]",
            extras={"color": "#fff"},
            paths={
                "start": "annotations[1].data[0].time",
                "end": "annotations[1].data[0].duration",
                "text": "annotations[1].data[0].value",
                "color": "annotations[1].sandbox.reftrack[0].color",
            },
        ),
        Label(
            2.0,
            3.5,
            "span",
            "annotations[1].data[1]",
            paths={
                "start": "annotations[1].data[1].time",
                "end": "annotations[1].data[1].duration",
                "text": "annotations[1].data[1].value",
            },
        ),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", [("body", f"not valid JSON: {BAD_JSON}")]),
        ("[]", [("body", "must be an object")]),
        ("[" * 100_000 + "]" * 100_000, [("body", "JSON nested too deeply")]),
        (json.dumps({"file_metadata": {}}), [("annotations", "Field required")]),
        (jams(duration=-1.0), [("file_metadata.duration", "Input should be greater than or equal to 0")]),
        (
            json.dumps({"file_metadata": "x", "annotations": [1]}),
            [("file_metadata", "must be an object"), ("annotations[0]", "must be an object")],
        ),
        (jams({"namespace": "beat", "data": []}), [("annotations", 'no "tag_open" annotation in the file')]),
        (
            jams({"namespace": "tag_open", "data": {"time": [1.0]}}),
            [("annotations[0].data", "Input should be a valid list")],
        ),
        (jams({"namespace": "tag_open"}), [("annotations[0].data", "Field required")]),
        (
            jams({"namespace": "tag_open", "data": [
                {"time": 1.0, "duration": 0.0, "value": "ok"},
                {"time": -1.0, "duration": 0.0, "value": "x"},
                {"time": 1.0, "duration": "long", "value": "x"},
                {"time": 1.0, "duration": 1.0, "value": 3},
                {"duration": 1.0, "value": "x"},
                "not an object",
                {"time": 1.0, "duration": float("nan"), "value": "x"},
            ]}),
            [
                ("annotations[0].data[1].time", "Input should be greater than or equal to 0"),
                ("annotations[0].data[2].duration", "Input should be a valid number"),
                ("annotations[0].data[3].value", "must be a string"),
                ("annotations[0].data[4].time", "Field required"),
                ("annotations[0].data[5]", "must be an object"),
                ("annotations[0].data[6].duration", "Input should be a finite number"),
            ],
        ),
        (
            jams({"namespace": "tag_open", "data": [POINT], "sandbox": {"reftrack": []}}),
            [("annotations[0].sandbox.reftrack", "must be a list of one object per observation (1)")],
        ),
        (
            jams({"namespace": "tag_open", "data": [POINT], "sandbox": {"reftrack": [1]}}),
            [("annotations[0].sandbox.reftrack[0]", "must be an object")],
        ),
    ],
)  # fmt: skip
def test_jams_problems_name_their_json_path(text: str, expected: list[tuple[str, str]]) -> None:
    # when
    with pytest.raises(FormatError) as exc:
        read_jams(text, namespace="tag_open")
    # then
    assert problems(exc) == expected


def test_jams_writer_output_reads_back() -> None:
    # given
    rows = [Row(0.0, None, "start", {"n": 1}), Row(1.25, 3.5, "span", {"n": 2})]
    # when
    text = write_jams(rows, namespace="segment_open", duration_s=24.0, title="Ref", artist="Someone")
    # then
    document = json.loads(text)
    assert document["file_metadata"] == {
        "title": "Ref",
        "artist": "Someone",
        "release": "",
        "duration": 24.0,
        "identifiers": {},
        "jams_version": "0.3.4",
    }
    [annotation] = document["annotations"]
    assert annotation["namespace"] == "segment_open"
    assert (annotation["time"], annotation["duration"]) == (0.0, 24.0)
    assert annotation["data"] == [
        {"time": 0.0, "duration": 0.0, "value": "start", "confidence": None},
        {"time": 1.25, "duration": 2.25, "value": "span", "confidence": None},
    ]
    assert annotation["sandbox"] == {"reftrack": [{"n": 1}, {"n": 2}]}
    labels = read_jams(text, namespace="segment_open")
    assert [(label.start_s, label.end_s, label.text, label.extras) for label in labels] == [
        (0.0, None, "start", {"n": 1}),
        (1.25, 3.5, "span", {"n": 2}),
    ]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ('{"annotations": []}', "jams"),
        ('\n  {"file_metadata": {}}', "jams"),
        ("0\t1\tx\n", "audacity"),
        ("", "audacity"),
    ],
)
def test_format_is_guessed_from_the_text(text: str, fmt: str) -> None:
    assert guess_format(text) == fmt


def test_problem_detail_joins_field_and_message() -> None:
    assert Problem("line 3", "end before start").detail == "line 3: end before start"
