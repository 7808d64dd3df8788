"""The web page in a real browser: Debian's Chromium, driven headless by Playwright, against a real uvicorn
server on a free loopback port (scripted chat model, tiny index).

It enters the API token the page asks for, uploads two documents and reads the per-file report, asks a
question and watches the answer stream in, opens a citation (passage, source, page, score), checks that markup
inside a document is shown as text and never run, removes a source, and saves a screenshot under
``test-artifacts/``. A second test watches a ``verified`` draft being checked, replaced by quoted sentences with
a notice, and an unsupported sentence of a ``generate`` answer marked. A third checks that with 28 sources the question box stays in
the viewport at 1280×900 (the panels scroll on their own). Chromium must be at ``/usr/bin/chromium`` (``make test`` installs it where it can); when it
is missing this test fails and says how to install it. Playwright's own browser download is never used.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from rag_app.chain import QUOTED_LABEL
from rag_app.config import load_settings
from rag_app.pipeline import Pipeline
from rag_app.server import create_app
from tests.server_support import REPLY, ScriptedChat, make_pipeline

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TOKEN = "browser-test-token-0123456789"
PAYLOAD = "<img src=x onerror=pwned=1>"
DOCUMENTS = {
    "sensor.txt": f"Outdoor sensor: {PAYLOAD} two AA batteries.\n\nReplace the batteries every winter.\n",
    "kettle.txt": "The kettle boils water in three minutes.\n\nDescale the kettle every month with vinegar.\n",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


UNSUPPORTED = "It also needs a solar panel mounted on the garage roof."
MIXED = f"Replace the batteries every winter [1]. {UNSUPPORTED}"
"""A reply whose second sentence no passage supports."""


@pytest.fixture()
def served(tmp_path: Path, tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Pipeline]]:
    """The page's address and the pipeline behind it (answer mode ``generate``; a test may change it)."""
    monkeypatch.delenv("RAG_APP_API_TOKEN", raising=False)
    service = make_pipeline(tmp_path / "db", tiny_encoder_dir, ScriptedChat(delay=0.15))
    service.settings.generator.answer_mode = "generate"  # the model's words as it writes them (auto: verified)
    settings = load_settings(index={"db": tmp_path / "db"}, server={"api_token": TOKEN})
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", service
    server.should_exit = True
    thread.join(10)
    service.close()


@pytest.fixture()
def server_url(served: tuple[str, Pipeline]) -> str:
    return served[0]


def _chromium(playwright):  # noqa: ANN001, ANN202
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser test needs Debian's Chromium at {CHROMIUM}. Install it with "
            "`apt-get install -y --no-install-recommends chromium` (as root; `make test` does it when it can).",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def test_the_page_uploads_asks_streams_and_shows_a_citation(server_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCUMENTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = _chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server_url)

        # The server has a token: the page asks for it, then lists the (empty) index.
        expect(page.locator("#token-form")).to_be_visible()
        page.fill("#token-input", TOKEN)
        page.click("#token-form button")
        expect(page.locator("#token-form")).to_be_hidden()
        expect(page.locator("#source-list")).to_contain_text("Nothing indexed yet")

        # Upload: progress, then the per-file report and the sources list.
        page.set_input_files("#file-input", [str(docs / "sensor.txt"), str(docs / "kettle.txt")])
        page.click("#upload-button")
        report = page.locator("#upload-report")
        expect(report).to_be_visible(timeout=30_000)
        expect(report.locator("tbody tr")).to_have_count(2)
        expect(report.locator("tbody tr").nth(0)).to_contain_text("sensor.txt")
        expect(report.locator("tbody tr").nth(0)).to_contain_text("ingested")
        expect(page.locator("#upload-totals")).to_contain_text("2 ingested, 0 unchanged, 0 failed")
        expect(page.locator("#source-list li")).to_have_count(2)
        expect(page.locator("#status")).to_contain_text("chunks indexed")

        # Ask: the answer arrives in pieces (seen part-way), then gets its citations.
        page.fill("#question", "Which batteries does the outdoor sensor take?")
        page.click("#ask-button")
        answer = page.locator(".message.assistant").last
        page.wait_for_function(
            """() => { const m = document.querySelector('.message.assistant.streaming .body');
                       return m && m.textContent.length > 0; }""", timeout=30_000)
        partial = answer.locator(".body").text_content()
        assert partial and len(partial) < len(REPLY) and REPLY.startswith(partial)
        expect(answer).not_to_have_class("message assistant streaming", timeout=30_000)
        expect(answer.locator(".body")).to_have_text(REPLY)
        inline = answer.locator(".body button.citation")
        expect(inline).to_have_text("[1]")
        expect(answer.locator(".sources li").first).to_contain_text("[1] sensor.txt")

        # Open the citation: passage, source, page, score; the markup in the document stays text.
        inline.click()
        dialog = page.locator("#citation-dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#citation-title")).to_have_text("Passage [1]")
        expect(page.locator("#citation-source")).to_have_text("sensor.txt")
        expect(page.locator("#citation-page")).to_have_text("–")
        expect(page.locator("#citation-score")).to_have_text(re.compile(r"^0\.0\d\d$"))  # the fused score
        expect(page.locator("#citation-text")).to_have_text(f"Outdoor sensor: {PAYLOAD} two AA")
        assert page.locator("#citation-text img").count() == 0 and page.evaluate("window.pwned") is None
        page.screenshot(path=str(ARTIFACTS / "server-browser.png"), full_page=True)
        page.click("#citation-close")
        expect(dialog).to_be_hidden()

        # Remove a source from the list.
        page.on("dialog", lambda prompt: prompt.accept())
        page.locator("#source-list li", has_text="kettle.txt").locator("button.remove").click()
        expect(page.locator("#source-list li")).to_have_count(1)
        expect(page.locator("#source-list")).not_to_contain_text("kettle.txt")
        browser.close()
    assert errors == []
    assert (ARTIFACTS / "server-browser.png").stat().st_size > 10_000


