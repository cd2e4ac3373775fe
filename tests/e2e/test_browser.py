"""The workspace in a real Chromium, against the ASGI server, the Celery worker and the embedded Redis."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from django.contrib.auth.models import User
from django.template.defaultfilters import floatformat
from django.utils import translation
from playwright.sync_api import Route, expect

from labeling.models import Recording, Sentence, StyleLabel
from tests.sounds import wav_bytes

from .lab import ANNOTATOR_PASSWORD, VALIDATION_TIMEOUT, latest_take, sentence, wait_for_validation
from .processes import LabProcess
from .workspace import LOGIN_PATH, WORKSPACE_PATH, Workspace

pytestmark = pytest.mark.django_db(transaction=True)

CALL_CENTER = "lista_call_center"
LIVE_TIMEOUT_MS = VALIDATION_TIMEOUT * 1000
VALIDATED_BADGE = re.compile(r"Validada · \d,\d\d")
STATIC_SCRIPTS = ("/static/voicelab.js", "/static/django_htmx/htmx-2.min.js", "/static/django_htmx/ext/hx-ws-2.min.js")

Labeler = Callable[[str, str], StyleLabel]

TOAST_SECONDS = 8  # how long a toast stays up by itself (voicelab.js)
SILENCE = {"name": "silencio.wav", "mimeType": "audio/wav", "buffer": wav_bytes(np.zeros(32_000), 16_000)}
TONE_THEN_SILENCE = """() => {
  navigator.mediaDevices.getUserMedia = async () => {
    const context = new AudioContext();
    const tone = context.createOscillator(), gain = context.createGain(), out = context.createMediaStreamDestination();
    tone.connect(gain).connect(out);
    gain.gain.setValueAtTime(0.3, context.currentTime);
    gain.gain.setValueAtTime(0, context.currentTime + 1);
    tone.start();
    return out.stream;
  };
}"""


def expect_validated_live(workspace: Workspace, sentence_id: str) -> Recording:
    """The take cell turns "Validada · score" through a websocket push, and the database agrees."""
    workspace.wait_for_pushed_cell(sentence_id, "valid", timeout_ms=LIVE_TIMEOUT_MS)
    badge = workspace.take_cell(sentence_id).locator('[data-take-status="valid"]')
    expect(badge).to_have_text(VALIDATED_BADGE)
    take = wait_for_validation(latest_take(sentence_id).pk)
    assert take.status == Recording.Status.VALID, (take.error, take.findings)
    assert sentence(sentence_id).active_take_id == take.pk
    with translation.override("es"):
        expect(badge).to_contain_text(floatformat(take.quality_score, 2))  # 0,93: the Spanish way
    return take


def test_anonymous_visitor_is_sent_to_the_login_page(workspace: Workspace) -> None:
    workspace.page.goto(WORKSPACE_PATH)

    expect(workspace.page).to_have_url(re.compile(rf"{LOGIN_PATH}\?next=/labeling/$"))
    expect(workspace.page.get_by_role("heading", name="Iniciar sesión en Voice Lab")).to_be_visible()
    expect(workspace.rows).to_have_count(0)


def test_annotator_logs_in_and_the_page_loads_its_scripts_and_websocket(
    workspace: Workspace, corpus: None, lab_annotator: User
) -> None:
    workspace.log_in(lab_annotator.username, "not-the-password")
    expect(workspace.page.get_by_text("El usuario y la contraseña no coinciden")).to_be_visible()

    workspace.log_in(lab_annotator.username, ANNOTATOR_PASSWORD)
    expect(workspace.page).to_have_url(re.compile(r"/labeling/$"))
    expect(workspace.page.locator(".whoami")).to_contain_text(lab_annotator.username)
    for path in STATIC_SCRIPTS:  # the ASGI server serves no static files itself: WhiteNoise must
        assert workspace.page.request.get(path).ok, path
    assert workspace.page.evaluate("() => typeof htmx") == "object"
    workspace.page.wait_for_function("window.__voicelabWsOpen === true")
    expect(workspace.rows).to_have_count(Sentence.objects.count())


def test_filters_narrow_the_table_by_category_and_status(annotator_workspace: Workspace, label: Labeler) -> None:
    label("shcc-03", "neutral")
    label("shpg-01", "neutral")  # labeled too, but in another category
    call_center = set(Sentence.objects.filter(category__list_id=CALL_CENTER).values_list("sentence_id", flat=True))
    workspace = annotator_workspace
    workspace.open()

    with workspace.same_page_load():
        workspace.filter("category", CALL_CENTER)
        expect(workspace.rows).to_have_count(len(call_center))
        assert set(workspace.sentence_ids()) == call_center

        workspace.filter("status", "labeled")
        expect(workspace.rows).to_have_count(1)
        assert workspace.sentence_ids() == ["shcc-03"]
        expect(workspace.page.locator("#sentences .count")).to_have_text("1 frase")

    query = parse_qs(urlsplit(workspace.page.url).query)
    assert (query["category"], query["status"]) == ([CALL_CENTER], ["labeled"])


def test_dropdown_labels_a_sentence_without_reloading(annotator_workspace: Workspace, lab_annotator: User) -> None:
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)

    with workspace.same_page_load():
        workspace.style_select("shcc-04").select_option("empatico")
        expect(workspace.label_cell("shcc-04").get_by_role("status")).to_have_text("✓ Guardado")

    expect(workspace.style_select("shcc-04")).to_have_value("empatico")
    label = sentence("shcc-04").current_label
    assert label is not None
    assert (label.style, label.method, label.labeled_by_id) == ("empatico", "dropdown", lab_annotator.pk)


def test_keyboard_moves_between_rows_and_labels_the_current_one(annotator_workspace: Workspace) -> None:
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)
    first, second = workspace.sentence_ids()[:2]
    keyboard = workspace.page.keyboard

    with workspace.same_page_load():
        keyboard.press("j")
        workspace.expect_current_row(first)
        keyboard.press("j")
        workspace.expect_current_row(second)
        keyboard.press("2")
        expect(workspace.label_cell(second).get_by_role("status")).to_have_text("✓ Guardado")
        expect(workspace.style_select(second)).to_have_value("amable")
        workspace.expect_current_row(second)  # the swap keeps the row selected
        keyboard.press("k")
        workspace.expect_current_row(first)

    label = sentence(second).current_label
    assert label is not None and (label.style, label.method) == ("amable", "keyboard")
    assert sentence(first).current_label is None


def test_uploaded_take_is_validated_and_pushed_to_the_page(
    annotator_workspace: Workspace,
    celery_worker: LabProcess,
    label: Labeler,
    lab_annotator: User,
    espeak_wav: Callable[..., Path],
    screenshot_dir: Path,
) -> None:
    label("shcc-01", "amable")
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)

    with workspace.same_page_load():
        with workspace.page.expect_response(re.compile(r"/sentences/shcc-01/takes/$")) as upload:
            workspace.upload("shcc-01", espeak_wav())
        assert upload.value.status == 201
        assert workspace.upload_progress_shown() >= 1
        take = expect_validated_live(workspace, "shcc-01")

    assert (take.source, take.uploaded_by_id, take.original_name) == ("upload", lab_annotator.pk, espeak_wav().name)
    player = workspace.take_cell("shcc-01").locator("audio.take-audio")
    expect(player).to_have_attribute("src", f"/labeling/takes/{take.pk}/audio/")
    audio = workspace.page.request.get(player.get_attribute("src") or "")
    assert audio.ok and audio.headers["content-type"] == "audio/wav"
    workspace.page.screenshot(path=screenshot_dir / "workspace.png", full_page=True)

    # "p" plays the current row's validated take, and pauses it again.
    workspace.row("shcc-01").locator(".text").click()
    workspace.page.keyboard.press("p")
    workspace.page.wait_for_function("el => !el.paused && el.currentTime > 0", arg=player.element_handle())
    workspace.page.keyboard.press("p")
    workspace.page.wait_for_function("el => el.paused", arg=player.element_handle())

    # A refused file says why in a toast; the sentence's next result takes the toast away.
    # And a take that fails validation stays playable beside the valid one, with why it failed.
    with workspace.same_page_load():
        workspace.upload("shcc-01", {"name": "notas.wav", "mimeType": "audio/wav", "buffer": b"no es audio" * 50})
        expect(workspace.toast).to_contain_text("El archivo no es un audio legible")
        shown = time.monotonic()
        workspace.upload("shcc-01", SILENCE)
        workspace.wait_for_pushed_cell("shcc-01", "rejected", timeout_ms=LIVE_TIMEOUT_MS)
        if time.monotonic() - shown < TOAST_SECONDS - 1:  # else the toast's own timer may have hidden it
            assert workspace.toast.is_hidden(), "the newer result left the earlier toast up"
        rejected = workspace.take_cell("shcc-01").locator(".latest-take")
        expect(rejected.locator('[data-take-status="rejected"]')).to_contain_text("Rechazada")
        expect(rejected.locator(".findings .fatal")).to_contain_text("No se encontró habla")
        expect(workspace.take_cell("shcc-01").locator("audio.take-audio")).to_have_attribute(
            "src", f"/labeling/takes/{take.pk}/audio/"
        )
        rejected.locator("audio.latest-audio").evaluate("el => el.play()")
        workspace.page.wait_for_function(
            "el => !el.paused && el.currentTime > 0", arg=rejected.locator("audio").element_handle()
        )


def test_corrupt_upload_shows_the_reason_in_a_toast(annotator_workspace: Workspace, label: Labeler) -> None:
    label("shcc-02", "amable")
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)
    corrupt = {"name": "broken.wav", "mimeType": "audio/wav", "buffer": b"RIFF\x00\x00\x00\x00WAVE" + b"noise" * 200}

    with workspace.same_page_load():
        workspace.upload("shcc-02", corrupt)
        expect(workspace.toast).to_be_visible()
        expect(workspace.toast).to_contain_text("El archivo no es un audio legible")

    expect(workspace.take_cell("shcc-02")).to_contain_text("Aún sin grabar")
    assert not Recording.objects.filter(sentence__sentence_id="shcc-02").exists()


def test_unknown_style_is_refused_with_a_toast(annotator_workspace: Workspace) -> None:
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)
    dropdown = workspace.style_select("shcc-05")
    # A stale or tampered page: the dropdown offers a style the lab does not know.
    dropdown.evaluate("select => select.add(new Option('Robótico', 'robotico'))")

    with workspace.same_page_load():
        dropdown.select_option("robotico")
        expect(workspace.toast).to_be_visible()
        expect(workspace.toast).to_contain_text("Estilo desconocido «robotico».")

    expect(workspace.label_cell("shcc-05").get_by_role("status")).to_have_count(0)
    assert sentence("shcc-05").current_label is None


def test_recording_in_the_studio_makes_a_validated_take_and_moves_on(
    annotator_workspace: Workspace, celery_worker: LabProcess, label: Labeler, screenshot_dir: Path
) -> None:
    """The studio as an annotator uses it: the sentence to read, a running timer and a level
    meter while recording, a validated take, then on to the next sentence without one; skip."""
    label("shcc-06", "amable")
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)
    ids = workspace.sentence_ids()
    after = ids[ids.index("shcc-06") + 1 :]
    row, studio = workspace.row("shcc-06"), workspace.studio

    with workspace.same_page_load():
        row.locator("td.text").click()
        workspace.expect_current_row("shcc-06")
        expect(studio.locator("#studio-prompt")).to_have_text(sentence("shcc-06").text)
        expect(studio.locator("#studio-advance")).to_be_checked()
        workspace.page.keyboard.press("r")
        expect(row).to_have_class(re.compile(r"\brecording\b"))
        expect(row.locator(".record-button")).to_have_text("■ Parar")
        expect(studio.locator("#studio-record")).to_have_text("■ Parar")
        workspace.page.wait_for_function("document.getElementById('studio-level').value > -40")  # it hears speech
        workspace.wait_for_recorded_seconds(2.5)  # the timer runs: "0:02,5", the Spanish way
        expect(studio.locator("#studio-timer")).to_have_text(re.compile(r"^0:0\d,\d$"))
        workspace.page.screenshot(path=screenshot_dir / "studio.png")
        with workspace.page.expect_response(re.compile(r"/sentences/shcc-06/takes/$")) as upload:
            workspace.page.keyboard.press("r")
        assert upload.value.status == 201
        assert workspace.upload_progress_shown() >= 1  # the recorded take's upload, shown in its row
        take = expect_validated_live(workspace, "shcc-06")
        workspace.expect_current_row(after[0])  # auto-advance: the next sentence without a take
        expect(studio.locator("#studio-prompt")).to_have_text(sentence(after[0]).text)
        expect(studio.locator("#studio-level")).to_have_attribute("value", "-60")
        expect(studio.locator("#studio-remaining")).to_have_text(
            f"Faltan por grabar {len(ids) - 1} de las {len(ids)} frases mostradas"
        )
        workspace.page.keyboard.press("s")
        workspace.expect_current_row(after[1])

    assert take.source == Recording.Source.BROWSER
    assert take.duration_seconds is not None and 2.4 < take.duration_seconds < 6
    expect(row.locator(".record-button")).to_have_text("● Grabar")
    expect(workspace.take_cell("shcc-06").locator("svg.waveform path")).to_have_count(1)


def test_a_take_validated_before_its_upload_is_answered_still_moves_the_studio_on(
    annotator_workspace: Workspace, celery_worker: LabProcess, label: Labeler
) -> None:
    """The worker can validate a take before the browser reads the upload's own answer (a
    busy machine): the pushed result moves the studio on, and the late answer, which shows
    the same take still pending, does not put it back."""
    label("shcc-08", "amable")
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)
    ids = workspace.sentence_ids()
    after = ids[ids.index("shcc-08") + 1]
    page = workspace.page

    def answer_after_the_push(route: Route) -> None:
        answer = route.fetch()
        workspace.wait_for_pushed_cell("shcc-08", "valid", timeout_ms=LIVE_TIMEOUT_MS)
        route.fulfill(response=answer)

    page.route(re.compile(r"/sentences/shcc-08/takes/$"), answer_after_the_push)
    with workspace.same_page_load():
        workspace.row("shcc-08").locator("td.text").click()
        page.keyboard.press("r")
        workspace.wait_for_recorded_seconds(2.5)
        page.keyboard.press("r")
        page.wait_for_function("() => window.__answersRead.some((url) => url.endsWith('/shcc-08/takes/'))")
        # Read at once, before the pending cell's poll (every 4 s) could set things right by itself.
        shown = page.evaluate(
            """() => ({current: document.querySelector('.sentence-row.current').id,
                       status: document.getElementById('take-shcc-08').dataset.latestStatus})"""
        )
        assert shown == {"current": f"row-{after}", "status": "valid"}
        expect(workspace.take_cell("shcc-08").locator('[data-take-status="valid"]')).to_have_text(VALIDATED_BADGE)


def test_the_studio_stops_by_itself_after_trailing_silence(
    annotator_workspace: Workspace, celery_worker: LabProcess, label: Labeler
) -> None:
    """With auto-stop on, a microphone that falls silent ends the take, which is then uploaded."""
    label("shcc-07", "amable")
    workspace = annotator_workspace
    workspace.open(category=CALL_CENTER)
    # A microphone of the page's own making: one second of a tone, then digital silence.
    workspace.page.evaluate(TONE_THEN_SILENCE)
    workspace.studio.locator("#studio-autostop").check()

    with workspace.same_page_load():
        workspace.row("shcc-07").locator("td.text").click()
        with workspace.page.expect_response(
            re.compile(r"/sentences/shcc-07/takes/$"), timeout=LIVE_TIMEOUT_MS
        ) as upload:
            workspace.page.keyboard.press("r")
            expect(workspace.row("shcc-07")).to_have_class(re.compile(r"\brecording\b"))
        assert upload.value.status == 201
        expect(workspace.row("shcc-07")).not_to_have_class(re.compile(r"\brecording\b"))

    take = wait_for_validation(latest_take("shcc-07").pk)
    assert take.duration_seconds is not None and 2.0 < take.duration_seconds < 5  # 1 s of tone, 1.5 s of silence
    workspace.page.reload()
    expect(workspace.studio.locator("#studio-autostop")).to_be_checked()  # the habit is remembered


def test_an_annotator_reads_the_lab_in_english_once_chosen(
    workspace: Workspace, corpus: None, lab_annotator: User
) -> None:
    """The one browser test in English: the choice, remembered, reaches the pages' scripts too."""
    workspace.log_in(lab_annotator.username, ANNOTATOR_PASSWORD)
    expect(workspace.page.get_by_role("link", name="Etiquetado")).to_be_visible()
    with workspace.page.expect_navigation():
        workspace.page.get_by_label("Idioma").select_option("en")
    expect(workspace.page.locator("html")).to_have_attribute("lang", "en")
    workspace.open(category=CALL_CENTER)  # a fresh load: the account remembers
    expect(workspace.page.get_by_role("link", name="Labeling")).to_be_visible()
    expect(workspace.page.get_by_role("heading", name="Progress by style")).to_be_visible()
    workspace.row("shcc-01").locator(".text").click()
    workspace.page.keyboard.press("p")  # no take yet: the script says so, in English
    expect(workspace.toast).to_contain_text("This sentence has no validated take to play yet.")
