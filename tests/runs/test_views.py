"""The operators' pages: who may see and do what, the launch form's refusals, and a finished
run's report, A/B listening and deploy (one real run, executed in this process)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from distillation.models import FINISHED, DistillationRun, Status, StyleRun
from distillation.routing import websocket_urlpatterns
from distillation.services.execution import evolve, prepare, validate
from distillation.templatetags.distillation import phase_label
from voicelab.engine.evolution import StepEvent
from voicelab.engine.teacher import NOT_CONFIGURED

from .factories import make_run

pytestmark = pytest.mark.django_db

LAUNCH = reverse("distillation:launch")


def wav_upload(samples: np.ndarray, name: str = "voice.wav", rate: int = 24_000) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="audio/wav")


def test_annotators_cannot_reach_the_distillation_pages(annotator_client: Client, operator) -> None:
    run = DistillationRun.objects.create(launched_by=operator, styles=["neutral"], steps=5, seed=1)
    for name, args in (("runs", []), ("launch", []), ("run", [run.pk]), ("report", [run.pk])):
        assert annotator_client.get(reverse(f"distillation:{name}", args=args)).status_code == 403
    assert annotator_client.post(reverse("distillation:cancel", args=[run.pk])).status_code == 403
    assert annotator_client.post(reverse("distillation:deploy", args=[run.pk]), {"confirm": "on"}).status_code == 403
    assert "Distillation" not in annotator_client.get(reverse("labeling:workspace")).content.decode()
    # And an operator asking for what a run does not have yet gets a 404, never an error.
    annotator_client.force_login(operator)
    for name, args in (
        ("report", [run.pk]),
        ("blind", [run.pk, "neutral"]),
        ("blind_clip", [run.pk, "neutral", "a"]),
        ("run", [run.pk + 1]),
    ):
        assert annotator_client.get(reverse(f"distillation:{name}", args=args)).status_code == 404


def test_the_launch_page_shows_each_styles_material(operator_client: Client, lab: Path, neutral_material: None) -> None:
    page = operator_client.get(LAUNCH).content.decode()
    neutral = re.search(r'<tr data-style="neutral">.*?</tr>', page, re.S).group(0)
    amable = re.search(r'<tr data-style="amable">.*?</tr>', page, re.S).group(0)
    assert "ready" in neutral and "10</td>" in neutral
    assert "20.0 s missing" in amable and "0.0 s / 20 s" in amable
    assert NOT_CONFIGURED in page  # the F5 teacher is not set up on this lab...
    f5 = re.search(r'<input type="radio" name="source" value="f5"[^>]*>', page).group(0)
    assert " disabled" in f5  # ...so it cannot be chosen
    ticked = re.findall(r'<input type="checkbox" name="styles" value="(\w+)"[^>]*checked', page)
    assert ticked == ["neutral"]  # only the style with enough material is ticked at first


def test_a_style_without_material_blocks_the_launch_with_the_reason(
    operator_client: Client, lab: Path, neutral_material: None
) -> None:
    response = operator_client.post(LAUNCH, {"styles": ["neutral", "amable"], "steps": 10, "source": "recordings"})
    assert response.status_code == 400
    html = response.content.decode()
    # Said once, where the form's check goes, which waits for a change instead of repeating it at load.
    assert html.count("Amable: 0.0 s of validated speech in 0 takes; Stage 1 needs 20 s, so 20.0 s more.") == 1
    assert re.search(r'<div id="launch-check"[^>]*><p class="error-message" role="alert" id="launch-error">', html)
    assert 'hx-trigger="change"' in html
    assert not DistillationRun.objects.exists()
    check = operator_client.get(reverse("distillation:launch_check"), {"styles": ["neutral"], "source": "recordings"})
    assert "Ready to launch" in check.content.decode()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"styles": ["neutral"], "steps": 0, "source": "recordings"}, "greater than or equal to 1"),
        ({"styles": ["alegre"], "steps": 10, "source": "recordings"}, "Unknown style “alegre”"),
        ({"styles": ["neutral"], "steps": 10, "source": "f5"}, "upload a reference WAV"),
    ],
    ids=["zero-steps", "unknown-style", "f5-without-voice"],
)
def test_bad_launches_are_refused_with_a_message(operator_client: Client, lab: Path, data: dict, message: str) -> None:
    response = operator_client.post(LAUNCH, data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not DistillationRun.objects.exists()


def test_an_f5_launch_needs_a_configured_teacher_and_a_usable_voice(
    operator_client: Client, lab: Path, settings, speak: Callable
) -> None:
    voice = speak("Hola, buenos días, le habla su asistente.")
    data = {"styles": ["neutral"], "steps": 10, "source": "f5", "reference_text": "Hola, buenos días."}
    refused = operator_client.post(
        LAUNCH, {**data, "reference_audio": wav_upload(voice.samples, rate=voice.sample_rate)}
    )
    assert refused.status_code == 400 and NOT_CONFIGURED in refused.content.decode()

    settings.VOICELAB_TEACHER_URL = "http://127.0.0.1:9"
    corrupt = SimpleUploadedFile("voice.wav", b"RIFF....WAVEfmt not really")
    response = operator_client.post(LAUNCH, {**data, "reference_audio": corrupt})
    assert response.status_code == 400 and "Reference audio:" in response.content.decode()
    silent = operator_client.post(LAUNCH, {**data, "reference_audio": wav_upload(np.zeros(48_000, np.float32))})
    assert silent.status_code == 400 and "it is silent" in silent.content.decode()
    assert not DistillationRun.objects.exists()

    launched = operator_client.post(
        LAUNCH, {**data, "reference_audio": wav_upload(voice.samples, rate=voice.sample_rate)}
    )
    run = DistillationRun.objects.get()
    assert launched.status_code == 302 and launched.url == reverse("distillation:run", args=[run.pk])
    assert (
        run.source == "f5" and run.reference_text == "Hola, buenos días." and Path(run.reference_audio.path).is_file()
    )


def test_a_clip_launch_needs_five_seconds_of_the_speaker_and_keeps_the_optimizer(
    operator_client: Client, lab: Path, speak: Callable
) -> None:
    """No takes and no teacher: the clip is the target. The optimizer chosen is the run's."""
    data = {"styles": ["neutral", "amable"], "source": "clip", "optimizer": "hybrid"}
    missing = operator_client.post(LAUNCH, data)
    assert missing.status_code == 400 and "A clip target needs the clip" in missing.content.decode()
    short = speak("Hola.")
    too_short = operator_client.post(
        LAUNCH, {**data, "reference_audio": wav_upload(short.samples, rate=short.sample_rate)}
    )
    assert too_short.status_code == 400 and "give 5-300 s" in too_short.content.decode()
    assert not DistillationRun.objects.exists()

    clip = speak("Buenos días, le habla Marta, del servicio de atención al cliente. ¿En qué puedo ayudarle hoy?")
    launched = operator_client.post(
        LAUNCH, {**data, "reference_audio": wav_upload(clip.samples, rate=clip.sample_rate)}
    )
    run = DistillationRun.objects.get()
    assert launched.status_code == 302 and run.source == "clip" and Path(run.reference_audio.path).is_file()
    config = run.pipeline_config()
    assert (config.evolution.optimizer, config.evolution.steps, run.steps) == ("hybrid", 230, 230)


