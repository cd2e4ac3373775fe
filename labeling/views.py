"""Views of the annotators' workspace. Thin: parse input, call a service or selector, render."""

from __future__ import annotations

import io
import json

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from labeling import selectors
from labeling.forms import BulkSuggestionForm, ImportForm, StyleLabelForm, TakeUploadForm, WorkspaceFilterForm
from labeling.models import Category, Recording, Sentence
from labeling.permissions import can_label, can_read, can_record
from labeling.services.corpus import SHARVARD_ATTRIBUTION
from labeling.services.exchange import ExchangeError, export_records, import_export, write_export_zip
from labeling.services.labels import apply_suggestions, set_style_label
from labeling.services.takes import add_take
from labeling.tasks import queue_validation, queue_validations
from voicelab.engine.config import STYLES
from voicelab.engine.errors import EngineError
from voicelab.i18n import translated
from voicelab.responses import error_response, form_error, not_found_as_message


def _sentence(sentence_id: str, *related: str) -> Sentence:
    """The sentence, or a 404 whose message names the id."""
    try:
        return Sentence.objects.select_related(*related).get(sentence_id=sentence_id)
    except Sentence.DoesNotExist:
        raise Http404(_("Sentence {id} does not exist.").format(id=sentence_id)) from None


WAITING_FOR_WORKER = gettext_lazy(
    "Saved. The validation queue cannot be reached right now: the take will be validated when it is back."
)
WAITING_FOR_WORKER_IMPORT = gettext_lazy(
    "The validation queue cannot be reached right now: the imported takes will be validated when it is back."
)


def _live_page() -> dict[str, object]:
    """What the pages with sentence rows pass their script and template: the styles (keys 1-4
    label with them, in order) and the path of the takes' websocket, neither written in JS."""
    return {
        "styles": STYLES,
        "style_names": list(STYLES),
        "takes_socket": reverse("takes", urlconf="labeling.routing"),
    }


def _filter_form(data: object, form_class: type[WorkspaceFilterForm] = WorkspaceFilterForm) -> WorkspaceFilterForm:
    categories = list(Category.objects.values_list("list_id", "name"))
    return form_class(data, categories=categories)


@require_GET
@can_read
def workspace(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request.GET or None)
    if form.is_bound and not form.is_valid():
        return error_response(request, form_error(form))
    filters = form.cleaned_data if form.is_bound else {}
    sentences = selectors.filter_sentences(**{k: filters.get(k, "") for k in ("category", "style", "status")})
    context = {
        **_live_page(),
        "form": form,
        "sentences": sentences,
        "style_progress": selectors.style_progress(),
        "category_progress": selectors.category_progress(),
        "has_sharvard": Category.objects.filter(source=Category.Source.SHARVARD).exists(),
        "sharvard_attribution": SHARVARD_ATTRIBUTION,
        "query": request.GET.urlencode(),
    }
    template = "labeling/_sentence_table.html" if request.htmx and request.htmx.target == "sentences" else None
    return render(request, template or "labeling/workspace.html", context)


@require_POST
@can_label
@not_found_as_message
def label_sentence(request: HttpRequest, sentence_id: str) -> HttpResponse:
    sentence = _sentence(sentence_id)
    form = StyleLabelForm(request.POST)
    if not form.is_valid():
        return error_response(request, form_error(form))
    label = set_style_label(
        sentence=sentence,
        style=form.cleaned_data["style"],
        user=request.user,
        method=form.cleaned_data["method"] or "dropdown",
    )
    sentence.current_label = label
    context = {
        "sentence": sentence,
        "styles": STYLES,
        "saved": True,
        "style_progress": selectors.style_progress(),
        "category_progress": selectors.category_progress(),
    }
    # The saved cell, plus both progress panels swapped out of band.
    return render(request, "labeling/_label_response.html", context)


