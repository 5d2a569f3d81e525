"""Stored analysis output (frames and events) is read through the analysis_run service only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUTPUT_MODELS = {"AnalysisEvent", "FrameData", "FrameManifest"}
OWNER = ROOT / "service" / "analysis_run"
# The registry of every ORM model, which imports them all for the metadata.
REGISTRY = ROOT / "service" / "models.py"


def test_only_analysis_run_imports_the_models_of_analysis_output() -> None:
    # given
    modules = [
        path
        for package in ("service", "workers")
        for path in sorted((ROOT / package).rglob("*.py"))
        if OWNER not in path.parents and path != REGISTRY
    ]
    # when
    importers = {
        f"{path.relative_to(ROOT)}: {alias.name}"
        for path in modules
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module == "service.analysis_run.models"
        for alias in node.names
        if alias.name in OUTPUT_MODELS
    }
    # then
    assert {
        ROOT / "service" / "annotation" / "repository.py",
        ROOT / "service" / "listening_prompt" / "repository.py",
    } <= set(modules)
    assert importers == set()