def test_cancel_and_resume_say_what_they_did_or_why_not(
    operator_client: Client, lab: Path, operator, django_capture_on_commit_callbacks
) -> None:
    run = make_run(operator, styles=("neutral", "amable"))
    run.style_runs.filter(style="amable").update(status=Status.INTERRUPTED)
    resume = reverse("distillation:resume", args=[run.pk])
    with django_capture_on_commit_callbacks() as queued:
        resumed = operator_client.post(resume, follow=True)
    assert "Amable queued again, from the last checkpoint." in resumed.content.decode() and len(queued) == 1

    cancel = reverse("distillation:cancel", args=[run.pk])
    cancelled = operator_client.post(cancel, follow=True)
    assert "cancel requested; each walk keeps its best voice so far." in cancelled.content.decode()
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and set(run.style_runs.values_list("status", flat=True)) == {"cancelled"}
    again = operator_client.post(cancel)
    assert again.status_code == 409 and f"Run {run.pk} has already ended: cancelled." in again.content.decode()
    nothing = operator_client.post(resume)
    assert nothing.status_code == 409 and "no interrupted walk to resume" in nothing.content.decode()


def test_run_files_are_served_only_from_the_runs_folder(operator_client: Client, lab: Path, operator) -> None:
    run = DistillationRun.objects.create(launched_by=operator, styles=["neutral"], steps=5, seed=1)
    (run.workdir / "preview/neutral").mkdir(parents=True)
    (run.workdir / "preview/neutral/best.wav").write_bytes(b"RIFF")
    (lab / "secret.txt").write_text("no")
    other = DistillationRun.objects.create(launched_by=operator, styles=["neutral"], steps=5, seed=1)
    (other.workdir / "evolved_voices").mkdir(parents=True)
    (other.workdir / "evolved_voices/neutral.pt").write_bytes(b"voice")
    ok = operator_client.get(reverse("distillation:artifact", args=[run.pk, "preview/neutral/best.wav"]))
    assert ok.status_code == 200 and b"".join(ok.streaming_content) == b"RIFF"
    for name in ("../../secret.txt", "preview/neutral/missing.wav", f"../{other.pk}/evolved_voices/neutral.pt"):
        assert operator_client.get(reverse("distillation:artifact", args=[run.pk, name])).status_code == 404