@require_POST
@can_label
def bulk_suggestions(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request.POST, BulkSuggestionForm)
    if not form.is_valid():
        return error_response(request, form_error(form))
    data = form.cleaned_data
    sentences = selectors.filter_sentences(category=data["category"], style=data["style"], status=data["status"])
    changed = apply_suggestions(sentences=sentences, user=request.user, overwrite=data["overwrite"])
    applied = ngettext(
        "Applied the suggested style to {count} sentence.", "Applied the suggested style to {count} sentences.", changed
    )
    messages.success(request, applied.format(count=changed))
    return HttpResponseClientRefresh() if request.htmx else redirect("labeling:workspace")


@require_GET
@can_read
@not_found_as_message
def sentence_detail(request: HttpRequest, sentence_id: str) -> HttpResponse:
    sentence = _sentence(sentence_id, "category", "current_label", "active_take")
    context = {
        **_live_page(),
        "sentence": sentence,
        "takes": sentence.takes.select_related("uploaded_by"),
        "history": sentence.labels.select_related("labeled_by"),
        "sharvard_attribution": SHARVARD_ATTRIBUTION,
    }
    return render(request, "labeling/sentence_detail.html", context)


@require_POST
@can_record
@not_found_as_message
def upload_take(request: HttpRequest, sentence_id: str) -> HttpResponse:
    sentence = _sentence(sentence_id, "current_label")
    form = TakeUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return error_response(request, form_error(form))
    data = form.cleaned_data
    try:
        take = add_take(
            sentence=sentence,
            upload=data["audio"],
            user=request.user,
            style=data["style"] or None,
            speaker=data["speaker"] or None,
            source=data["source"] or Recording.Source.UPLOAD,
        )
    except EngineError as exc:
        return error_response(request, translated(exc))
    queued = queue_validation(take.pk)
    sentence.refresh_from_db()
    response = render(request, "labeling/_take_cell.html", {"sentence": sentence}, status=201)
    if not queued:
        response["HX-Trigger"] = json.dumps({"voicelab:notice": str(WAITING_FOR_WORKER)})
    return response


@require_GET
@can_read
@not_found_as_message
def take_cell(request: HttpRequest, sentence_id: str) -> HttpResponse:
    sentence = _sentence(sentence_id, "current_label", "active_take")
    return render(request, "labeling/_take_cell.html", {"sentence": sentence})


@require_GET
@can_read
@not_found_as_message
def take_audio(request: HttpRequest, pk: int) -> FileResponse:
    take = Recording.objects.filter(pk=pk).first()
    if take is None:
        raise Http404(_("Take {pk} does not exist.").format(pk=pk))
    try:
        handle = take.audio.open("rb")
    except OSError:
        raise Http404(_("The audio file of take {pk} is missing.").format(pk=pk)) from None
    return FileResponse(handle, content_type="audio/wav", filename=take.export_path.split("/")[-1])


@require_GET
@can_read
def export_json(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(export_records(), safe=False, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = 'attachment; filename="voicelab_export.json"'
    return response


@require_GET
@can_read
def export_zip(request: HttpRequest) -> HttpResponse:
    buffer = io.BytesIO()
    write_export_zip(buffer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="voicelab-{stamp}.zip"'
    return response


@require_POST
@can_label
@can_record
def import_labels(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return error_response(request, form_error(form))
    upload = form.cleaned_data["file"]
    if upload.size > settings.VOICELAB_MAX_IMPORT_BYTES:
        limit = settings.VOICELAB_MAX_IMPORT_BYTES / 1_048_576
        return error_response(request, _("The import file is larger than {limit:.0f} MB.").format(limit=limit))
    try:
        result = import_export(data=upload.read(), user=request.user)
    except ExchangeError as exc:
        return error_response(
            request, _("Nothing was imported: {problems}").format(problems="; ".join(exc.problems[:20]))
        )
    imported = _("Imported: {labels} labels changed, {takes} takes added.")
    messages.success(request, imported.format(labels=result.labels_changed, takes=result.takes_added))
    if queue_validations(result.take_ids) < result.takes_added:
        messages.warning(request, WAITING_FOR_WORKER_IMPORT)
    for warning in result.warnings[:20]:
        messages.warning(request, warning)
    return redirect("labeling:workspace")
