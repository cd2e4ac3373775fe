"""The operators' pages. Thin: parse input, call a service or selector, render."""

from __future__ import annotations

import random
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from distillation import selectors
from distillation.forms import BlindGuessForm, DeployForm, LaunchForm, StyleForm, TryTTSForm, TTSKeyForm
from distillation.models import DistillationRun, TTSApiKey
from distillation.services.material import Material, material
from distillation.services.runs import (
    LaunchRefused,
    cancel_run,
    deploy_run,
    launch_problems,
    launch_run,
    resume_run,
    switch_style_of_tts,
    try_tts,
)
from distillation.services.teacher import teacher_problem
from distillation.services.tts_keys import create_key, revoke_key
from distillation.tasks import schedule
from voicelab.engine.config import STYLES
from voicelab.engine.errors import CLEAR_ERRORS, EngineError
from voicelab.engine.tts_client import TTSUnavailable
from voicelab.i18n import translated
from voicelab.responses import error_response, form_error

ARTIFACT_SUFFIXES = (".wav", ".pt", ".json", ".txt")

can_view = permission_required("distillation.view_distillationrun", raise_exception=True)
can_launch = permission_required("distillation.launch_run", raise_exception=True)
can_deploy = permission_required("distillation.deploy_voice", raise_exception=True)
can_manage_keys = permission_required("distillation.manage_tts_keys", raise_exception=True)


def _run_or_404(pk: int) -> DistillationRun:
    run = selectors.run_with_walks(pk)
    if run is None:
        raise Http404(_("There is no run {pk}.").format(pk=pk))
    return run


@require_GET
@can_view
def run_list(request: HttpRequest) -> HttpResponse:
    context = {"runs": selectors.recent_runs()}
    template = "distillation/_run_table.html" if request.htmx else "distillation/run_list.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@can_launch
def launch(request: HttpRequest) -> HttpResponse:
    materials = material(styles=tuple(STYLES))
    ready = [style for style, m in materials.items() if m.enough]  # ticked at first: the styles that can run
    unavailable = {DistillationRun.Source.F5: problem} if (problem := teacher_problem()) else {}
    form = LaunchForm(request.POST or None, request.FILES or None, initial={"styles": ready}, unavailable=unavailable)
    if request.method == "POST":
        if not form.is_valid():
            return _launch_page(request, form, materials, error=form_error(form), status=400)
        data = form.cleaned_data
        try:
            run, jobs = launch_run(
                user=request.user,
                styles=data["styles"],
                steps=data["steps"],
                optimizer=data["optimizer"] or None,
                seed=data["seed"],
                source=data["source"],
                reference_audio=data["reference_audio"],
                reference_text=data["reference_text"],
            )
        except EngineError as exc:
            return _launch_page(request, form, materials, error=translated(exc), status=400)
        schedule(jobs)
        messages.success(request, _("Run {pk} queued.").format(pk=run.pk))
        return redirect("distillation:run", pk=run.pk)
    return _launch_page(request, form, materials)


def _launch_page(
    request: HttpRequest, form: LaunchForm, materials: dict[str, Material], *, error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "error": error,
        "material": materials.values(),
    }
    return render(request, "distillation/launch.html", context, status=status)


@require_GET
@can_launch
def launch_check(request: HttpRequest) -> HttpResponse:
    """What would stop a launch of the ticked styles (the form asks as it changes)."""
    styles = [style for style in request.GET.getlist("styles") if style in STYLES]
    source = request.GET.get("source", DistillationRun.Source.RECORDINGS)
    problems = launch_problems(styles=styles, source=source) if styles else [_("Choose at least one style.")]
    search = LaunchForm({"steps": request.GET.get("steps"), "optimizer": request.GET.get("optimizer")})
    search.is_valid()  # what is not valid here is left to the launch's own refusal, and not estimated
    estimate = selectors.estimate_run(
        styles=styles, steps=search.cleaned_data.get("steps"), optimizer=search.cleaned_data.get("optimizer") or None
    )
    return render(request, "distillation/_launch_check.html", {"problems": problems, "estimate": estimate})


@require_GET
@can_view
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(pk)
    page = selectors.run_page(run)
    walks = [(walk, page["previews"][walk.style]) for walk in run.style_runs.all()]
    return render(request, "distillation/run_detail.html", {"run": run, "walks": walks, "page": page})


def _act_on_run(request: HttpRequest, pk: int, act: Callable[[DistillationRun], str]) -> HttpResponse:
    """Do ``act`` to the run and say what it did; a refusal (409) says why."""
    try:
        done = act(_run_or_404(pk))
    except LaunchRefused as exc:
        return error_response(request, translated(exc), status=409)
    messages.info(request, _("Run {pk}: {done}").format(pk=pk, done=done))
    return redirect("distillation:run", pk=pk)


@require_POST
@can_launch
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    def act(run: DistillationRun) -> str:
        cancel_run(run=run)
        return _("cancel requested; each walk keeps its best voice so far.")

    return _act_on_run(request, pk, act)


@require_POST
@can_launch
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    def act(run: DistillationRun) -> str:
        walks, jobs = resume_run(run=run)
        schedule(jobs)
        styles = ", ".join(walk.get_style_display() for walk in walks)
        return _("{styles} queued again, from the last checkpoint.").format(styles=styles)

    return _act_on_run(request, pk, act)


