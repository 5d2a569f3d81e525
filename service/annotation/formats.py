"""Label files: Audacity label tracks and JAMS, read into format-neutral labels and written from them.

Audacity writes one label per line, ``start<TAB>end<TAB>text`` in seconds; a point label has ``start == end``.
A label with a spectral selection is followed by a line starting with a backslash that holds the frequency
band; it is skipped on reading. Lines are numbered from 1 as an editor shows them, and problems name them
(``line 3``).

JAMS (https://jams.readthedocs.io) is JSON: ``file_metadata.duration`` and a list of ``annotations``, each with
a ``namespace`` and ``data`` observations ``{time, duration, value, confidence}``. Only the JSON subset used
here is read and written: observations as a list of objects, string values. A point is an observation of
duration 0. Fields a namespace cannot carry (a region's type, an annotation's colour) travel in the
annotation's ``sandbox`` under ``reftrack``: a list with one object per observation, in the same order.
Problems name the JSON path of the value (``annotations[0].data[3].duration``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SANDBOX_KEY = "reftrack"
JAMS_VERSION = "0.3.4"

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_TAGGED = re.compile(r"\[(\w+)\] ?(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong at one place of a file or request: ``field`` names the place, ``message`` says what."""

    field: str
    message: str

    @property
    def detail(self) -> str:
        return f"{self.field}: {self.message}"


