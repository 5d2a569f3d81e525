"""A track with a normal song structure (intro, drop, breakdown, drop, outro), analysed, and an admin account."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from analysis import TrackAnalysis, analyze
from service.listening_prompt import engine
from service.storage import LocalStorage
from tests.fixtures.analysed import AnalysedTrack, analyse_upload
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio

ROOT = Path(__file__).resolve().parents[3]
SR = 44100
BPM = 140.0


def song(*, sr: int = SR, bpm: float = BPM) -> np.ndarray:
    """82 s of stereo music in F minor: a quiet mono pad intro, a rising build, a wide drop, a mono pad
    breakdown, the drop again and a fading outro, each eight bars long."""
    n = round(8 * 4 * 60.0 / bpm * sr)
    full = click_track(bpm=bpm, seconds=n / sr, sr=sr, key="F minor", seed=1).astype(np.float64)
    riser = click_track(bpm=bpm, seconds=n / sr, sr=sr, key="C major", seed=2).astype(np.float64)
    rng = np.random.default_rng(3)
    t = np.arange(n) / sr
    pad = np.zeros((2, n))
    for freq in (174.6, 207.7, 261.6):
        pad[0] += np.sin(2 * np.pi * freq * t + rng.uniform(0, 6))
        pad[1] += np.sin(2 * np.pi * freq * 1.003 * t + rng.uniform(0, 6))
    pad *= 0.08
    mono_pad = pad.mean(axis=0, keepdims=True).repeat(2, axis=0)
    air = np.diff(rng.standard_normal((2, n + 1)), axis=1) * 0.01
    drop = full + pad + air
    parts = [
        0.5 * mono_pad,
        riser * np.linspace(0.35, 0.9, n),
        drop,
        0.6 * mono_pad,
        drop,
        0.3 * full * np.linspace(1.0, 0.05, n),
    ]
    y = np.concatenate(parts, axis=1)
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeded_templates() -> list[engine.TemplateSpec]:
    """The templates the migrations leave in the database, in seed order."""
    versions = ROOT / "migrations" / "versions"
    seed = _module(versions / "2026-11-22-0840_seed_listening_prompts.py", "seed_listening_prompts")
    revised = _module(versions / "2026-11-22-1200_prompt_templates.py", "prompt_templates")
    specs = []
    for key, name, category, rule, text, _description in seed.TEMPLATES:
        if key in revised.CHANGES:
            rule, text = revised.CHANGES[key][0]
        specs.append(engine.TemplateSpec(key=key, category=category, name=name, prompt_text=text, placement_rule=rule))
    return specs


def analysis_input(result: TrackAnalysis, *, regions: tuple[engine.Region, ...] = ()) -> engine.AnalysisInput:
    """What the service reads back from the database for ``result`` (series stored as float16)."""
    summary = json.loads(json.dumps(result.summary()))
    sections = tuple(
        engine.Section(
            start_s=e.time_s,
            duration_s=e.duration_s or 0.0,
            label=e.label,
            role=str((e.payload or {})["role"]),
            loudness_lufs=(e.payload or {})["loudness_lufs"],
        )
        for e in result.events
        if e.event_type == "section"
    )
    downbeats = tuple(e.time_s for e in result.events if e.event_type == "downbeat")
    series = {
        f.name: engine.Series(hop_s=f.hop_s, values=f.values.astype(np.float16).astype(np.float32))
        for f in result.features
        if f.name in engine.SERIES
    }
    return engine.AnalysisInput(
        summary=summary, sections=sections, downbeats_s=downbeats, series=series, regions=regions
    )


@pytest.fixture(scope="session")
def song_analysis() -> TrackAnalysis:
    return analyze(song(), sr=SR)


@pytest.fixture(scope="session")
def song_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("song") / "song.wav", song(), SR, "wav")


@pytest.fixture
def analysed_song(
    client: TestClient,
    alice: Account,
    song_audio: Path,
    session_factory: Callable[[], Session],
    local_storage: LocalStorage,
    tmp_path: Path,
) -> AnalysedTrack:
    """Alice's song, uploaded and analysed by the worker flow."""
    return analyse_upload(
        client, alice, song_audio, session_factory=session_factory, storage=local_storage, tmp_dir=tmp_path / "work"
    )