def test_the_run_page_tells_its_script_what_to_draw_and_where(operator_client: Client, lab: Path, operator) -> None:
    """run.js hard-codes no trace, URL or status: the page hands them over (json_script)."""
    run = make_run(operator, styles=("neutral", "amable"))
    html = operator_client.get(reverse("distillation:run", args=[run.pk])).content.decode()
    page = json.loads(re.search(r'<script id="run-page" type="application/json">(.*?)</script>', html, re.S)[1])

    (route,) = [r for r in websocket_urlpatterns if r.resolve(page["socket"].removeprefix("/"))]
    assert route.resolve(page["socket"].removeprefix("/")).kwargs == {"run_id": run.pk}
    event_fields = {field.name for field in fields(StepEvent)}
    assert [t["key"] for t in page["traces"]][:2] == ["score", "best_score"]
    assert all(t["key"] in event_fields and t["label"] for t in page["traces"])
    assert {t["key"] for t in page["traces"] if t["partial"]} == StepEvent.UNMEASURED_WHEN_INCOMPLETE
    assert page["finished"] == list(FINISHED)
    assert set(page["previews"]) == {"neutral", "amable"}
    (run.workdir / "preview/amable").mkdir(parents=True)
    (run.workdir / "preview/amable/best.wav").write_bytes(b"RIFF")
    assert b"".join(operator_client.get(page["previews"]["amable"]["best"]).streaming_content) == b"RIFF"


