"""The command line: ``reftrack analyze`` and ``reftrack users create`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.audio import click_track, write_audio

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFTRACK_")}
    env["REFTRACK_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "reftrack_cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_analyze_prints_one_json_line_per_file_and_an_error_line_for_bad_ones(tmp_path: Path) -> None:
    # given
    good = write_audio(tmp_path / "good.flac", click_track(bpm=120, seconds=10, sr=44100), 44100, "flac")
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"this is not audio at all" * 100)
    missing = tmp_path / "missing.wav"
    # when
    result = run_cli("analyze", str(good), str(bad), str(missing), data_dir=tmp_path / "data")
    # then
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(good), str(bad), str(missing)]
    first = lines[0]
    assert first["duration_s"] == pytest.approx(10.0, abs=0.01)
    assert first["sample_rate"] == 44100
    assert first["channels"] == 2
    assert first["bpm"] == pytest.approx(120, rel=0.02)
    assert first["key"] == "A minor"
    assert len(first["beats"]) == pytest.approx(20, abs=2)
    assert set(lines[1]) == {"path", "error"}
    assert "not a recognised audio file" in lines[1]["error"]
    assert set(lines[2]) == {"path", "error"}
    assert "Traceback" not in result.stderr


def test_users_create_prints_the_token_alone_on_the_last_line(tmp_path: Path) -> None:
    # when
    first = run_cli("users", "create", "producer@example.com", data_dir=tmp_path)
    again = run_cli("users", "create", "producer@example.com", data_dir=tmp_path)
    # then
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip().splitlines()[-1]
    assert token.startswith("rt_")
    assert len(token) == 46
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_users_list_disable_and_enable(tmp_path: Path) -> None:
    # given
    assert run_cli("users", "create", "root@example.com", "--admin", data_dir=tmp_path).returncode == 0
    assert run_cli("users", "create", "producer@example.com", "--name", "Pat", data_dir=tmp_path).returncode == 0
    # when
    disabled = run_cli("users", "disable", "Producer@Example.com", data_dir=tmp_path)
    listed = run_cli("users", "list", "--format", "json", data_dir=tmp_path)
    enabled = run_cli("users", "enable", "producer@example.com", data_dir=tmp_path)
    table = run_cli("users", "list", data_dir=tmp_path)
    unknown = run_cli("users", "disable", "nobody@example.com", data_dir=tmp_path)
    # then
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout == "disabled user producer@example.com\n"
    assert listed.returncode == 0, listed.stderr
    users = json.loads(listed.stdout)
    assert [(u["email"], u["name"], u["role"], u["is_active"]) for u in users] == [
        ("root@example.com", None, "admin", True),
        ("producer@example.com", "Pat", "user", False),
    ]
    assert set(users[0]) == {"id", "email", "name", "role", "is_active", "created_at", "last_activity_at"}
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout == "enabled user producer@example.com\n"
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["EMAIL", "NAME", "ROLE", "ACTIVE", "CREATED", "LAST", "ACTIVE"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["root@example.com", "-", "admin", "yes"],
        ["producer@example.com", "Pat", "user", "yes"],
    ]
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1] == "error: no user with email 'nobody@example.com'"
