"""Prompts instantiated for a track over HTTP, from its latest succeeded analysis, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from service.annotation.models import TrackRegion
from service.db import session_scope
from service.listening_prompt import engine
from service.listening_prompt.models import ListeningPromptTemplate
from tests.fixtures.analysed import AnalysedTrack
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio

PRESETS = "/v1/listening-prompts/presets"


def prompts(client: TestClient, track: AnalysedTrack, account: Account | None = None, **params: str) -> dict[str, Any]:
    response = client.get(
        f"/v1/tracks/{track.track_id}/prompts", headers=(account or track.owner).headers, params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def preset(client: TestClient, account: Account, **configuration: Any) -> dict[str, Any]:
    body = {"name": "p", "configuration": configuration}
    response = client.post(PRESETS, headers=account.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def add_region(
    session_factory: Callable[[], Session], track: AnalysedTrack, name: str, start: float, end: float, order: int
) -> str:
    with session_scope(session_factory) as s:
        region = TrackRegion(
            track_id=uuid.UUID(track.track_id),
            user_id=track.owner.user.id,
            name=name,
            start_time_seconds=start,
            end_time_seconds=end,
            sort_order=order,
        )
        s.add(region)
        s.flush()
        return str(region.id)


def test_every_template_renders_for_an_analysed_song(client: TestClient, analysed_song: AnalysedTrack) -> None:
    # given
    headers = analysed_song.owner.headers
    analysis = client.get(f"/v1/tracks/{analysed_song.track_id}/analysis", headers=headers).json()
    summary = analysis["results"]
    sections = summary["sections"]
    templates = client.get("/v1/listening-prompts/templates", headers=headers).json()["data"]
    # when
    body = prompts(client, analysed_song)
    # then: all 24 render, in template order, with no placeholder left
    assert body["track_id"] == analysed_song.track_id
    assert body["analysis_id"] == analysis["id"]
    assert body["preset_id"] is None
    assert body["skipped"] == []
    assert body["count"] == 24
    assert [(p["template_id"], p["template_key"]) for p in body["data"]] == [(t["id"], t["key"]) for t in templates]
    for prompt in body["data"]:
        assert "{" not in prompt["text"], prompt["text"]
        assert "}" not in prompt["text"], prompt["text"]
        assert list(prompt["values"]) == next(
            t["placeholders"] for t in templates if t["key"] == prompt["template_key"]
        )
        for value in prompt["values"].values():
            assert value["text"] in prompt["text"]
        assert 0.0 <= prompt["loop"]["start"] < prompt["loop"]["end"] <= summary["duration_s"] + 1e-3
    # and the numbers are the analysis's
    by_key = {p["template_key"]: p for p in body["data"]}
    loudest = max(sections, key=lambda s: s["loudness_lufs"])
    breakdown = next(s for s in sections if s["role"] == "breakdown")
    drop = next(s for s in sections if s["role"] == "drop")
    assert [s["role"] for s in sections] == ["intro", "drop", "breakdown", "drop", "outro"]
    peak = by_key["dynamics_true_peak"]
    assert peak["text"] == (
        f"True peak reaches {summary['true_peak_dbtp']:+.1f} dBTP. Listen closely at "
        f"{engine.format_time(loudest['start_s'])} for crunch or distortion on the loudest hits."
    )
    assert peak["at_seconds"] == round(loudest["start_s"], 3)
    assert peak["loop"] == {
        "start": round(loudest["start_s"], 3),
        "end": round(loudest["start_s"] + loudest["duration_s"], 3),
    }
    assert peak["placement"] == f"loudest section {loudest['label']} (drop)"
    assert peak["values"]["true_peak_dbtp"] == {
        "value": round(summary["true_peak_dbtp"], 2),
        "text": f"{summary['true_peak_dbtp']:+.1f}",
        "unit": "dBTP",
    }
    dynamics_range = by_key["dynamics_range"]["values"]
    assert dynamics_range["lufs"]["text"] == f"{summary['lufs_integrated']:+.1f}"
    assert dynamics_range["lra_lu"]["text"] == f"{summary['loudness_range_lu']:.1f}"
    assert by_key["groove_tempo"]["values"]["bpm"]["value"] == round(summary["bpm"], 2)
    assert by_key["low_end_sub_weight"]["values"]["key"]["text"] == summary["key"]
    assert by_key["dynamics_drop_impact"]["at_seconds"] == round(drop["start_s"], 3)
    assert by_key["arrangement_breakdown"]["values"]["breakdown_drop_lu"]["text"] == (
        f"{loudest['loudness_lufs'] - breakdown['loudness_lufs']:.1f}"
    )
    assert by_key["arrangement_sections"]["values"]["n_sections"] == {"value": 5, "text": "5", "unit": None}
    assert by_key["reference_compare"]["text"].startswith(
        f"Loop section {loudest['label']} (drop) from {engine.format_time(loudest['start_s'])} to "
    )


def test_prompts_are_deterministic(client: TestClient, analysed_song: AnalysedTrack) -> None:
    # when
    first = prompts(client, analysed_song)
    second = prompts(client, analysed_song)
    # then
    assert first == second


def test_a_steady_loop_skips_what_it_has_no_data_for(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    body = prompts(client, analysed_track)
    # then
    skipped = {s["template_key"]: s["reason"] for s in body["skipped"]}
    assert skipped["arrangement_sections"] == "the analysis found a single section"
    assert skipped["arrangement_intro"] == "the analysis found a single section: there is no section change"
    assert body["count"] + len(skipped) == 24
    assert {p["template_key"] for p in body["data"]}.isdisjoint(skipped)
    for prompt in body["data"]:
        assert "{" not in prompt["text"]


def test_a_preset_chooses_templates_in_its_order_up_to_its_cap(
    client: TestClient, analysed_track: AnalysedTrack
) -> None:
    # given
    alice = analysed_track.owner
    chosen = preset(
        client, alice, templates=["groove_tempo", "dynamics_true_peak", "tonal_low_mid", "stereo_width"], max_prompts=3
    )
    # when
    body = prompts(client, analysed_track, preset=chosen["id"])
    # then
    assert body["preset_id"] == chosen["id"]
    assert [p["template_key"] for p in body["data"]] == ["groove_tempo", "dynamics_true_peak", "tonal_low_mid"]
    assert body["count"] == 3


def test_categories_of_the_preset_and_of_the_query_combine(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # given
    alice = analysed_track.owner
    chosen = preset(client, alice, categories=["dynamics", "groove"])
    # when
    both = prompts(client, analysed_track, preset=chosen["id"])
    groove = prompts(client, analysed_track, preset=chosen["id"], category="groove")
    stereo = prompts(client, analysed_track, preset=chosen["id"], category="stereo")
    # then
    assert {p["category"] for p in both["data"]} == {"dynamics", "groove"}
    assert [p["template_key"] for p in groove["data"]] == ["groove_tempo", "groove_stability"]
    assert [s["template_key"] for s in groove["skipped"]] == ["groove_downbeat"]
    assert stereo["data"] == []
    assert stereo["skipped"] == []


def test_unknown_category_is_refused(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # when
    response = client.get(
        f"/v1/tracks/{analysed_track.track_id}/prompts",
        headers=analysed_track.owner.headers,
        params={"category": "polka"},
    )
    # then
    assert response.status_code == 422
    assert response.json()["field"] == "category"


def test_the_default_preset_applies_unless_another_is_chosen(client: TestClient, analysed_track: AnalysedTrack) -> None:
    # given
    alice = analysed_track.owner
    response = client.post(
        PRESETS,
        headers=alice.headers,
        json={"name": "default", "is_default": True, "configuration": {"templates": ["dynamics_true_peak"]}},
    )
    default = response.json()
    other = preset(client, alice, templates=["groove_tempo"])
    # when
    implicit = prompts(client, analysed_track)
    explicit = prompts(client, analysed_track, preset=other["id"])
    # then
    assert implicit["preset_id"] == default["id"]
    assert [p["template_key"] for p in implicit["data"]] == ["dynamics_true_peak"]
    assert explicit["preset_id"] == other["id"]
    assert [p["template_key"] for p in explicit["data"]] == ["groove_tempo"]


def test_a_template_retired_after_the_preset_was_saved_is_skipped(
    client: TestClient, analysed_track: AnalysedTrack, session_factory: Callable[[], Session]
) -> None:
    # given
    chosen = preset(client, analysed_track.owner, templates=["groove_tempo", "dynamics_true_peak"])
    with session_scope(session_factory) as s:
        s.execute(
            update(ListeningPromptTemplate).where(ListeningPromptTemplate.key == "groove_tempo").values(is_active=False)
        )
    # when
    body = prompts(client, analysed_track, preset=chosen["id"])
    # then
    assert [p["template_key"] for p in body["data"]] == ["dynamics_true_peak"]
    assert body["skipped"] == [
        {"template_key": "groove_tempo", "category": "", "reason": "the template is no longer available"}
    ]


def test_region_prompts_use_the_presets_region_else_the_first_region(
    client: TestClient, analysed_track: AnalysedTrack, session_factory: Callable[[], Session]
) -> None:
    # given
    add_region(session_factory, analysed_track, "Groove", 4.0, 12.0, order=0)
    later = add_region(session_factory, analysed_track, "Fill", 14.5, 18.25, order=1)
    chosen = preset(client, analysed_track.owner, templates=["reference_compare"], region_id=later)
    # when
    first = prompts(client, analysed_track, category="reference")
    preset_region = prompts(client, analysed_track, preset=chosen["id"])
    # then
    assert first["data"][0]["text"].startswith("Loop the region \u201cGroove\u201d from 0:04 to 0:12 ")
    assert first["data"][0]["loop"] == {"start": 4.0, "end": 12.0}
    assert preset_region["data"][0]["text"].startswith("Loop the region \u201cFill\u201d from 0:14 to 0:18 ")
    assert preset_region["data"][0]["at_seconds"] == 14.5
    assert preset_region["data"][0]["values"]["region_name"]["value"] == "Fill"


def test_a_track_without_a_finished_analysis_has_no_prompts(client: TestClient, alice: Account, tmp_path: Path) -> None:
    # given: uploaded, analysis still queued
    path = write_audio(tmp_path / "queued.wav", click_track(bpm=100, seconds=3, sr=22050, seed=4), 22050, "wav")
    with path.open("rb") as fh:
        track = client.post("/v1/tracks", headers=alice.headers, files={"file": ("queued.wav", fh)}).json()
    # when
    response = client.get(f"/v1/tracks/{track['id']}/prompts", headers=alice.headers)
    # then
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "detail": "track has no finished analysis yet: prompts need a succeeded analysis",
    }


def test_another_users_track_and_presets_do_not_exist(
    client: TestClient, analysed_track: AnalysedTrack, bob: Account, tmp_path: Path
) -> None:
    # given
    alice = analysed_track.owner
    alices_preset = preset(client, alice, templates=["groove_tempo"])
    path = write_audio(tmp_path / "bob.wav", click_track(bpm=90, seconds=3, sr=22050, seed=5), 22050, "wav")
    with path.open("rb") as fh:
        bobs_track = client.post("/v1/tracks", headers=bob.headers, files={"file": ("bob.wav", fh)}).json()
    # when
    on_alices_track = client.get(f"/v1/tracks/{analysed_track.track_id}/prompts", headers=bob.headers)
    with_alices_preset = client.get(
        f"/v1/tracks/{bobs_track['id']}/prompts", headers=bob.headers, params={"preset": alices_preset["id"]}
    )
    unknown_track = client.get(f"/v1/tracks/{uuid.uuid4()}/prompts", headers=alice.headers)
    # then
    assert (on_alices_track.status_code, on_alices_track.json()["detail"]) == (404, "track not found")
    assert (with_alices_preset.status_code, with_alices_preset.json()["detail"]) == (404, "preset not found")
    assert (unknown_track.status_code, unknown_track.json()["detail"]) == (404, "track not found")


def test_prompts_need_a_token(client: TestClient, analysed_track: AnalysedTrack) -> None:
    assert client.get(f"/v1/tracks/{analysed_track.track_id}/prompts").status_code == 401
