"""Forms of the operators' pages: they parse and check input; services do the work."""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from distillation.models import DistillationRun, TTSApiKey
from distillation.services.runs import MAX_STEPS
from voicelab.engine.config import DEFAULT_STEPS, OPTIMIZERS, STYLES

STYLE_CHOICES = [(name, spec.label) for name, spec in STYLES.items()]


class ChoicesWithUnavailable(forms.RadioSelect):
    """Radio buttons some of which cannot be chosen here: shown greyed out, saying why."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable: dict[str, str] = {}

    def create_option(self, name: str, value: object, label: object, *args: object, **kwargs: object) -> dict:
        option = super().create_option(name, value, label, *args, **kwargs)
        if (why := self.unavailable.get(str(value))) is not None:
            option["attrs"] = {**option["attrs"], "disabled": True, "title": why}
            option["label"] = format_lazy(_("{source} (not available: {why})"), source=label, why=why)
        return option


class LaunchForm(forms.Form):
    styles = forms.MultipleChoiceField(
        choices=STYLE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one style."), "invalid_choice": _("Unknown style “%(value)s”.")},
    )
    optimizer = forms.ChoiceField(
        label=_("Optimizer"),
        choices=[(name, name) for name in OPTIMIZERS],
        initial=OPTIMIZERS[0],
        required=False,  # not given: the default, gradient
        help_text=_("gradient: Adam through Kokoro; walk: KVoiceWalk's random walk; hybrid: gradient, then the walk."),
    )
    steps = forms.IntegerField(
        label=_("Steps"),
        required=False,
        min_value=1,
        max_value=MAX_STEPS,
        help_text=format_lazy(
            _("Empty: the optimizer's default ({defaults})."),
            defaults=", ".join(f"{name} {steps}" for name, steps in DEFAULT_STEPS.items()),
        ),
    )
    seed = forms.IntegerField(
        label=_("Seed"), required=False, min_value=0, max_value=2**31 - 1, help_text=_("Empty: a random seed.")
    )
    source = forms.ChoiceField(
        label=_("Target"),
        choices=DistillationRun.Source.choices,
        initial=DistillationRun.Source.RECORDINGS,
        widget=ChoicesWithUnavailable,
    )
    reference_audio = forms.FileField(
        label=_("Reference audio"),
        required=False,
        help_text=_("F5: 2-30 s of the voice to clone; one clip: 5 s or more of the speaker."),
    )
    reference_text = forms.CharField(
        label=_("Transcript"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("F5 only: what the reference audio says."),
    )

    def __init__(self, *args: object, unavailable: dict[str, str] | None = None, **kwargs: object) -> None:
        """``unavailable``: the sources this lab cannot use now, and why (the F5 teacher unconfigured)."""
        super().__init__(*args, **kwargs)
        self.unavailable = dict(unavailable or {})
        self.fields["source"].widget.unavailable = self.unavailable


class DeployForm(forms.Form):
    force = forms.BooleanField(required=False, help_text=_("Deploy styles that failed validation too."))
    confirm = forms.BooleanField(error_messages={"required": _("Tick the confirmation to deploy.")})


class StyleForm(forms.Form):
    style = forms.ChoiceField(choices=STYLE_CHOICES, error_messages={"invalid_choice": _("Unknown style “%(value)s”.")})


class TryTTSForm(StyleForm):
    text = forms.CharField(max_length=500, strip=True, error_messages={"required": _("Write something to hear.")})


class BlindGuessForm(forms.Form):
    target_is = forms.ChoiceField(choices=[("a", "A"), ("b", "B")])


class TTSKeyForm(forms.ModelForm):
    class Meta:
        model = TTSApiKey
        fields = ["name", "role"]