def test_the_page_shows_the_check_the_fallback_and_unsupported_sentences(served: tuple[str, Pipeline],
                                                                        tmp_path: Path) -> None:
    import httpx
    from playwright.sync_api import expect, sync_playwright

    url, service = served
    files = [("files", (name, text.encode(), "text/plain")) for name, text in DOCUMENTS.items()]
    ingested = httpx.post(f"{url}api/ingest", files=files, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert ingested.status_code == 200, ingested.text
    service.llm.reply = MIXED
    service.settings.generator.answer_mode = "verified"
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = _chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.fill("#token-input", TOKEN)
        page.click("#token-form button")
        expect(page.locator("#source-list li")).to_have_count(2)

        # Verified: the draft shows as "checking…" while it streams, then the quoted sentences replace it.
        page.fill("#question", "Which batteries does the outdoor sensor take?")
        page.click("#ask-button")
        answer = page.locator(".message.assistant").last
        draft = answer.locator(".draft")
        expect(draft.locator(".draft-label")).to_have_text("checking against the documents…", timeout=30_000)
        expect(draft.locator(".draft-text")).to_contain_text("Replace the batteries", timeout=30_000)
        assert answer.locator(".body").text_content() == ""  # the draft is not the answer
        expect(answer).not_to_have_class("message assistant streaming", timeout=30_000)
        expect(draft).to_have_count(0)
        expect(answer.locator(".body")).to_contain_text(QUOTED_LABEL)
        expect(answer.locator(".body")).not_to_contain_text("solar panel")
        notice = answer.locator(".fallback")
        expect(notice).to_contain_text("The generated answer was not supported by the documents (")
        expect(notice).to_contain_text("showing quoted sentences instead")
        generated = notice.locator("blockquote.generated")
        expect(generated).to_be_hidden()  # collapsed until asked for
        notice.locator("summary").click()
        expect(generated).to_have_text(MIXED)
        expect(notice.locator(".unsupported-list li")).to_have_text([f"Not supported: {UNSUPPORTED}"])

        # Generate: the answer streams as written, and the sentence no passage supports is marked.
        service.settings.generator.answer_mode = "generate"
        page.fill("#question", "Which batteries does the outdoor sensor take?")
        page.click("#ask-button")
        answer = page.locator(".message.assistant").nth(1)
        expect(answer).not_to_have_class("message assistant streaming", timeout=30_000)
        expect(answer.locator(".body")).to_have_text(MIXED)
        marked = answer.locator(".body span.unsupported")
        expect(marked).to_have_text(UNSUPPORTED)
        expect(marked).to_have_attribute("title", re.compile(r"^not supported by the passages: \S"))
        assert marked.evaluate("e => getComputedStyle(e).textDecorationStyle") == "wavy"
        expect(answer.locator(".fallback")).to_have_count(0)
        expect(answer.locator(".body button.citation").first).to_have_text("[1]")
        page.screenshot(path=str(ARTIFACTS / "server-browser-checked.png"), full_page=True)
        browser.close()
    assert errors == []


def test_a_missing_chromium_fails_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tests.test_server_browser as this

    monkeypatch.setattr(this, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y --no-install-recommends chromium"):
        _chromium(playwright=None)


def test_with_many_sources_the_question_box_stays_in_view(served: tuple[str, Pipeline], tmp_path: Path) -> None:
    """28 sources at 1280×900: the panels scroll on their own, the question box stays above the fold."""
    import httpx
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    names = [f"manual-{number:02d}.txt" for number in range(28)]
    for batch in (names[:14], names[14:]):
        files = [("files", (name, f"Manual {name}: descale the kettle every month.\n".encode(), "text/plain"))
                 for name in batch]
        ingested = httpx.post(f"{url}api/ingest", files=files, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert ingested.status_code == 200, ingested.text
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = _chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.fill("#token-input", TOKEN)
        page.click("#token-form button")
        expect(page.locator("#source-list li")).to_have_count(28)
        for selector in ("#question", "#ask-button"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, (selector, box)
        assert page.evaluate("document.documentElement.scrollHeight") <= 900  # the page itself does not scroll
        last = page.locator("#source-list li").last  # the sources panel scrolls to its last entry
        last.scroll_into_view_if_needed()
        box = last.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900
        question = page.locator("#question").bounding_box()
        assert question is not None and question["y"] + question["height"] <= 900  # still in view
        page.screenshot(path=str(ARTIFACTS / "page-28-sources.png"))
        browser.close()
