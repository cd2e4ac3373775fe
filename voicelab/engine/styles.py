"""The four call-center speaking styles: how each is described, recorded and checked.

A style's text (label, recording guide, held-out phrases) and the measurable traits a
take of it must show live on the same ``StyleSpec``, so a style cannot exist without its
rules. The engine's take check (``quality.compare_to_style``) reads the rules from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voicelab.engine.errors import EngineError
from voicelab.engine.messages import gettext_noop


@dataclass(frozen=True)
class StyleRule:
    """One trait of a style, tested as (take value, speaker's neutral value) -> in style."""

    code: str
    feature: str  # a Prosody field
    passes: Callable[[float, float], bool]
    penalty: float
    message: str  # formatted with {value}, {baseline} and {style}


@dataclass(frozen=True)
class StyleSpec:
    """One call-center speaking style, as the pipeline description defines it."""

    name: str
    label: str
    description: str
    use: str
    f5_speed: float
    recording_guide: str
    # The recording guide as measurable traits, judged against the speaker's neutral takes.
    rules: tuple[StyleRule, ...]
    # Stage 3 judges each voice on phrases of its own kind that evolution never rendered.
    held_out: tuple[str, ...] = ()


STYLES: dict[str, StyleSpec] = {
    spec.name: spec
    for spec in (
        StyleSpec(
            name="neutral",
            label="Neutral",
            description="Tono informativo estándar",
            use="Datos, números, información factual",
            f5_speed=1.0,
            recording_guide="Ritmo constante, tono medio, sin inflexiones marcadas",
            rules=(  # constant rhythm, medium tone, no marked inflections
                StyleRule(
                    code="not_steady",
                    feature="pitch_std",
                    passes=lambda take, base: take <= 1.3 * base,
                    penalty=0.1,
                    message=gettext_noop(
                        "The pitch varies by {value}, much more than in your other neutral takes "
                        "({baseline}); {style} takes should keep a steady tone."
                    ),
                ),
                StyleRule(
                    code="not_steady",
                    feature="speech_rate",
                    passes=lambda take, base: 0.85 * base <= take <= 1.15 * base,
                    penalty=0.1,
                    message=gettext_noop(
                        "Speech rate {value} is more than 15% away from your other neutral takes "
                        "({baseline}); {style} takes should keep a constant rhythm."
                    ),
                ),
            ),
            held_out=(
                "Su factura de este mes asciende a cuarenta y dos euros con quince céntimos.",
                "El plazo de entrega es de tres a cinco días laborables.",
                "Le llamamos para confirmar su cita del próximo martes a las diez.",
            ),
        ),
        StyleSpec(
            name="amable",
            label="Amable",
            description="Tono cálido y acogedor",
            use="Saludos, despedidas, bienvenidas",
            f5_speed=0.95,
            recording_guide="Tono más alto, ritmo ligeramente más lento, inflexión ascendente",
            rules=(  # higher pitch, slightly slower, rising inflection
                StyleRule(
                    code="pitch_not_higher",
                    feature="pitch_mean",
                    passes=lambda take, base: take >= 1.03 * base,
                    penalty=0.15,
                    message=gettext_noop(
                        "Pitch {value} is not clearly higher than your neutral takes ({baseline}); "
                        "{style} takes should sound higher."
                    ),
                ),
                StyleRule(
                    code="not_slower",
                    feature="speech_rate",
                    passes=lambda take, base: take <= base,
                    penalty=0.1,
                    message=gettext_noop(
                        "Speech rate {value} is not slower than your neutral takes ({baseline}); "
                        "{style} takes should be slightly slower."
                    ),
                ),
                StyleRule(
                    code="no_rising_end",
                    feature="pitch_end_slope",
                    passes=lambda take, base: take > 0,
                    penalty=0.05,
                    message=gettext_noop(
                        "The pitch does not rise at the end ({value}; your neutral takes: {baseline}); "
                        "{style} takes should end with a rising inflection."
                    ),
                ),
            ),
            held_out=(
                "Muy buenas tardes, es un placer saludarle de nuevo.",
                "Bienvenido a nuestro servicio, estamos encantados de atenderle.",
                "Que tenga un día estupendo, hasta la próxima.",
            ),
        ),
        StyleSpec(
            name="empatico",
            label="Empático",
            description="Tono comprensivo",
            use="Disculpas, problemas, frustración",
            f5_speed=0.90,
            recording_guide="Tono suave, pausas más largas, ritmo más lento",
            rules=(  # soft tone, longer pauses, slower
                StyleRule(
                    code="not_softer",
                    feature="energy_mean_db",
                    passes=lambda take, base: take <= base - 1.5,
                    penalty=0.1,
                    message=gettext_noop(
                        "The voice level {value} is not softer than your neutral takes ({baseline}); "
                        "{style} takes should be at least 1.5 dB quieter."
                    ),
                ),
                StyleRule(
                    code="pauses_not_longer",
                    feature="pause_ratio",
                    passes=lambda take, base: take > base,
                    penalty=0.1,
                    message=gettext_noop(
                        "Pauses fill {value} of the speech, no more than in your neutral takes "
                        "({baseline}); {style} takes should have longer pauses."
                    ),
                ),
                StyleRule(
                    code="not_slower",
                    feature="speech_rate",
                    passes=lambda take, base: take <= 0.97 * base,
                    penalty=0.1,
                    message=gettext_noop(
                        "Speech rate {value} is not slower than your neutral takes ({baseline}); "
                        "{style} takes should be slower."
                    ),
                ),
            ),
            held_out=(
                "Siento mucho las molestias; ya hemos enviado a un técnico a su domicilio.",
                "Entiendo perfectamente su preocupación y voy a ayudarle a resolverlo.",
                "Lamentamos de verdad que haya tenido que esperar tanto tiempo.",
            ),
        ),
        StyleSpec(
            name="profesional",
            label="Profesional",
            description="Tono formal y seguro",
            use="Procesos, políticas, confirmaciones",
            f5_speed=1.05,
            recording_guide="Tono firme, ritmo ligeramente más rápido, articulación clara",
            rules=(  # firm tone, slightly faster
                StyleRule(
                    code="not_firm",
                    feature="energy_mean_db",
                    passes=lambda take, base: take >= base - 1.0,
                    penalty=0.1,
                    message=gettext_noop(
                        "The voice level {value} is weaker than your neutral takes ({baseline}); "
                        "{style} takes should sound firm."
                    ),
                ),
                StyleRule(
                    code="not_faster",
                    feature="speech_rate",
                    passes=lambda take, base: take >= 1.03 * base,
                    penalty=0.1,
                    message=gettext_noop(
                        "Speech rate {value} is not faster than your neutral takes ({baseline}); "
                        "{style} takes should be slightly faster."
                    ),
                ),
            ),
            held_out=(
                "Para continuar, indíquenos el número de contrato que figura en su factura.",
                "Según nuestra política, la devolución se tramita en un plazo de catorce días.",
                "Queda registrada su solicitud con el número de referencia cuatro siete dos.",
            ),
        ),
    )
}

STYLE_NAMES: tuple[str, ...] = tuple(STYLES)


class UnknownStyleError(EngineError):
    """A style name outside the four the pipeline knows."""


def get_style(name: str) -> StyleSpec:
    """Return the style called ``name`` or raise a message a person understands."""
    try:
        return STYLES[name]
    except KeyError:
        known = ", ".join(STYLE_NAMES)
        raise UnknownStyleError(f"Unknown style {name!r}: choose one of {known}.") from None
