"""The pages in a real browser: headless Chromium (Debian's ``chromium``) driven by playwright, on a real uvicorn.

Open a page, give the token once, enrol a person from files, see the MJPEG frames change
and the person's name appear in the live list. Screenshots go to the test's tmp folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from serve_helpers import TOKEN, jpeg, running_server, write_video

CHROMIUM = Path(os.environ.get("DETECTKIT_CHROMIUM", "/usr/bin/chromium"))

pytestmark = pytest.mark.slow


def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript expression until it is true (page.wait_for_function would need 'unsafe-eval' in the CSP)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout:.0f} s: {expression}"
        page.wait_for_timeout(100)


@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the [dev] extra)")
    if not CHROMIUM.is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def test_enrol_in_the_browser_and_see_the_name_on_the_live_view(chromium, settings, recognizer, face_image, coffee, tmp_path):
    from detectkit.serve import LiveStream, StreamHub, create_app

    video = write_video(tmp_path / "door.mp4", face_image, frames=24, fps=12.0)
    photo, cup = tmp_path / "eileen.jpg", tmp_path / "cup.jpg"
    photo.write_bytes(jpeg(face_image))
    cup.write_bytes(jpeg(coffee))
    hub = StreamHub()
    hub.add(LiveStream("door", str(video), recognizer=recognizer, fps=12.0))
    with running_server(create_app(settings, recognizer=recognizer, hub=hub)) as base:
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # no token yet: the page asks for it, once
        page.goto(f"{base}/enrol")
        page.fill("#token", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector("#enrol-form")
        assert "token=" not in page.url  # taken out of the address bar, kept in sessionStorage
        assert page.evaluate("sessionStorage.getItem('detectkit-token')") == TOKEN
        # enrol from files: one used, one rejected with its reason
        page.fill("#enrol-name", "Eileen")
        page.set_input_files("#enrol-files", [str(photo), str(cup)])
        page.click("#enrol-button")
        page.wait_for_selector("#used li.used")
        assert page.inner_text("#used") == "eileen.jpg"
        assert "cup.jpg: no_face" in page.inner_text("#rejected")
        page.wait_for_selector('#people tr[data-name="Eileen"]')
        page.screenshot(path=str(tmp_path / "enrol.png"), full_page=True)
        # identify a photo on the same page
        page.set_input_files("#identify-file", str(photo))
        page.click("#identify-button")
        page.wait_for_selector("#identified li")
        assert page.inner_text("#identified li").startswith("Eileen")
        # the live page, reached by the nav link (the token comes from sessionStorage)
        page.click("nav a[href='/']")
        page.wait_for_selector("#view-door")
        wait_until(page, "document.getElementById('view-door').naturalWidth > 0")
        first = page.locator("#view-door").screenshot()
        wait_until(page, "/frame [0-9]+/.test(document.getElementById('stats-door').textContent)")
        frame_text = page.inner_text("#stats-door")
        wait_until(page, f"document.getElementById('stats-door').textContent !== {frame_text!r}")
        page.wait_for_timeout(500)
        second = page.locator("#view-door").screenshot()
        assert first != second  # the MJPEG frames change
        page.wait_for_selector('#faces-door li[data-name="Eileen"]', timeout=60_000)
        assert "running" in page.inner_text("#state-door")
        assert "FPS" in page.inner_text("#stats-door") and "latency" in page.inner_text("#stats-door")
        page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
        assert not errors, errors
        page.close()
    for name in ("enrol.png", "live.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    print(f"screenshots: {tmp_path / 'enrol.png'} {tmp_path / 'live.png'}")


def test_the_api_docs_render_in_a_browser_without_internet(chromium, settings, tmp_path):
    """/docs (Swagger UI) with its script and style served by detectkit: the browser here has no
    internet, and any request leaving 127.0.0.1 is aborted and counted."""
    from detectkit.serve import create_app
    from detectkit.serve.routes_pages import swagger_ui_folder

    if swagger_ui_folder() is None:
        pytest.skip("needs fastapi-offline (the [serve] extra) for Swagger UI's files")
    with running_server(create_app(settings)) as base:
        page = chromium.new_page()
        outside: list[str] = []

        def route(request_route):
            url = request_route.request.url
            if url.startswith(base):
                request_route.continue_()
            else:
                outside.append(url)
                request_route.abort()

        page.route("**/*", route)
        page.goto(f"{base}/docs?token={TOKEN}")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)  # the operations, from /openapi.json
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/detect" in paths and "/api/faces/identify" in paths, paths
        assert "detectkit serve" in page.inner_text(".title")
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
        assert outside == []
        page.close()
