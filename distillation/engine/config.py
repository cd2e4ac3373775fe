"""Configuration shared by the whole pipeline: the voice styles and their targets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StyleSpec:
    """One call-center speaking style, as the pipeline description defines it."""

    name: str
    label: str
    description: str
    use: str
    f5_speed: float
    recording_guide: str


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
        ),
        StyleSpec(
            name="amable",
            label="Amable",
            description="Tono cálido y acogedor",
            use="Saludos, despedidas, bienvenidas",
            f5_speed=0.95,
            recording_guide="Tono más alto, ritmo ligeramente más lento, inflexión ascendente",
        ),
        StyleSpec(
            name="empatico",
            label="Empático",
            description="Tono comprensivo",
            use="Disculpas, problemas, frustración",
            f5_speed=0.90,
            recording_guide="Tono suave, pausas más largas, ritmo más lento",
        ),
        StyleSpec(
            name="profesional",
            label="Profesional",
            description="Tono formal y seguro",
            use="Procesos, políticas, confirmaciones",
            f5_speed=1.05,
            recording_guide="Tono firme, ritmo ligeramente más rápido, articulación clara",
        ),
    )
}

STYLE_NAMES: tuple[str, ...] = tuple(STYLES)


class UnknownStyleError(ValueError):
    """A style name outside the four the pipeline knows."""


def get_style(name: str) -> StyleSpec:
    """Return the style called ``name`` or raise a message a person understands."""
    try:
        return STYLES[name]
    except KeyError:
        known = ", ".join(STYLE_NAMES)
        raise UnknownStyleError(f"Unknown style {name!r}: choose one of {known}.") from None
