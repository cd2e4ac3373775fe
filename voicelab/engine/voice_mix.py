"""Weighted voice mixes, as Kokoro-FastAPI spells them: ``amable(2)+neutral(1)``.

A mix names styles or stock voices, each with an optional weight (1 when left out). The weights
are normalised to sum to one, and the voice is the weighted sum of the tensors. Names are read
without case or accents, so ``Empático`` is ``empatico``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import torch

from voicelab.engine.errors import EngineError

_PART = re.compile(r"(?P<name>[a-z0-9_]+)(?:\((?P<weight>\d+(?:\.\d+)?|\.\d+)\))?")


class MixError(EngineError):
    """A mix that cannot be read or names a voice that does not exist."""


def plain(name: str) -> str:
    """``name`` in lower case without accents or spaces."""
    decomposed = unicodedata.normalize("NFKD", name.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace(" ", "")


def parse_mix(spec: str) -> list[tuple[str, float]]:
    """``[(name, weight)]`` with the weights normalised; the same name twice adds up."""
    weights: dict[str, float] = {}
    for part in plain(spec).split("+"):
        match = _PART.fullmatch(part)
        if match is None:
            raise MixError(f"{spec!r} is not a voice: name a style or stock voice, or a mix like amable(2)+neutral(1).")
        weight = float(match["weight"] or 1)
        if weight <= 0:
            raise MixError(f"The weight of {match['name']} in {spec!r} must be more than 0.")
        weights[match["name"]] = weights.get(match["name"], 0.0) + weight
    total = sum(weights.values())
    return [(name, weight / total) for name, weight in weights.items()]


def blend(parts: list[tuple[str, float]], voice: Callable[[str], torch.Tensor]) -> torch.Tensor:
    """The weighted sum of the parts' voices (``voice`` looks each name up or raises MixError)."""
    return sum((weight * voice(name) for name, weight in parts), torch.zeros(()))
