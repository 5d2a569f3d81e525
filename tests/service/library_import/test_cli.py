"""``reftrack import`` and ``reftrack reanalyze`` as a user runs them: a separate process on the embedded
default (SQLite and local storage under the data folder, the local user)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reftrack_cli.library_import import add_commands, cmd_import, cmd_reanalyze
from tests.service.library_import.conftest import Library

ROOT = Path(__file__).resolve().parents[3]
# The commands on a parser of their own, as ``reftrack`` adds them.
ENTRY = (
    "import argparse, sys\n"
    "from reftrack_cli.library_import import add_commands\n"
    "parser = argparse.ArgumentParser(prog='reftrack')\n"
    "add_commands(parser.add_subparsers(dest='command', required=True))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFTRACK_")}
    env["REFTRACK_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def parser() -> argparse.ArgumentParser:
    built = argparse.ArgumentParser(prog="reftrack")
    add_commands(built.add_subparsers(dest="command", required=True))
    return built


def test_arguments() -> None:
    # when
    importing = parser().parse_args(["import", "/music", "s3://bucket/refs", "--user", "a@b.c", "--wait"])
    reanalyze = parser().parse_args(["reanalyze", "--stale", "--format", "json"])
    # then
    assert importing.paths == ["/music", "s3://bucket/refs"]
    assert (importing.user, importing.wait, importing.format, importing.func) == ("a@b.c", True, "table", cmd_import)
    assert (reanalyze.mode, reanalyze.user, reanalyze.format, reanalyze.func) == ("stale", None, "json", cmd_reanalyze)


@pytest.mark.parametrize("argv", [["reanalyze"], ["reanalyze", "--stale", "--failed"], ["import"]])
def test_incomplete_commands_are_refused(argv: list[str]) -> None:
    # when
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(argv)
    # then
    assert exited.value.code == 2


def test_import_into_the_local_users_library_then_again(library: Library, tmp_path: Path) -> None:
    # when
    first = run_cli("import", str(library.root), "--format", "json", "--chunk-size", "3", data_dir=tmp_path / "data")
    again = run_cli("import", str(library.root), "--format", "json", "--chunk-size", "3", data_dir=tmp_path / "data")
    failed = run_cli("reanalyze", "--failed", "--format", "json", "--chunk-size", "3", data_dir=tmp_path / "data")
    # then
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["imported"], summary["duplicates"], summary["not_audio"], summary["failed"]) == (4, 1, 1, 1)
    assert [f["path"] for f in summary["failures"]] == [str(library.corrupt)]
    assert (tmp_path / "data" / "token").is_file()
    stored = sorted((tmp_path / "data" / "objects").rglob("original.*"))
    assert len(stored) == 4
    assert "Traceback" not in first.stderr
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["imported"] == 0
    assert failed.returncode == 0, failed.stderr
    assert json.loads(failed.stdout)["queued"] == 0


def test_table_summary(library: Library, tmp_path: Path) -> None:
    # when
    result = run_cli("import", str(library.root / "Nested"), "--chunk-size", "2", data_dir=tmp_path / "data")
    # then
    assert result.returncode == 0, result.stderr
    assert "reftrack import" in result.stdout
    assert "tracks per minute" in result.stdout