@require_GET
@can_view
def report(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(pk)
    report = selectors.validation_report(run)
    if report is None:
        missing = _("Run {pk} has no validation report yet ({stage}).").format(pk=pk, stage=run.get_stage_display())
        return error_response(request, missing, 404)
    context = {
        "run": run,
        "report": report,
        "rows": selectors.report_rows(run, report),
        "differentiation": report.differentiation,
        "deploy_form": DeployForm(),
        "tts": selectors.tts_status(),
    }
    return render(request, "distillation/report.html", context)


def _blind_key(run: DistillationRun, style: str) -> str:
    return f"distillation.blind.{run.pk}.{style}"


def _ab_row(run: DistillationRun, style: str) -> dict:
    report = selectors.validation_report(run)
    rows = selectors.report_rows(run, report) if report else []
    row = next((row for row in rows if row["style"] == style and row["ab"]), None)
    if row is None:
        raise Http404(_("Run {pk} has no A/B pair for {style}.").format(pk=run.pk, style=style))
    return row


@require_http_methods(["GET", "POST"])
@can_view
def blind(request: HttpRequest, pk: int, style: str) -> HttpResponse:
    """Blind A/B: which of two clips is the target? The slots are shuffled on every trial."""
    run = _run_or_404(pk)
    row = _ab_row(run, style)
    key = _blind_key(run, style)
    trial = request.session.get(key) or {"target_is": random.choice("ab"), "right": 0, "total": 0}
    outcome = None
    if request.method == "POST":
        form = BlindGuessForm(request.POST)
        if not form.is_valid():
            return error_response(request, form_error(form))
        outcome = {"right": form.cleaned_data["target_is"] == trial["target_is"], "target_is": trial["target_is"]}
        trial = {
            "target_is": random.choice("ab"),
            "right": trial["right"] + outcome["right"],
            "total": trial["total"] + 1,
        }
    request.session[key] = trial
    context = {"run": run, "row": row, "outcome": outcome, "trial": trial}
    return render(request, "distillation/blind.html", context)


@require_GET
@can_view
def blind_clip(request: HttpRequest, pk: int, style: str, slot: str) -> HttpResponse:
    """Slot A or B of the current blind trial; its URL does not say which clip it is."""
    run = _run_or_404(pk)
    report = selectors.validation_report(run)
    verdict = report.styles.get(style) if report else None
    listening = verdict.listening if verdict else None
    trial = request.session.get(_blind_key(run, style))
    if not listening or trial is None or slot not in ("a", "b"):
        raise Http404(_("Start the blind test from its page."))
    path = listening.target if slot == trial["target_is"] else listening.evolved
    return FileResponse(open(path, "rb"), content_type="audio/wav")


@require_GET
@can_view
def artifact(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """One of the run's files (audio, voices, report), never anything outside its folder."""
    run = _run_or_404(pk)
    path = (run.workdir / name).resolve()
    served = path.is_relative_to(run.workdir.resolve()) and path.suffix in ARTIFACT_SUFFIXES
    if not served or not path.is_file():
        raise Http404(_("Run {pk} has no file {name}.").format(pk=pk, name=name))
    return FileResponse(open(path, "rb"), as_attachment=path.suffix == ".pt", filename=path.name)


@require_POST
@can_deploy
def deploy(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(pk)
    form = DeployForm(request.POST)
    if not form.is_valid():
        return error_response(request, form_error(form))
    try:
        result = deploy_run(run=run, force=form.cleaned_data["force"])
    except CLEAR_ERRORS as exc:
        return error_response(request, translated(exc), status=409)
    return render(request, "distillation/_deployed.html", {"result": result, "tts": selectors.tts_status()})


@require_GET
@can_view
def tts_panel(request: HttpRequest) -> HttpResponse:
    return render(request, "distillation/_tts_panel.html", {"tts": selectors.tts_status()})


@require_POST
@can_deploy
def switch_style(request: HttpRequest) -> HttpResponse:
    form = StyleForm(request.POST)
    if not form.is_valid():
        return error_response(request, form_error(form))
    try:
        switch_style_of_tts(style=form.cleaned_data["style"])
    except TTSUnavailable as exc:
        return error_response(request, translated(exc), status=502)
    return render(request, "distillation/_tts_panel.html", {"tts": selectors.tts_status()})


@require_GET
@can_view
def tts_try(request: HttpRequest) -> HttpResponse:
    """A text spoken by the service in a style, as a WAV the panel plays (it writes nothing)."""
    form = TryTTSForm(request.GET)
    if not form.is_valid():
        return error_response(request, form_error(form))
    try:
        audio = try_tts(text=form.cleaned_data["text"], style=form.cleaned_data["style"])
    except TTSUnavailable as exc:
        return error_response(request, translated(exc), status=502)
    return HttpResponse(audio, content_type="audio/wav")


@never_cache
@require_http_methods(["GET", "POST"])
@can_manage_keys
def tts_keys(request: HttpRequest) -> HttpResponse:
    """The TTS service's API keys; a POST makes one, whose secret only its answer shows."""
    form = TTSKeyForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return _keys_page(request, form, status=400)
        key, secret = create_key(name=form.cleaned_data["name"], role=form.cleaned_data["role"], user=request.user)
        return _keys_page(request, TTSKeyForm(), created=key, secret=secret)
    return _keys_page(request, form)


def _keys_page(
    request: HttpRequest, form: TTSKeyForm, *, created: TTSApiKey | None = None, secret: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "error": form_error(form),
        "keys": selectors.tts_keys(),
        "created": created,
        "secret": secret,
    }
    return render(request, "distillation/tts_keys.html", context, status=status)


@require_POST
@can_manage_keys
def revoke_tts_key(request: HttpRequest, pk: int) -> HttpResponse:
    key = revoke_key(key=get_object_or_404(TTSApiKey, pk=pk))
    revoked = _("Key “{name}” revoked: the TTS service refuses it from its next request.")
    messages.info(request, revoked.format(name=key.name))
    return redirect("distillation:tts_keys")
