"""Forms of the operators' pages: they parse and check input; services do the work."""

from __future__ import annotations

from django import forms

from distillation.models import DistillationRun, TTSApiKey
from distillation.services.runs import MAX_STEPS
from voicelab.engine.config import DEFAULT_STEPS, OPTIMIZERS, STYLES

STYLE_CHOICES = [(name, spec.label) for name, spec in STYLES.items()]


class LaunchForm(forms.Form):
    styles = forms.MultipleChoiceField(
        choices=STYLE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=list(STYLES),
        error_messages={"required": "Choose at least one style.", "invalid_choice": "Unknown style “%(value)s”."},
    )
    optimizer = forms.ChoiceField(
        choices=[(name, name) for name in OPTIMIZERS],
        initial=OPTIMIZERS[0],
        required=False,  # not given: the default, gradient
        help_text="gradient: Adam through Kokoro; walk: KVoiceWalk's random walk; hybrid: gradient, then the walk.",
    )
    steps = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_STEPS,
        help_text="Empty: the optimizer's default ("
        + ", ".join(f"{name} {steps:,}" for name, steps in DEFAULT_STEPS.items())
        + ").",
    )
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1, help_text="Empty: a random seed.")
    source = forms.ChoiceField(
        choices=DistillationRun.Source.choices, initial=DistillationRun.Source.RECORDINGS, widget=forms.RadioSelect
    )
    reference_audio = forms.FileField(
        required=False, help_text="F5: 2-30 s of the voice to clone; one clip: 5 s or more of the speaker."
    )
    reference_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="F5 only: what the reference audio says."
    )


class DeployForm(forms.Form):
    force = forms.BooleanField(required=False, help_text="Deploy styles that failed validation too.")
    confirm = forms.BooleanField(error_messages={"required": "Tick the confirmation to deploy."})


class StyleForm(forms.Form):
    style = forms.ChoiceField(choices=STYLE_CHOICES, error_messages={"invalid_choice": "Unknown style “%(value)s”."})


class BlindGuessForm(forms.Form):
    target_is = forms.ChoiceField(choices=[("a", "A"), ("b", "B")])


class TTSKeyForm(forms.ModelForm):
    class Meta:
        model = TTSApiKey
        fields = ["name", "role"]
