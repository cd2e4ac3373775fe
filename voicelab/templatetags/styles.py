"""How a style is shown: its name as the pipeline description spells it (Empático), while
pages, forms and the database keep the seed's ids (empatico)."""

from __future__ import annotations

from django import template

from voicelab.engine.styles import STYLES

register = template.Library()


@register.filter
def style_label(style: str | None) -> str:
    spec = STYLES.get(style or "")
    return spec.label if spec else (style or "")


@register.filter
def join_styles(styles: list[str]) -> str:
    """Several styles by name, in a list a sentence can hold: "Amable, Empático"."""
    return ", ".join(style_label(style) for style in styles)
