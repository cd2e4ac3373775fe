"""What Stage 3's checks mean, for the operator reading the report: a title, what the number
measures, and what to do when it fails. The report itself keeps the checks' ids."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class CheckText:
    title: Promise
    meaning: Promise
    if_failed: Promise


CHECK_TEXTS: dict[str, CheckText] = {
    "speaker_similarity": CheckText(
        _("Speaker similarity"),
        _(
            "How much the voice sounds like the reference speaker (CAM++ cosine, 1 = the same voice; the same "
            "speaker on other phrases scores about 0.9, two different voices about 0.4)."
        ),
        _(
            "Run more steps, or the gradient or hybrid optimizer; check that the reference is one speaker, clean "
            "and in the style. A real person far from every Kokoro voice may not get closer than about 0.65."
        ),
    ),
    "self_similarity": CheckText(
        _("Consistency"),
        _("Whether the voice stays the same speaker from one phrase to the next (CAM++)."),
        _("The search went somewhere unstable: run it again with another seed, or fewer steps."),
    ),
    "naturalness": CheckText(
        _("Naturalness"),
        _("How natural the speech sounds (DistillMOS, 1-5; Spanish stock voices score 3.6-4.4)."),
        _("The search traded naturalness for similarity: use fewer steps, or the walk."),
    ),
    "naturalness_vs_start": CheckText(
        _("Naturalness against the start voice"),
        _("How much naturalness changed from the stock voice the search started from (DistillMOS)."),
        _("As for naturalness: fewer steps, or the walk."),
    ),
    "closer_than_start": CheckText(
        _("Moved past its start voice"),
        _(
            "How much closer to the reference the voice is than the stock voice it started from (CAM++): a start "
            "voice passed off as a distillation fails here."
        ),
        _("The search barely moved: more steps, or the gradient optimizer."),
    ),
    "closer_than_stock": CheckText(
        _("Closer than any stock voice"),
        _("Whether the voice is closer to the reference than to every Kokoro stock voice (CAM++)."),
        _("The voice is still mostly the stock voice named: more steps, or a cleaner reference."),
    ),
    "min_audio_seconds": CheckText(
        _("Audio length"),
        _("The shortest judged phrase, in seconds: too short and the judges cannot tell."),
        _("The voice speaks too fast or drops words: listen to the clips below."),
    ),
    "seed_speaker_similarity": CheckText(
        _("Speaker similarity (seed's figure)"),
        _(
            "resemblyzer cosine to the reference, the seed's check. The search optimizes this encoder, so it "
            "is reported, not gated on."
        ),
        _("Nothing: it does not decide the verdict."),
    ),
}
