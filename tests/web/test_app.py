"""The web app in a real browser against a real ``reftrack serve``: sign in through the printed URL, upload by
drag and drop, watch the analysis finish, draw, play, seek, annotate, loop, follow prompts; CSRF and isolation."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.support import cli, wait_until
from tests.web.conftest import DESKTOP, PHONE, Served

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ANALYSIS_TIMEOUT_S = 120.0
WAVE_BLUE = (79, 195, 247)


@dataclass
class Track:
    id: str
    duration: float
    beats: list[float]
    bars: list[float]


@dataclass
class Watched:
    """A page and what went wrong in it: script errors and blocked resources (content security policy)."""

    page: Page
    problems: list[str]


def open_page(context: BrowserContext, path: str = "/", *, base_url: str) -> Watched:
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and ("Content Security Policy" in msg.text or "Refused" in msg.text)
            else None
        ),
    )
    page.goto(base_url + path)
    return Watched(page, problems)


def analysed(served: Served, path: Path, title: str) -> Track:
    """Upload ``path`` through the API and wait for its analysis."""
    with served.client() as api:
        with path.open("rb") as f:
            created = api.post("/v1/tracks", files={"file": (path.name, f, "audio/wav")}, data={"title": title})
        assert created.status_code in (200, 201, 202), created.text
        track_id = created.json()["id"]

        def done() -> dict[str, Any] | None:
            body: dict[str, Any] = api.get(f"/v1/tracks/{track_id}").json()
            return body if body["analysis"]["status"] == "succeeded" else None

        track = wait_until(done, timeout=ANALYSIS_TIMEOUT_S, what=f"{title} to be analysed", context=served.serve.tail)
        events = api.get(f"/v1/tracks/{track_id}/events", params={"type": "beat,downbeat"}).json()["data"]
    return Track(
        id=track_id,
        duration=track["duration_seconds"],
        beats=sorted(e["time_seconds"] for e in events if e["type"] == "beat"),
        bars=sorted(e["time_seconds"] for e in events if e["type"] == "downbeat"),
    )


@pytest.fixture(scope="module")
def track(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Track:
    from tests.e2e.stacks import write_click_wav

    path = write_click_wav(tmp_path_factory.mktemp("track") / "reference.wav", seconds=24.0, seed=7)
    return analysed(served, path, "Reference groove")


@pytest.fixture
def track_page(local_context: BrowserContext, served: Served, track: Track) -> Iterator[Watched]:
    watched = open_page(local_context, f"/#/tracks/{track.id}", base_url=served.base_url)
    watched.page.wait_for_selector("body[data-waveform=drawn]", timeout=30_000)
    try:
        yield watched
    finally:
        watched.page.close()


def canvas_x(page: Page, selector: str, fraction: float) -> tuple[float, float]:
    """The viewport point ``fraction`` of the way along the canvas, scrolled into view first."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    assert box is not None
    return box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2


def player(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        "() => { const a = document.getElementById('player'); return {t: a.currentTime, paused: a.paused}; }"
    )
    return state


def view_span(track: Track) -> float:
    # The detail view opens on the first 30 s (or the whole of a shorter track).
    return min(track.duration, 30.0)


def test_sign_in_through_the_printed_url_sets_a_protected_session(
    local_context: BrowserContext, served: Served
) -> None:
    # given the browser that opened the URL serve printed
    watched = open_page(local_context, base_url=served.base_url)
    page = watched.page

    # then it is signed in as the local user, with an HttpOnly, SameSite session cookie and a readable CSRF cookie
    page.wait_for_selector("#track-rows")
    assert page.locator("#account-email").inner_text() == "local@reftrack.localhost"
    cookies = {c["name"]: c for c in local_context.cookies()}
    assert cookies["reftrack_session"]["httpOnly"] is True
    assert cookies["reftrack_session"]["sameSite"] == "Lax"
    assert cookies["reftrack_csrf"]["httpOnly"] is False
    # and the ticket is spent: opening it again signs nobody in
    again = local_context.browser.new_context() if local_context.browser else None
    assert again is not None
    reused = again.new_page().goto(served.login_url)
    assert reused is not None
    assert reused.status == 401
    assert {c["name"] for c in again.cookies()} == set()
    again.close()
    assert watched.problems == []
    page.close()