class FormatError(Exception):
    """A file that cannot be read as the format it claims to be."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems[0].detail if problems else "unreadable file")
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Label:
    """One label read from a file.

    ``where`` locates the label (``line 3``, ``annotations[0].data[2]``); ``paths`` locates single values
    (``start``, ``end``, ``text`` and the keys of ``extras``) when the format can, as JAMS does.
    """

    start_s: float
    end_s: float | None
    text: str
    where: str
    extras: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    """One label to write: ``end_s`` is ``None`` for a point."""

    start_s: float
    end_s: float | None
    text: str
    extras: dict[str, Any] = field(default_factory=dict)


def tag_text(kind: str, text: str | None, *, default: str) -> str:
    """Label text carrying a kind as a ``[kind]`` prefix, left out for the default kind."""
    text = text or ""
    if kind == default and not _TAGGED.fullmatch(text):
        return text
    return f"[{kind}] {text}".rstrip(" ")


def untag_text(text: str, *, kinds: Sequence[str], default: str) -> tuple[str, str]:
    """The kind and text of a label written by :func:`tag_text`; any other text is of the default kind."""
    match = _TAGGED.fullmatch(text)
    if match is not None and match.group(1) in kinds:
        return match.group(1), match.group(2)
    return default, text


def guess_format(text: str) -> Literal["audacity", "jams"]:
    """JAMS for a JSON object, else an Audacity label track."""
    return "jams" if text.lstrip().startswith("{") else "audacity"


def _number(token: str) -> float | None:
    token = token.strip()
    if not _NUMBER.fullmatch(token):
        return None
    # Audacity wrote the decimal separator of the user's locale in some versions.
    value = float(token.replace(",", "."))
    return value if math.isfinite(value) else None


def read_audacity(text: str) -> list[Label]:
    """Labels of an Audacity label track export, or :class:`FormatError` listing every unreadable line."""
    labels: list[Label] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip() or line.startswith("\\"):
            continue
        where = f"line {number}"
        parts = line.split("\t", 2)
        if len(parts) < 2:
            problems.append(Problem(where, "expected start, end and label separated by tabs"))
            continue
        start = _number(parts[0])
        if start is None:
            problems.append(Problem(where, f"start {parts[0].strip()[:40]!r} is not a number"))
            continue
        end = _number(parts[1])
        if end is None:
            if len(parts) == 3:
                problems.append(Problem(where, f"end {parts[1].strip()[:40]!r} is not a number"))
                continue
            # "start<TAB>label": the end is optional in Audacity's own reader; the label is a point.
            end, label = start, parts[1]
        else:
            label = parts[2] if len(parts) == 3 else ""
        labels.append(Label(start_s=start, end_s=None if end == start else end, text=label, where=where))
    if problems:
        raise FormatError(problems)
    return labels


def write_audacity(rows: Iterable[Row]) -> str:
    """An Audacity label track: six decimals, as Audacity writes them; points have ``start == end``."""
    lines = []
    for row in rows:
        end = row.start_s if row.end_s is None else row.end_s
        text = re.sub(r"[\t\r\n]", " ", row.text)
        lines.append(f"{row.start_s:.6f}\t{end:.6f}\t{text}\n")
    return "".join(lines)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _FileMetadata(_Open):
    duration: float | None = Field(default=None, ge=0, allow_inf_nan=False, strict=True)


class _Annotation(_Open):
    namespace: str = Field(strict=True)
    data: list[Any]
    sandbox: dict[str, Any] | None = None


class _Document(_Open):
    file_metadata: _FileMetadata | None = None
    annotations: list[_Annotation]


class _Observation(_Open):
    time: float = Field(ge=0, allow_inf_nan=False, strict=True)
    duration: float = Field(ge=0, allow_inf_nan=False, strict=True)
    value: Any = None
    confidence: Any = None


def json_path(loc: Iterable[int | str], *, base: str = "") -> str:
    """``("annotations", 0, "data")`` as ``annotations[0].data``, below ``base``."""
    path = base
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _validation_problems(exc: ValidationError, *, base: str = "") -> list[Problem]:
    return [
        Problem(json_path(e["loc"], base=base), "must be an object" if e["type"] == "model_type" else e["msg"])
        for e in exc.errors()
    ]


def _extras(annotation: _Annotation, *, base: str, count: int) -> tuple[list[dict[str, Any]] | None, list[Problem]]:
    extras = (annotation.sandbox or {}).get(SANDBOX_KEY)
    if extras is None:
        return None, []
    path = f"{base}.sandbox.{SANDBOX_KEY}"
    if not isinstance(extras, list) or len(extras) != count:
        return None, [Problem(path, f"must be a list of one object per observation ({count})")]
    problems = [Problem(f"{path}[{i}]", "must be an object") for i, e in enumerate(extras) if not isinstance(e, dict)]
    return (None if problems else extras), problems


def read_jams(text: str, *, namespace: str) -> list[Label]:
    """Labels of every ``namespace`` annotation of a JAMS file, or :class:`FormatError` with JSON paths."""
    try:
        raw = json.loads(text)
    except RecursionError as exc:
        raise FormatError([Problem("body", "JSON nested too deeply")]) from exc
    except ValueError as exc:
        raise FormatError([Problem("body", f"not valid JSON: {exc}")]) from exc
    try:
        document = _Document.model_validate(raw)
    except ValidationError as exc:
        raise FormatError(_validation_problems(exc)) from exc

    labels: list[Label] = []
    problems: list[Problem] = []
    chosen = [(i, a) for i, a in enumerate(document.annotations) if a.namespace == namespace]
    if not chosen:
        raise FormatError([Problem("annotations", f'no "{namespace}" annotation in the file')])
    for i, annotation in chosen:
        base = f"annotations[{i}]"
        extras, extra_problems = _extras(annotation, base=base, count=len(annotation.data))
        problems.extend(extra_problems)
        for j, item in enumerate(annotation.data):
            where = f"{base}.data[{j}]"
            try:
                observation = _Observation.model_validate(item)
            except ValidationError as exc:
                problems.extend(_validation_problems(exc, base=where))
                continue
            if not isinstance(observation.value, str):
                problems.append(Problem(f"{where}.value", "must be a string"))
                continue
            paths = {"start": f"{where}.time", "end": f"{where}.duration", "text": f"{where}.value"}
            extra = extras[j] if extras is not None else {}
            paths.update({key: f"{base}.sandbox.{SANDBOX_KEY}[{j}].{key}" for key in extra})
            end = None if observation.duration == 0 else observation.time + observation.duration
            labels.append(
                Label(
                    start_s=observation.time,
                    end_s=end,
                    text=observation.value,
                    where=where,
                    extras=dict(extra),
                    paths=paths,
                )
            )
    if problems:
        raise FormatError(problems)
    return labels


def write_jams(
    rows: Sequence[Row],
    *,
    namespace: str,
    duration_s: float,
    title: str = "",
    artist: str = "",
    release: str = "",
) -> str:
    """A JAMS file with one ``namespace`` annotation holding ``rows``, their extras in the sandbox."""
    annotation = {
        "namespace": namespace,
        "time": 0.0,
        "duration": duration_s,
        "data": [
            {
                "time": row.start_s,
                "duration": 0.0 if row.end_s is None else row.end_s - row.start_s,
                "value": row.text,
                "confidence": None,
            }
            for row in rows
        ],
        "annotation_metadata": {
            "curator": {"name": "", "email": ""},
            "annotator": {},
            "version": "",
            "corpus": "",
            "annotation_tools": "reftrack",
            "annotation_rules": "",
            "validation": "",
            "data_source": "reftrack",
        },
        "sandbox": {SANDBOX_KEY: [row.extras for row in rows]},
    }
    document = {
        "file_metadata": {
            "title": title,
            "artist": artist,
            "release": release,
            "duration": duration_s,
            "identifiers": {},
            "jams_version": JAMS_VERSION,
        },
        "annotations": [annotation],
        "sandbox": {},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
