"""A page object for the labeling workspace as a real browser shows it: in Spanish, the lab's
default language, as its annotators read it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from playwright.sync_api import Locator, Page, expect

WORKSPACE_PATH = "/labeling/"
LOGIN_PATH = "/accounts/login/"

# Recorded by the page itself: whether the htmx websocket extension has opened its
# socket (so a test never uploads before the page can hear about the validation), every
# message it swapped in, each time an upload showed its progress, and each request whose
# answer the page has finished reading (its own handlers ran before ``loadend``).
WS_SPY_SCRIPT = """
window.__voicelabWsMessages = [];
document.addEventListener('htmx:wsOpen', () => { window.__voicelabWsOpen = true; });
document.addEventListener('htmx:wsAfterMessage', (event) => { window.__voicelabWsMessages.push(event.detail.message); });
window.__uploadProgressShown = 0;  // how often a row's upload progress bar came out of hiding
new MutationObserver((records) => {
  for (const r of records) if (r.target.classList.contains('upload-progress') && r.oldValue !== null) window.__uploadProgressShown++;
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['hidden'], attributeOldValue: true });
window.__answersRead = [];
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (...args) {
  this.addEventListener('loadend', () => { window.__answersRead.push(this.responseURL); });
  return send.apply(this, args);
};
"""


class Workspace:
    """Drives the workspace through what a person sees and does: forms, keys, files."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.js_errors: list[str] = []
        page.on("pageerror", lambda error: self.js_errors.append(str(error)))

    # ---- navigation -------------------------------------------------------------------
    def log_in(self, username: str, password: str) -> None:
        self.page.goto(LOGIN_PATH)
        self.page.get_by_label("Usuario").fill(username)
        self.page.get_by_label("Contraseña").fill(password)
        self.page.get_by_role("button", name="Iniciar sesión").click()

    def open(self, **filters: str) -> None:
        """Load the workspace (filtered like its form would) and wait for its live updates."""
        query = f"?{urlencode(filters)}" if filters else ""
        self.page.goto(WORKSPACE_PATH + query)
        self.page.wait_for_function("window.__voicelabWsOpen === true")

    @contextmanager
    def same_page_load(self) -> Iterator[None]:
        """Fail if the block reloads or leaves the page (htmx must swap fragments instead)."""
        marker = self.page.evaluate("() => (window.__e2eMarker = Math.random())")
        yield
        assert self.page.evaluate("() => window.__e2eMarker") == marker, "the page was reloaded"

    # ---- what is on the page ----------------------------------------------------------
    @property
    def rows(self) -> Locator:
        return self.page.locator(".sentence-row")

    def sentence_ids(self) -> list[str]:
        return self.rows.evaluate_all("rows => rows.map(row => row.dataset.sentenceId)")

    def row(self, sentence_id: str) -> Locator:
        return self.page.locator(f"#row-{sentence_id}")

    def style_select(self, sentence_id: str) -> Locator:
        return self.page.get_by_label(f"Estilo de {sentence_id}")

    def label_cell(self, sentence_id: str) -> Locator:
        return self.page.locator(f"#label-{sentence_id}")

    def take_cell(self, sentence_id: str) -> Locator:
        return self.page.locator(f"#take-{sentence_id}")

    @property
    def studio(self) -> Locator:
        return self.page.locator("#studio")

    @property
    def toast(self) -> Locator:
        return self.page.locator("#toast")

    def expect_current_row(self, sentence_id: str) -> None:
        expect(self.row(sentence_id)).to_have_class(re.compile(r"\bcurrent\b"))
        expect(self.page.locator(".sentence-row.current")).to_have_count(1)

    def wait_for_pushed_cell(self, sentence_id: str, status: str, *, timeout_ms: float) -> None:
        """Wait until the websocket has swapped in this sentence's take cell showing a take in ``status``."""
        self.page.wait_for_function(
            """([cell, badge]) => window.__voicelabWsMessages.some((m) => m.includes(cell) && m.includes(badge))""",
            arg=[f'id="take-{sentence_id}"', f'data-take-status="{status}"'],
            timeout=timeout_ms,
        )

    def upload_progress_shown(self) -> int:
        return self.page.evaluate("window.__uploadProgressShown")

    def wait_for_recorded_seconds(self, seconds: float) -> None:
        """Wait until the studio's timer ("m:ss,d") shows at least ``seconds``."""
        self.page.wait_for_function(
            """(least) => {
                const [minutes, rest] = document.getElementById('studio-timer').textContent.split(':');
                return Number(minutes) * 60 + Number(rest.replace(',', '.')) >= least;
            }""",
            arg=seconds,
        )

    # ---- actions ----------------------------------------------------------------------
    def filter(self, field: str, value: str) -> None:
        """Choose ``value`` in a filter dropdown and wait for the table and the URL to follow."""
        self.page.locator(f"#filters [name={field}]").select_option(value)
        expect(self.page).to_have_url(re.compile(rf"[?&]{field}={value}(&|$)"))

    def upload(self, sentence_id: str, files: object) -> None:
        """Pick a file in the row's (hidden) upload input, as its Upload button does."""
        self.take_cell(sentence_id).locator("input[type=file]").set_input_files(files)