def test_a_finished_runs_report_ab_and_deploy(operator_client: Client, lab: Path, neutral_material: None) -> None:
    launched = operator_client.post(LAUNCH, {"styles": ["neutral"], "steps": 2, "seed": 5, "source": "recordings"})
    run = DistillationRun.objects.get()
    assert launched.status_code == 302 and run.status == Status.QUEUED
    assert operator_client.get(reverse("distillation:report", args=[run.pk])).status_code == 404  # not yet
    (walk,) = prepare(run_id=run.pk, worker="test@here")
    evolve(style_run_id=walk.pk, worker="test@here")
    validate(run_id=run.pk, worker="test@here")
    run.refresh_from_db()

    page = operator_client.get(reverse("distillation:report", args=[run.pk])).content.decode()
    similarity = run.report["styles"]["neutral"]["checks"]["speaker_similarity"]
    assert f"<td>CAM++</td><td>{similarity['value']}</td><td>≥ 0.75</td>" in page  # each check names its judge
    assert "<td>DistillMOS</td>" in page and "reported only" in page  # resemblyzer: beside the verdict
    assert page.count("<audio") >= 5  # three held-out phrases, target and evolved
    assert "could not be reached" in page  # the TTS panel says why it shows no voices

    # Blind A/B: the clip URLs do not tell which is which; each answer is scored, then reshuffled.
    blind = reverse("distillation:blind", args=[run.pk, "neutral"])
    first = operator_client.get(blind).content.decode()
    sources = re.findall(r'<audio[^>]*src="([^"]+)"', first)
    assert len(sources) == 2 and not any("target" in url or "evolved" in url for url in sources)
    clip_a = operator_client.get(reverse("distillation:blind_clip", args=[run.pk, "neutral", "a"]))
    target_is = operator_client.session[f"distillation.blind.{run.pk}.neutral"]["target_is"]
    target_bytes = Path(run.report["styles"]["neutral"]["listening"]["target"]).read_bytes()
    assert (b"".join(clip_a.streaming_content) == target_bytes) == (target_is == "a")
    answered = operator_client.post(blind, {"target_is": target_is}).content.decode()
    assert "Right: the target was" in answered and "1 right out of 1" in answered

    # Deploy: a failing style only with force; the result names the file and the .env change.
    deploy = reverse("distillation:deploy", args=[run.pk])
    assert operator_client.post(deploy, {}).status_code == 400  # the confirmation is required
    if not run.report["styles"]["neutral"]["passed"]:
        refused = operator_client.post(deploy, {"confirm": "on"})
        assert refused.status_code == 409 and "did not pass validation" in refused.content.decode()
    deployed = operator_client.post(deploy, {"confirm": "on", "force": "on"})
    assert deployed.status_code == 200 and str(lab / "deployed" / "neutral.pt") in deployed.content.decode()
    assert (lab / "deployed" / "neutral.pt").read_bytes() == run.paths.evolved_voice("neutral").read_bytes()
    assert "KOKORO_VOICE_PATH" in (lab / ".env").read_text()

    switched = operator_client.post(reverse("distillation:switch_style"), {"style": "neutral"})
    assert switched.status_code == 502 and "could not be reached" in switched.content.decode()
    unknown = operator_client.post(reverse("distillation:switch_style"), {"style": "alegre"})
    assert unknown.status_code == 400 and "Unknown style" in unknown.content.decode()


