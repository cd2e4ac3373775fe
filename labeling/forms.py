"""Forms of the labeling workspace: they only parse and check input; services do the work."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from labeling.models import STYLE_CHOICES, Recording, StyleLabel
from labeling.selectors import STATUS_FILTERS

STATUS_LABELS = {
    "labeled": _("Labeled"),
    "unlabeled": _("Unlabeled"),
    "recorded": _("Recorded"),
    "unrecorded": _("Not recorded"),
    "validated": _("Validated"),
}


class WorkspaceFilterForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), required=False)
    style = forms.ChoiceField(label=_("Style"), required=False, choices=[("", _("Any style")), *STYLE_CHOICES])
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *((key, STATUS_LABELS[key]) for key in STATUS_FILTERS)],
    )

    def __init__(self, *args: object, categories: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("All categories")), *categories]


class StyleLabelForm(forms.Form):
    style = forms.ChoiceField(choices=STYLE_CHOICES, error_messages={"invalid_choice": _("Unknown style “%(value)s”.")})
    method = forms.ChoiceField(
        required=False,
        choices=[(m, m.label) for m in (StyleLabel.Method.DROPDOWN, StyleLabel.Method.KEYBOARD)],
    )


class TakeUploadForm(forms.Form):
    audio = forms.FileField(error_messages={"required": _("Choose an audio file to upload.")})
    style = forms.ChoiceField(
        required=False,
        choices=[("", _("Sentence's label")), *STYLE_CHOICES],
        error_messages={"invalid_choice": _("Unknown style “%(value)s”.")},
    )
    speaker = forms.CharField(required=False, max_length=150)
    source = forms.ChoiceField(
        required=False,
        choices=[(s, s.label) for s in (Recording.Source.UPLOAD, Recording.Source.BROWSER)],
    )


class BulkSuggestionForm(WorkspaceFilterForm):
    overwrite = forms.BooleanField(required=False)


class ImportForm(forms.Form):
    file = forms.FileField(error_messages={"required": _("Choose an export (.zip or .json) to import.")})
