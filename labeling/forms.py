"""Forms of the labeling workspace: they only parse and check input; services do the work."""

from __future__ import annotations

from django import forms

from labeling.models import STYLE_CHOICES, Recording, StyleLabel
from labeling.selectors import STATUS_FILTERS


class WorkspaceFilterForm(forms.Form):
    category = forms.ChoiceField(required=False)
    style = forms.ChoiceField(required=False, choices=[("", "Any style"), *STYLE_CHOICES])
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *((key, key.capitalize()) for key in STATUS_FILTERS)]
    )

    def __init__(self, *args: object, categories: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "All categories"), *categories]


class StyleLabelForm(forms.Form):
    style = forms.ChoiceField(choices=STYLE_CHOICES, error_messages={"invalid_choice": "Unknown style “%(value)s”."})
    method = forms.ChoiceField(
        required=False,
        choices=[(StyleLabel.Method.DROPDOWN, "Dropdown"), (StyleLabel.Method.KEYBOARD, "Keyboard")],
    )


class TakeUploadForm(forms.Form):
    audio = forms.FileField(error_messages={"required": "Choose an audio file to upload."})
    style = forms.ChoiceField(
        required=False,
        choices=[("", "Sentence's label"), *STYLE_CHOICES],
        error_messages={"invalid_choice": "Unknown style “%(value)s”."},
    )
    speaker = forms.CharField(required=False, max_length=150)
    source = forms.ChoiceField(
        required=False,
        choices=[(Recording.Source.UPLOAD, "Upload"), (Recording.Source.BROWSER, "Browser recording")],
    )


class BulkSuggestionForm(WorkspaceFilterForm):
    overwrite = forms.BooleanField(required=False)


class ImportForm(forms.Form):
    file = forms.FileField(error_messages={"required": "Choose an export (.zip or .json) to import."})