def test_hearing_a_style_says_why_when_it_cannot(operator_client: Client, annotator) -> None:
    """The TTS panel's "Listen": the service's own WAV (the browser test plays it), else why not."""
    url = reverse("distillation:tts_try")
    unreachable = operator_client.get(url, {"text": "Hola.", "style": "amable"}, HTTP_HX_REQUEST="true")
    assert unreachable.status_code == 502 and "could not be reached" in unreachable.content.decode()
    empty = operator_client.get(url, {"text": "  ", "style": "amable"}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 400 and empty.content.decode() == "Write something to hear."
    unknown = operator_client.get(url, {"text": "Hola.", "style": "alegre"}, HTTP_HX_REQUEST="true")
    assert unknown.status_code == 400 and "Unknown style" in unknown.content.decode()
    annotator_client = Client()
    annotator_client.force_login(annotator)
    assert annotator_client.get(url, {"text": "Hola.", "style": "amable"}).status_code == 403


def test_pages_show_a_walk_whose_worker_died_as_interrupted_without_writing(
    operator_client: Client, lab: Path, operator, django_capture_on_commit_callbacks
) -> None:
    run = make_run(operator)
    expired = timezone.now() - timedelta(seconds=1)
    run.style_runs.update(status=Status.RUNNING, worker="gone@host", lease_until=expired)
    DistillationRun.objects.filter(pk=run.pk).update(status=Status.RUNNING)
    for url in (reverse("distillation:runs"), reverse("distillation:run", args=[run.pk])):
        assert "interrupted" in operator_client.get(url).content.decode()
    walk = run.style_runs.get()
    assert walk.status == Status.RUNNING and walk.lease_until == expired, "a GET changed nothing"
    assert DistillationRun.objects.get(pk=run.pk).status == Status.RUNNING

    with django_capture_on_commit_callbacks() as queued:  # Resume marks it, then queues it
        operator_client.post(reverse("distillation:resume", args=[run.pk]))
    assert len(queued) == 1 and run.style_runs.get().status == Status.INTERRUPTED


def estimate_of(operator_client: Client, **choices: object) -> str:
    html = operator_client.get(reverse("distillation:launch_check"), {"source": "recordings", **choices}).content
    section = re.search(r'<div class="estimate" id="launch-estimate">(.*?)</div>', html.decode(), re.S)
    assert section is not None, html
    return " ".join(section[1].split())


def test_the_launch_page_estimates_the_time_from_this_labs_walks(operator_client: Client, lab: Path, operator) -> None:
    # No walk yet: the defaults measured on the README's 2-core CPU. Gradient: 30 steps of 16 s + 90 s.
    gradient = estimate_of(operator_client, styles=["neutral", "amable"], optimizer="gradient")
    assert "Estimated time: about 19 min 00 s" in gradient and "2 styles × 9 min 30 s each" in gradient
    assert "30 gradient steps at 16.0 s" in gradient and "No walk on this lab yet" in gradient
    # The seed's walk at its default, 10,000 steps: hours, and the page says so.
    walk = estimate_of(operator_client, styles=["neutral"], optimizer="walk")
    assert "Estimated time: about 6 h 08 min" in walk and "10000 walk steps at 2.2 s" in walk
    assert (
        'id="long-run"'
        in operator_client.get(
            reverse("distillation:launch_check"), {"styles": ["neutral"], "optimizer": "walk"}
        ).content.decode()
    )

    # A walk this lab ran sets the pace: 40 steps in 200 s is 5 s a step.
    run = make_run(operator, steps=40, optimizer="walk")
    StyleRun.objects.filter(run=run).update(step=40, elapsed=200.0)
    measured = estimate_of(operator_client, styles=["neutral"], optimizer="walk", steps=100)
    assert "100 walk steps at 5.0 s" in measured and "Paces measured on this lab's last walk." in measured
    assert "Estimated time: about 9 min 50 s" in measured  # 100 × 5 s + 90 s
    hybrid = estimate_of(operator_client, styles=["neutral"], optimizer="hybrid", steps=50)
    assert "30 gradient steps at 16.0 s + 20 walk steps at 5.0 s" in hybrid
    assert estimate_of(operator_client, styles=["neutral"], steps="many").startswith("<p><strong>Estimated time")


@pytest.mark.spanish
def test_a_walks_phase_reads_in_the_readers_language(operator_client: Client, lab: Path, operator) -> None:
    run = make_run(operator)
    StyleRun.objects.filter(run=run).update(phase="choosing a start voice 4/12")
    html = operator_client.get(reverse("distillation:run", args=[run.pk])).content.decode()
    assert "eligiendo una voz de partida 4/12" in html
    data = json.loads(re.search(r'<script id="run-page" type="application/json">(.*?)</script>', html, re.S)[1])
    assert data["phases"]["choosing a start voice"] == "eligiendo una voz de partida"  # what run.js shows live
    assert data["separators"] == ",\xa0"  # the charts' numbers: 0,85 and 10 000, as Django writes Spanish
    assert phase_label("something else 1/2") == "something else 1/2"  # a name it does not know, as stored


def test_the_tts_panel_names_files_within_the_lab_and_warns_of_stand_in_voices(settings) -> None:
    """As the service lists its voices (GET /voices): one style deployed, two served by stock voices."""
    deployed = settings.DATA_DIR / "runs/3/evolved_voices/neutral.pt"
    voices = {
        "tts_backend": "kokoro",
        "active": "neutral",
        "styles": {
            "neutral": {"file": str(deployed), "source": "deployed", "pace": 1.0},
            "amable": {"file": "/elsewhere/ef_dora.pt", "source": "stock:ef_dora", "pace": 0.95},
            "empatico": {"file": "/elsewhere/ef_dora.pt", "source": "stock:ef_dora", "pace": 0.9},
        },
    }
    html = render_to_string("distillation/_tts_panel.html", {"tts": {"voices": voices}})
    assert ">runs/3/evolved_voices/neutral.pt</td>" in html  # relative to the lab's data folder
    assert ">/elsewhere/ef_dora.pt</td>" in html  # not the lab's: as the service names it
    warning = " ".join(re.search(r'id="tts-never-deployed">(.*?)</p>', html, re.S)[1].split())
    assert (
        warning == "Amable, Empático were never deployed: the service speaks them with stock voices, not the speaker's."
    )
    assert "stock voice ef_dora (never deployed)" in html
    voices["styles"] = {"neutral": voices["styles"]["neutral"]}
    assert "tts-never-deployed" not in render_to_string("distillation/_tts_panel.html", {"tts": {"voices": voices}})
