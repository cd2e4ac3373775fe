"""The operators' dashboard in headless Chromium, in Spanish: launch a short run, watch its chart
grow, read the validation report, deploy to a live TTS service and switch its style."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from distillation.services.tts_keys import lab_api_key

from .conftest import Worker
from .lab import ANNOTATOR_PASSWORD, OPERATOR_PASSWORD
from .workspace import Workspace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(workspace: Workspace) -> Iterator[Page]:
    """A fresh browser context on the lab; the test fails on any JavaScript error."""
    yield workspace.page
    assert not workspace.js_errors, f"JavaScript errors: {workspace.js_errors}"


def log_in(page: Page, username: str, password: str) -> None:
    Workspace(page).log_in(username, password)
    page.wait_for_url("**/labeling/")


# Every text the run page's stage and phases showed, in order (before the first step they change
# within seconds, too fast to wait for one by one).
PHASE_SPY = """
window.__seen = [];
new MutationObserver(() => {
  document.querySelectorAll('#run-stage, .walk-phase:not([hidden])').forEach((el) => {
    const text = el.textContent.trim();
    if (text && !window.__seen.includes(text)) window.__seen.push(text);
  });
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""


def chart_points(page: Page, style: str) -> int:
    return page.evaluate(f"() => (document.getElementById('chart-{style}').data || [{{x: []}}])[0].x.length")


def test_an_operator_launches_watches_validates_deploys_and_switches(
    page: Page,
    lab_operator: User,
    validated_takes: Callable[..., None],
    running_distiller: Worker,
    tts_service: str,
    screenshot_dir: Path,
) -> None:
    validated_takes("neutral")
    log_in(page, lab_operator.username, OPERATOR_PASSWORD)
    page.get_by_role("link", name="Destilación").click()
    page.get_by_role("link", name="Lanzar una ejecución").click()

    # The material table says which styles can run; the form tells before submitting.
    expect(page.locator('tr[data-style="neutral"]')).to_contain_text("lista")
    expect(page.locator('tr[data-style="amable"]')).to_contain_text("faltan 20,0 s")
    # Only the styles that can run are ticked; ticking another says at once why it cannot.
    expect(page.locator("#launch-check .ok")).to_have_text("Lista para lanzar.")
    amable = page.locator('input[name="styles"][value="amable"]')
    expect(amable).not_to_be_checked()
    amable.check()
    expect(page.locator("#launch-check")).to_contain_text("Amable: 0,0 s de habla validada en 0 tomas")
    amable.uncheck()
    expect(page.locator("#launch-check .ok")).to_have_text("Lista para lanzar.")
    # The time it would take, from the measured pace: the walk's default 10,000 steps are hours.
    expect(page.locator("#launch-estimate")).to_contain_text("30 pasos de gradiente a 16,0 s")
    page.locator("#id_optimizer").select_option("walk")  # seconds a step; the gradient is tested elsewhere
    expect(page.locator("#launch-estimate")).to_contain_text("Tiempo estimado: unos 6 h 08 min")
    expect(page.locator("#long-run")).to_be_visible()
    page.get_by_label("Pasos").fill("12")
    page.get_by_label("Semilla").fill("21")  # leaving the steps field: the estimate follows
    expect(page.locator("#launch-estimate")).to_contain_text("12 pasos de búsqueda aleatoria a 2,2 s")
    expect(page.locator("#long-run")).to_have_count(0)
    page.screenshot(path=screenshot_dir / "distillation-launch.png", full_page=True)
    page.add_init_script(PHASE_SPY)
    page.get_by_role("button", name="Lanzar").click()
    page.wait_for_url(re.compile(r".*/distillation/runs/\d+/$"))

    # Live: the socket opens and the score chart grows as the worker sends steps.
    expect(page.locator("#live")).to_have_text("● en directo")
    expect(page.locator("#report-link")).to_be_hidden()  # no report before Stage 3 has written one
    page.wait_for_function(
        "() => (document.getElementById('chart-neutral').data || [{x: []}])[0].x.length >= 2", timeout=180_000
    )
    first = chart_points(page, "neutral")
    # What the page showed before the first step: each stage, and the start voice being chosen, n/N.
    seen = page.evaluate("window.__seen")
    assert "Etapa 1: audio de referencia" in seen and "Etapa 2: evolución" in seen, seen
    assert any(re.fullmatch(r"eligiendo una voz de partida \d+/\d+", text) for text in seen), seen
    page.wait_for_function(f"() => document.getElementById('chart-neutral').data[0].x.length > {first}", timeout=60_000)
    expect(page.locator("#prosody-neutral .main-svg").first).to_be_visible(timeout=60_000)
    # A reload catches up from the stored history: no gap, no duplicate.
    page.reload()
    page.wait_for_function("() => (document.getElementById('chart-neutral').data || [{x: []}])[0].x.length >= 2")
    steps = page.evaluate("() => document.getElementById('chart-neutral').data[0].x")
    assert steps == list(range(1, len(steps) + 1))

    expect(page.locator("#run-status")).to_have_text("terminada", timeout=240_000)
    assert chart_points(page, "neutral") == 12
    page.screenshot(path=screenshot_dir / "distillation-run.png", full_page=True)
    expect(page.locator("#report-link")).to_be_visible()
    page.get_by_role("link", name="Informe de validación").click()
    expect(page.locator('#report-neutral tr[data-check="speaker_similarity"]')).to_contain_text(
        "Parecido con el hablante"
    )
    expect(page.locator("#differentiation")).to_contain_text("no se aplica")  # one style in this run

    # Deploy (confirmed, forced in case 12 steps were not enough to pass), then switch styles.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Sustituir las voces desplegadas por las de esta ejecución").check()
    page.get_by_label("Desplegar también los estilos que no superaron la validación").check()
    page.get_by_role("button", name="Desplegar").click()
    expect(page.locator("#deployed")).to_contain_text("1 voz desplegada; el servicio TTS las ha recargado")
    expect(page.locator('#tts-panel tr[data-style="neutral"]')).to_contain_text("desplegada")
    lab_key = {"Authorization": f"Bearer {lab_api_key()}"}  # the key the lab made for its own calls
    voices = httpx.get(f"{tts_service}/voices", headers=lab_key, timeout=10).json()
    assert voices["active"] == "neutral" and voices["tts_backend"] == "kokoro"

    page.locator("#tts-style").select_option("empatico")
    page.get_by_role("button", name="Cambiar estilo").click()
    expect(page.locator("#tts-active")).to_have_text("Empático")
    # Heard as the service speaks it now: a WAV from the service, in the page's player.
    page.get_by_label("Escuchar cómo suena").fill("Le llamo por su pedido 4521.")
    page.locator("#tts-try").get_by_role("button", name="Escuchar").click()
    page.wait_for_function("() => document.getElementById('tts-try-audio').duration > 1")
    page.screenshot(path=screenshot_dir / "distillation-report.png", full_page=True)
    assert httpx.get(f"{tts_service}/voices", headers=lab_key, timeout=10).json()["active"] == "empatico"


def test_an_annotator_cannot_reach_the_launch_page(page: Page, lab_annotator: User) -> None:
    log_in(page, lab_annotator.username, ANNOTATOR_PASSWORD)
    expect(page.get_by_role("link", name="Destilación")).to_have_count(0)
    response = page.goto("/distillation/launch/")
    assert response is not None and response.status == 403


def test_a_10000_step_walk_reaches_the_browser_decimated(page: Page, lab_operator: User) -> None:
    """The page of a long walk gets the sampled history (about 2,000 points), not 10,000."""
    from distillation.models import EvolutionStep
    from distillation.services.live import sampled
    from tests.runs.factories import make_run

    # Stored as the worker's recorder stores them (its sending needs no browser: the consumer tests).
    run = make_run(lab_operator, steps=10_000)
    walk = run.style_runs.get()
    EvolutionStep.objects.bulk_create(
        EvolutionStep(
            style_run=walk,
            step=step,
            score=50 + step / 1000,
            target=0.8,
            self_similarity=0.9,
            features=0.7,
            complete=True,
            accepted=step % 500 == 0,
            best_score=50 + step / 1000,
            elapsed=step * 0.5,
        )
        for step in range(1, 10_001)
        if sampled(step, steps=10_000, accepted=step % 500 == 0)
    )
    stored = walk.history.count()

    log_in(page, lab_operator.username, OPERATOR_PASSWORD)
    page.goto(f"/distillation/runs/{run.pk}/")
    page.wait_for_function("() => (document.getElementById('chart-neutral').data || [{x: []}])[0].x.length > 0")
    assert chart_points(page, "neutral") == stored < 2100
    assert page.evaluate("() => document.getElementById('chart-neutral').data[0].x.slice(-1)[0]") == 10_000
