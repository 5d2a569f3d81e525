"""What the API tests share: the operations of the service's OpenAPI document, walked so that a route added later
is covered without editing the tests, and a short track uploaded to aim requests at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from tests.fixtures.app import Account
from tests.fixtures.audio import sine, write_audio

DOCUMENT: dict[str, Any] = create_app().openapi()
_METHODS = ("get", "post", "put", "patch", "delete")


def operations(document: dict[str, Any] = DOCUMENT) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of ``document`` as ``(METHOD, path, operation)``, in the document's order."""
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def upload_tone(
    client: TestClient, account: Account, folder: Path, *, seconds: float = 1.0, sample_rate: int = 44100
) -> str:
    """The id of a track of a 440 Hz tone that ``account`` uploaded."""
    audio = write_audio(folder / "tone.wav", sine(freq_hz=440.0, seconds=seconds), sample_rate, "wav")
    with audio.open("rb") as fh:
        response = client.post("/v1/tracks", headers=account.headers, files={"file": ("tone.wav", fh)})
    assert response.status_code == 202, response.text
    track_id: str = response.json()["id"]
    return track_id