def test_upload_by_drag_and_drop_shows_progress_errors_and_live_status(
    local_context: BrowserContext, served: Served, audio_files: dict[str, Path]
) -> None:
    # given the library
    watched = open_page(local_context, base_url=served.base_url)
    page = watched.page
    page.wait_for_selector("#track-rows")

    # when two audio files and a text file are dropped on it
    payload = [[name, base64.b64encode(path.read_bytes()).decode()] for name, path in audio_files.items()]
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], name, { type: name.endsWith('.wav') ? 'audio/wav' : 'text/plain' }));
            }
            return dt;
        }""",
        payload,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})

    # then each file has its own progress bar, the audio is uploaded and the text file shows the API's refusal
    page.wait_for_selector("li.upload[data-name='notes.txt'].failed")
    page.wait_for_selector("li.upload[data-name='groove-one.wav'].done")
    page.wait_for_selector("li.upload[data-name='groove-two.wav'].done")
    assert page.locator("li.upload[data-name='groove-one.wav'] progress").get_attribute("value") == "1"
    refusal = page.locator("li.upload[data-name='notes.txt'] .upload-status").inner_text()
    assert refusal.startswith("415 notes.txt: not a recognised audio file")
    # and the rows turn to analysed without a reload
    for title in ("groove-one", "groove-two"):
        row = page.locator("#track-rows tr", has_text=title)
        row.locator(".status-succeeded").wait_for(timeout=ANALYSIS_TIMEOUT_S * 1000)
        assert row.locator(".bpm").inner_text().startswith("120.")
        assert row.locator(".key").inner_text() == "A minor · 8A"
    with served.client() as api:
        titles = sorted(t["title"] for t in api.get("/v1/tracks", params={"q": "groove"}).json()["data"])
    assert titles == ["groove-one", "groove-two"]
    assert watched.problems == []
    page.close()


def test_library_filters_by_bpm_key_and_text(local_context: BrowserContext, served: Served, track: Track) -> None:
    # given the library with the reference track (120 BPM, A minor)
    watched = open_page(local_context, base_url=served.base_url)
    page = watched.page
    page.wait_for_selector("#track-rows tr[data-track-id]")

    # when the text filter names it
    page.fill("#filter-q", "Reference")
    # then only it is listed
    page.wait_for_function("() => document.querySelectorAll('#track-rows tr[data-track-id]').length === 1")
    assert page.locator("#track-rows tr[data-track-id]").get_attribute("data-track-id") == track.id

    # when a BPM range excludes it
    page.fill("#filter-bpm-min", "130")
    # then nothing matches
    page.wait_for_selector("#track-rows td.empty")

    # when the range includes it and the key is a compatible neighbour (9A, E minor)
    page.fill("#filter-bpm-min", "115")
    page.select_option("#filter-key", "E minor")
    page.wait_for_selector("#track-rows td.empty")
    page.check("#filter-compatible")
    # then it is listed again
    page.wait_for_selector(f"#track-rows tr[data-track-id='{track.id}']")
    assert watched.problems == []
    page.close()


def test_track_page_draws_the_waveform_plays_and_seeks(track_page: Watched, track: Track) -> None:
    page = track_page.page

    # then the detail canvas is drawn from the stored waveform: many pixels in the waveform's colour
    drawn = page.evaluate(
        """([r, g, b]) => {
            const c = document.getElementById('detail');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) n++;
            return n / (c.width * c.height);
        }""",
        list(WAVE_BLUE),
    )
    assert drawn > 0.05
    # and the first paint needed one waveform request: the whole of this short track fits the view
    first = page.evaluate("() => window.reftrackFirstPaint")
    assert first["requests"] == 1

    # when the view is zoomed in to half of the track
    with page.expect_response(lambda r: "/waveform?" in r.url) as answer:
        page.click("#zoom-in")
    # then the detail window is fetched sized to the canvas: enough points for every pixel, not many more
    request = answer.value.request
    params = dict(p.split("=") for p in request.url.split("?", 1)[1].split("&"))
    body = answer.value.json()
    seconds = float(params.get("end", track.duration)) - float(params.get("start", 0.0))
    assert body["length"] >= int(params["pixels"])
    assert body["samples_per_pixel"] <= seconds * body["sample_rate"] / int(params["pixels"])
    assert body["length"] < 2 * int(params["pixels"])

    # when play is pressed
    page.click("#play")
    # then the audio plays from the cookie session and the playhead moves
    page.wait_for_function(
        "() => { const a = document.getElementById('player'); return !a.paused && a.currentTime > 0.3; }"
    )
    assert page.locator("#play").get_attribute("aria-label") == "Pause (space)"

    # when the overview is clicked three quarters of the way along
    x, y = canvas_x(page, "#overview", 0.75)
    page.mouse.click(x, y)
    # then playback continues from there
    state = player(page)
    assert abs(state["t"] - 0.75 * track.duration) < 1.0
    page.click("#play")
    assert player(page)["paused"] is True
    assert track_page.problems == []


def test_annotations_created_edited_and_deleted_by_mouse(track_page: Watched, track: Track, served: Served) -> None:
    page = track_page.page
    page.select_option("#tool", "annotate")
    page.select_option("#snap", "")
    span = view_span(track)

    # when the detail waveform is clicked at a quarter of its width
    x, y = canvas_x(page, "#detail", 0.25)
    page.mouse.click(x, y)
    page.wait_for_selector("#edit-title")
    # then a point annotation is stored there
    with served.client() as api:
        stored = api.get(f"/v1/tracks/{track.id}/annotations").json()["data"]
    assert len(stored) == 1
    assert stored[0]["end_time_seconds"] is None
    assert abs(stored[0]["start_time_seconds"] - 0.25 * span) < span / 200

    # when it is edited: title, type, tags, colour
    page.fill("#edit-title", "Kick too loud")
    page.select_option("#edit-type", "issue")
    page.fill("#edit-tags", "kick, low end")
    page.fill("#edit-colour", "#ff0000")
    page.click(".edit-form button[type=submit]")
    page.locator("#annotations .item", has_text="Kick too loud").first.wait_for()
    with served.client() as api:
        (edited,) = api.get(f"/v1/tracks/{track.id}/annotations").json()["data"]
    assert (edited["title"], edited["annotation_type"], edited["tags"], edited["color"]) == (
        "Kick too loud",
        "issue",
        ["kick", "low end"],
        "#ff0000",
    )

    # when the editor is closed and the marker clicked with the seek tool, it is selected again
    page.click(".edit-form button:has-text('Close')")
    page.select_option("#tool", "seek")
    x, y = canvas_x(page, "#detail", 0.25)
    page.mouse.click(x, y)
    assert page.locator("#edit-title").input_value() == "Kick too loud"
    page.select_option("#tool", "annotate")

    # when a span is dragged from 10 % to 20 %
    x1, y1 = canvas_x(page, "#detail", 0.10)
    x2, _ = canvas_x(page, "#detail", 0.20)
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, y1, steps=4)
    page.mouse.move(x2, y1, steps=4)
    page.mouse.up()
    page.wait_for_function("() => document.querySelectorAll('#annotations .item').length === 2")
    with served.client() as api:
        spans = [a for a in api.get(f"/v1/tracks/{track.id}/annotations").json()["data"] if a["end_time_seconds"]]
    assert len(spans) == 1
    assert abs(spans[0]["start_time_seconds"] - 0.10 * span) < span / 200
    assert abs(spans[0]["end_time_seconds"] - 0.20 * span) < span / 200

    # when both are deleted from the editor
    for _ in range(2):
        page.locator("#annotations .item-main").first.click()
        page.click(".edit-form button.danger")
        page.wait_for_selector(".edit-form", state="detached")
    # then none is left
    with served.client() as api:
        assert api.get(f"/v1/tracks/{track.id}/annotations").json()["data"] == []
    assert track_page.problems == []


def test_loops_dragged_snapped_favourited_reordered_and_deleted(
    track_page: Watched, track: Track, served: Served
) -> None:
    page = track_page.page
    page.select_option("#tool", "loop")
    page.select_option("#snap", "bar")

    # when a loop is dragged across the detail waveform with bar snapping
    x1, y = canvas_x(page, "#detail", 0.30)
    x2, _ = canvas_x(page, "#detail", 0.62)
    page.mouse.move(x1, y)
    page.mouse.down()
    page.mouse.move(x2, y, steps=6)
    page.mouse.up()
    page.locator("#regions .item", has_text="Loop 1").first.wait_for()

    # then it is stored with both ends on bar lines, and it is the active loop
    with served.client() as api:
        (loop,) = api.get(f"/v1/tracks/{track.id}/regions").json()["data"]
    assert min(abs(loop["start_time_seconds"] - b) for b in track.bars) < 0.002
    assert min(abs(loop["end_time_seconds"] - b) for b in track.bars) < 0.002
    assert page.locator("#loop-toggle").get_attribute("aria-pressed") == "true"

    # when it plays looped, playback stays inside it
    page.click("button[aria-label='Play Loop 1 looped']")
    page.wait_for_function("() => !document.getElementById('player').paused")
    page.wait_for_timeout(300)
    t = player(page)["t"]
    assert loop["start_time_seconds"] - 0.05 <= t <= loop["end_time_seconds"] + 0.25

    # when it is made a favourite, regions are made from sections and it is moved down
    page.click("button[aria-label='Favourite Loop 1']")
    page.wait_for_selector("button[aria-label='Favourite Loop 1'][aria-pressed=true]")
    page.click("#from-sections")
    page.wait_for_function("() => document.querySelectorAll('#regions .item').length > 1")
    page.click("button[aria-label='Move Loop 1 down']")
    page.wait_for_function("() => document.querySelectorAll('#regions .item')[1].textContent.includes('Loop 1')")
    with served.client() as api:
        regions = api.get(f"/v1/tracks/{track.id}/regions").json()["data"]
    assert [r["is_favorite"] for r in regions if r["name"] == "Loop 1"] == [True]
    assert regions[1]["name"] == "Loop 1"
    assert {r["region_type"] for r in regions[:1] + regions[2:]} == {"section"}

    # when it is deleted
    page.locator("#regions .item-main", has_text="Loop 1").click()
    page.click(".edit-form button.danger")
    page.wait_for_selector(".edit-form", state="detached")
    with served.client() as api:
        names = [r["name"] for r in api.get(f"/v1/tracks/{track.id}/regions").json()["data"]]
    assert "Loop 1" not in names
    page.click("#play")
    assert track_page.problems == []


def test_a_prompt_click_moves_the_playhead_and_loops_its_passage(track_page: Watched, track: Track) -> None:
    page = track_page.page
    prompts = page.locator("#prompts .prompt")
    prompts.first.wait_for()
    # given a prompt that points somewhere past the start
    ats = [float(a) for a in prompts.evaluate_all("(nodes) => nodes.map((n) => n.dataset.at)")]
    index = next(i for i, at in enumerate(ats) if at > 1.0)

    # when it is clicked
    prompts.nth(index).click()

    # then the playhead jumps there, playback starts and the passage is looped
    page.wait_for_function("() => !document.getElementById('player').paused")
    state = player(page)
    assert ats[index] - 0.05 <= state["t"] < ats[index] + 1.0
    assert page.locator("#loop-toggle").get_attribute("aria-pressed") == "true"
    assert prompts.nth(index).get_attribute("class") == "prompt active"
    page.click("#play")
    assert track_page.problems == []


def test_keyboard_plays_marks_steps_by_beat_and_bar_and_zooms(
    track_page: Watched, track: Track, served: Served
) -> None:
    page = track_page.page
    page.locator("#track-title").click()

    # when arrows are pressed: right (next beat), then shift+right (next bar)
    page.keyboard.press("ArrowRight")
    after_beat = player(page)["t"]
    page.keyboard.press("Shift+ArrowRight")
    after_bar = player(page)["t"]
    # then the playhead lands on the grid
    assert abs(after_beat - next(b for b in track.beats if b > 0.01)) < 0.001
    assert abs(after_bar - next(b for b in track.bars if b > after_beat + 0.01)) < 0.001

    # when M is pressed, a marker is stored at the playhead
    page.keyboard.press("m")
    page.locator("#annotations .item", has_text="Marker").first.wait_for()
    with served.client() as api:
        markers = [a for a in api.get(f"/v1/tracks/{track.id}/annotations").json()["data"] if a["title"] == "Marker 1"]
    assert len(markers) == 1
    assert markers[0]["annotation_type"] == "marker"
    assert abs(markers[0]["start_time_seconds"] - after_bar) < 0.06
    page.click(".edit-form button.danger")

    # when + zooms in, then - zooms back out
    page.locator("#track-title").click()

    def view() -> float:
        t0, t1 = (float(v) for v in (page.get_attribute("#detail", "data-view") or "").split())
        return t1 - t0

    before = view()
    page.keyboard.press("+")
    # then the view halves around the playhead, and is restored
    assert view() == pytest.approx(before / 2, abs=0.002)
    page.keyboard.press("-")
    assert view() == pytest.approx(before, abs=0.002)
    # when L is pressed the current bar loops, and space plays
    page.keyboard.press("l")
    assert page.locator("#loop-toggle").get_attribute("aria-pressed") == "true"
    page.keyboard.press(" ")
    page.wait_for_function("() => !document.getElementById('player').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('player').paused")
    assert track_page.problems == []


def test_reference_collections_and_an_import_refused_with_the_setting_named(
    local_context: BrowserContext, served: Served, track: Track
) -> None:
    # given the track page
    watched = open_page(local_context, f"/#/tracks/{track.id}", base_url=served.base_url)
    page = watched.page
    page.wait_for_selector("body[data-waveform=drawn]")

    # when the track is added to the collection "Mix refs"
    page.fill("#ref-collection", "Mix refs")
    page.click("form:has(#ref-collection) button[type=submit]")
    page.wait_for_selector("text=Added to “Mix refs”.")
    # then the references page lists it there, as the API does
    page.goto(f"{served.base_url}/#/references")
    page.locator("#collections button", has_text="Mix refs").click()
    page.locator("#references li", has_text="Reference groove").wait_for()
    with served.client() as api:
        refs = api.get("/v1/references", params={"collection_name": "Mix refs"}).json()["data"]
    assert [r["track_id"] for r in refs] == [track.id]

    # when the library's import form names a folder while the service allows no import root
    page.goto(f"{served.base_url}/#/")
    page.click(".imports-card summary")
    page.fill("#import-source", str(served.data_dir))
    page.click(".import-form button[type=submit]")
    # then the API's refusal, which names the setting, is shown
    error = page.locator(".imports-card .form-error")
    error.wait_for()
    assert "REFTRACK_IMPORT_ROOTS" in error.inner_text()
    assert watched.problems == []
    page.close()


def test_a_state_change_without_the_csrf_token_is_refused(
    local_context: BrowserContext, served: Served, track: Track
) -> None:
    # given the signed-in app
    watched = open_page(local_context, base_url=served.base_url)
    page = watched.page
    page.wait_for_selector("#track-rows")

    # when the page posts with its session cookie but without the CSRF header, then with it
    script = """async ([id, withToken]) => {
        const headers = { 'Content-Type': 'application/json' };
        if (withToken) headers['X-CSRF-Token'] = document.cookie.match(/reftrack_csrf=([^;]+)/)[1];
        const r = await fetch(`/v1/tracks/${id}/annotations`, {
            method: 'POST', headers, body: JSON.stringify({ start_time_seconds: 1.0, title: 'csrf' }),
        });
        return [r.status, await r.json()];
    }"""
    refused = page.evaluate(script, [track.id, False])
    accepted = page.evaluate(script, [track.id, True])

    # then the first is refused and stores nothing; the second is stored
    assert refused[0] == 403
    assert refused[1]["error"] == "CsrfFailed"
    assert accepted[0] == 201
    with served.client() as api:
        titles = [a["title"] for a in api.get(f"/v1/tracks/{track.id}/annotations").json()["data"]]
        api.delete(f"/v1/tracks/{track.id}/annotations/{accepted[1]['id']}")
    assert titles.count("csrf") == 1
    page.close()


def test_another_user_sees_none_of_it_and_signs_out(browser: Browser, served: Served, track: Track) -> None:
    # given a second user, signed in with an API token through the sign-in form
    created = subprocess.run(
        cli("users", "create", "bob@example.com"), env=served.env, capture_output=True, text=True, check=True
    )
    bob_token = created.stdout.strip().splitlines()[-1]
    context = browser.new_context(viewport=DESKTOP)
    watched = open_page(context, base_url=served.base_url)
    page = watched.page
    page.fill("#token", "rt_not_a_token")
    page.click("form.sign-in button[type=submit]")
    page.wait_for_selector("#sign-in-error:has-text('not valid')")
    page.fill("#token", bob_token)
    page.click("form.sign-in button[type=submit]")
    page.wait_for_selector("#account-email:has-text('bob@example.com')")

    # then the library is empty and the local user's track, its audio and its page do not exist for him
    page.wait_for_selector("#track-rows td.empty")
    assert page.locator("#track-count").inner_text() == "0 tracks"
    assert context.request.get(f"{served.base_url}/v1/tracks/{track.id}/audio").status == 404
    page.goto(f"{served.base_url}/#/tracks/{track.id}")
    page.wait_for_selector("text=No such track.")

    # when he signs out
    page.click("#sign-out")
    page.wait_for_selector("#sign-in-title")
    # then the session is gone on the server too
    assert context.request.get(f"{served.base_url}/v1/users/me").status == 401
    assert watched.problems == []
    context.close()


def test_controls_have_accessible_names(track_page: Watched) -> None:
    # given the track page (the richest page)
    page = track_page.page
    # then every control a person can operate has a name
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, textarea, canvas[tabindex]')]
            .filter((n) => n.type !== 'hidden' && !n.classList.contains('visually-hidden'))
            .filter((n) => {
                if (n.getAttribute('aria-label')) return false;
                if (n.id && document.querySelector(`label[for="${n.id}"]`)) return false;
                if ((n.tagName === 'BUTTON') && n.textContent.trim()) return false;
                return true;
            })
            .map((n) => n.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []


def test_screenshots_of_the_library_and_the_track_page(
    browser: Browser, local_context: BrowserContext, served: Served, track: Track, screenshots: Path
) -> None:
    cookies = local_context.cookies()
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport)
        context.add_cookies(cookies)  # type: ignore[arg-type]
        watched = open_page(context, base_url=served.base_url)
        page = watched.page
        page.wait_for_selector("#track-rows tr[data-track-id]")
        page.screenshot(path=screenshots / f"library-{name}.png", full_page=True)
        library_width = page.evaluate("() => document.documentElement.scrollWidth")
        page.goto(f"{served.base_url}/#/tracks/{track.id}")
        page.wait_for_selector("body[data-waveform=drawn]")
        page.wait_for_selector("#loudness-chart")
        time.sleep(0.3)
        page.screenshot(path=screenshots / f"track-{name}.png", full_page=True)
        track_width = page.evaluate("() => document.documentElement.scrollWidth")
        # then nothing is wider than the screen
        assert (library_width, track_width) == (viewport["width"], viewport["width"])
        assert watched.problems == []
        context.close()
    assert sorted(p.name for p in screenshots.iterdir()) == [
        "library-desktop.png",
        "library-phone.png",
        "track-desktop.png",
        "track-phone.png",
    ]
